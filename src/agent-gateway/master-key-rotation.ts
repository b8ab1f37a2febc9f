// Master key rotation over the stored tenant keys: the start-up check that every one still opens with a
// configured master key, and `joinery keys rewrap`, which re-wraps those a previous key wrapped under the
// current one, in batches. The private keys themselves do not change, so agents and sealed data are not
// affected, and processes holding both keys keep working throughout.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { StartUpError } from '../../kernel/errors.ts';
import {
  masterKeyId,
  notOpenedAdvice,
  tryUnwrapPrivateKey,
  wrapPrivateKey,
  type MasterKeyring,
} from './master-key.ts';
import { tenantKeyContext } from './tenant-keys.ts';

const BATCH_SIZE = 200;

interface StoredKey {
  key_id: string;
  tenant_id: string;
  tenant_name: string;
  sealed_private_key: string;
}

/** A stored tenant key that no configured master key opens. */
export interface UnopenedTenantKey {
  tenantId: string;
  tenantName: string;
  keyId: string;
}

export interface TenantKeyCheck {
  checked: number;
  /** Opened with a previous master key: `joinery keys rewrap` re-wraps them under the current one. */
  underPreviousKey: number;
}

export interface RewrapResult {
  rewrapped: number;
  /** Stored keys not (yet) wrapped under the current master key, counted after the re-wrap. */
  stillUnderOldKey: number;
  /** Keys no configured master key opens: left as they are. */
  unopened: UnopenedTenantKey[];
}

/**
 * Opens every stored tenant key with the keyring, at start-up: a key none opens would fail the agent
 * channel of its tenant later, so the service refuses to start and names the tenant and the settings.
 */
export async function checkTenantKeys(em: EntityManager, keyring: MasterKeyring): Promise<TenantKeyCheck> {
  const result: TenantKeyCheck = { checked: 0, underPreviousKey: 0 };
  const unopened: UnopenedTenantKey[] = [];
  for await (const batch of storedKeyBatches(em)) {
    for (const row of batch) {
      result.checked++;
      const opened = tryUnwrapPrivateKey(
        keyring,
        row.sealed_private_key,
        tenantKeyContext(row.tenant_id, row.key_id),
      );
      if (opened === undefined) unopened.push(describe(row));
      else {
        opened.privateKey.fill(0);
        if (!opened.current) result.underPreviousKey++;
      }
    }
  }
  if (unopened.length > 0) {
    throw new StartUpError(`${describeUnopened(unopened)}: ${notOpenedAdvice}`);
  }
  return result;
}

/**
 * Re-wraps every stored tenant key that is not under the current master key (a previous key's, or from
 * before key ids were recorded). Idempotent: a key already under the current one is left alone, and a
 * key changed meanwhile by another process is not overwritten.
 */
export async function rewrapTenantKeys(em: EntityManager, keyring: MasterKeyring): Promise<RewrapResult> {
  const currentPrefix = `${masterKeyId(keyring.current)}:`;
  const k = em.getKysely();
  const result: RewrapResult = { rewrapped: 0, stillUnderOldKey: 0, unopened: [] };
  for await (const batch of storedKeyBatches(em)) {
    const updates: { keyId: string; before: string; after: string }[] = [];
    for (const row of batch) {
      if (row.sealed_private_key.startsWith(currentPrefix)) continue;
      const context = tenantKeyContext(row.tenant_id, row.key_id);
      const opened = tryUnwrapPrivateKey(keyring, row.sealed_private_key, context);
      if (opened === undefined) {
        result.unopened.push(describe(row));
        continue;
      }
      updates.push({
        keyId: row.key_id,
        before: row.sealed_private_key,
        after: wrapPrivateKey(keyring, opened.privateKey, context),
      });
      opened.privateKey.fill(0);
    }
    if (updates.length === 0) continue;
    // One statement per batch; a row whose value changed since it was read keeps the newer value.
    const values = sql.join(
      updates.map((update) => sql`(${update.keyId}::uuid, ${update.before}, ${update.after})`),
    );
    const updated = await sql`update tenant_key set sealed_private_key = v.after
      from (values ${values}) as v(key_id, before, after)
      where tenant_key.key_id = v.key_id and tenant_key.sealed_private_key = v.before`.execute(k);
    result.rewrapped += Number(updated.numAffectedRows ?? 0n);
  }
  const remaining = await sql<{ count: string }>`select count(*) as count from tenant_key
    where left(sealed_private_key, ${currentPrefix.length}) <> ${currentPrefix}`.execute(k);
  result.stillUnderOldKey = Number(remaining.rows[0]?.count ?? 0);
  return result;
}

/** Every stored tenant key with its tenant's name, in batches by key id (later inserts are read too). */
async function* storedKeyBatches(em: EntityManager): AsyncGenerator<StoredKey[]> {
  const k = em.getKysely();
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const { rows } =
      await sql<StoredKey>`select tk.key_id, tk.tenant_id, t.name as tenant_name, tk.sealed_private_key
      from tenant_key tk join tenant t on t.id = tk.tenant_id
      where tk.key_id > ${after}::uuid order by tk.key_id limit ${BATCH_SIZE}`.execute(k);
    const last = rows.at(-1);
    if (last === undefined) return;
    yield rows;
    after = last.key_id;
  }
}

function describe(row: StoredKey): UnopenedTenantKey {
  return { tenantId: row.tenant_id, tenantName: row.tenant_name, keyId: row.key_id };
}

/** "the tenant key of tenant Initech (id) does not open", or "… and 2 other tenants' keys do not open". */
export function describeUnopened(keys: readonly UnopenedTenantKey[]): string {
  const [first] = keys;
  if (first === undefined) return 'every tenant key opens';
  const tenant = `tenant ${first.tenantName} (${first.tenantId})`;
  return keys.length === 1
    ? `the tenant key of ${tenant} does not open`
    : `the tenant keys of ${tenant} and ${String(keys.length - 1)} other tenants do not open`;
}
