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
import { dataKeyContext } from '../secrets/sensitive-values.ts';

const BATCH_SIZE = 200;

/** The keys the master key wraps: tenants' HPKE private keys, and their data keys (sensitive values). */
type WrappedKind = 'tenant key' | 'data key';

interface StoredKey {
  kind: WrappedKind;
  /** The key id (tenant key) or version (data key), as text. */
  id: string;
  tenant_id: string;
  tenant_name: string;
  wrapped: string;
}

function contextOf(row: StoredKey): string {
  return row.kind === 'tenant key'
    ? tenantKeyContext(row.tenant_id, row.id)
    : dataKeyContext(row.tenant_id, Number(row.id));
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
      const opened = tryUnwrapPrivateKey(keyring, row.wrapped, contextOf(row));
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
    const updates: { row: StoredKey; after: string }[] = [];
    for (const row of batch) {
      if (row.wrapped.startsWith(currentPrefix)) continue;
      const context = contextOf(row);
      const opened = tryUnwrapPrivateKey(keyring, row.wrapped, context);
      if (opened === undefined) {
        result.unopened.push(describe(row));
        continue;
      }
      updates.push({ row, after: wrapPrivateKey(keyring, opened.privateKey, context) });
      opened.privateKey.fill(0);
    }
    // One statement per batch and kind; a row whose value changed since it was read keeps the newer value.
    const tenantKeys = updates.filter(({ row }) => row.kind === 'tenant key');
    if (tenantKeys.length > 0) {
      const values = sql.join(
        tenantKeys.map(({ row, after }) => sql`(${row.id}::uuid, ${row.wrapped}, ${after})`),
      );
      const updated = await sql`update tenant_key set sealed_private_key = v.after
        from (values ${values}) as v(key_id, before, after)
        where tenant_key.key_id = v.key_id and tenant_key.sealed_private_key = v.before`.execute(k);
      result.rewrapped += Number(updated.numAffectedRows ?? 0n);
    }
    const dataKeys = updates.filter(({ row }) => row.kind === 'data key');
    if (dataKeys.length > 0) {
      const values = sql.join(
        dataKeys.map(
          ({ row, after }) => sql`(${row.tenant_id}::uuid, ${Number(row.id)}::int, ${row.wrapped}, ${after})`,
        ),
      );
      const updated = await sql`update tenant_data_key d set wrapped_key = v.after
        from (values ${values}) as v(tenant_id, version, before, after)
        where d.tenant_id = v.tenant_id and d.version = v.version and d.wrapped_key = v.before`.execute(k);
      result.rewrapped += Number(updated.numAffectedRows ?? 0n);
    }
  }
  const remaining = await sql<{ count: string }>`select
      (select count(*) from tenant_key where left(sealed_private_key, ${currentPrefix.length}) <> ${currentPrefix})
      + (select count(*) from tenant_data_key where left(wrapped_key, ${currentPrefix.length}) <> ${currentPrefix})
      as count`.execute(k);
  result.stillUnderOldKey = Number(remaining.rows[0]?.count ?? 0);
  return result;
}

/**
 * Every stored wrapped key with its tenant's name, in batches: the tenant keys by key id, then the data keys
 * by tenant and version (later inserts are read too).
 */
async function* storedKeyBatches(em: EntityManager): AsyncGenerator<StoredKey[]> {
  const k = em.getKysely();
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const { rows } = await sql<StoredKey>`select 'tenant key' as kind, tk.key_id::text as id, tk.tenant_id,
        t.name as tenant_name, tk.sealed_private_key as wrapped
      from tenant_key tk join tenant t on t.id = tk.tenant_id
      where tk.key_id > ${after}::uuid order by tk.key_id limit ${BATCH_SIZE}`.execute(k);
    const last = rows.at(-1);
    if (last === undefined) break;
    yield rows;
    after = last.id;
  }
  let afterTenant = '00000000-0000-0000-0000-000000000000';
  let afterVersion = 0;
  for (;;) {
    const { rows } = await sql<StoredKey>`select 'data key' as kind, d.version::text as id, d.tenant_id,
        t.name as tenant_name, d.wrapped_key as wrapped
      from tenant_data_key d join tenant t on t.id = d.tenant_id
      where (d.tenant_id, d.version) > (${afterTenant}::uuid, ${afterVersion}::int)
      order by d.tenant_id, d.version limit ${BATCH_SIZE}`.execute(k);
    const last = rows.at(-1);
    if (last === undefined) return;
    yield rows;
    afterTenant = last.tenant_id;
    afterVersion = Number(last.id);
  }
}

function describe(row: StoredKey): UnopenedTenantKey {
  return {
    tenantId: row.tenant_id,
    tenantName: row.tenant_name,
    keyId: row.kind === 'tenant key' ? row.id : `data key ${row.id}`,
  };
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
