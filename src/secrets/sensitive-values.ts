// Attribute values a plan marks sensitive (`sensitive: true`) are stored sealed: envelope encryption with a
// data key per tenant (tenant_data_key), itself wrapped by the master key. The Import stage seals them as
// they enter the Application Repository; from there they travel sealed — into the Vault by `from:` mappers,
// into the export queue by outbound `from:` mappers — and are opened only where a connector is given its
// export. Logs, the audit history and the API never see them in clear.
//
// Sealing is deterministic (AES-256-GCM with a synthetic IV: the IV is an HMAC of the value): one value
// under one data key always seals alike, so content hashes, change detection and export confirmation keep
// working on sealed values. What that reveals — that two identities of a tenant hold the same value — is
// the price of that, and is written in docs/security.md.
//
// A sealed value is a string: `jny:sealed:v1:<data key version>:<base64url of iv, tag and ciphertext>`, the
// plaintext being the value's JSON (so a number or a list comes back as it went in).
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { LRUCache } from 'lru-cache';
import type { AttributeValue, Attributes } from '../../kernel/contracts/identity-events.ts';
import { MASKED_VALUE, SEALED_VALUE_PREFIX, isSealedValue } from '../../kernel/contracts/messages.ts';
import { ConfigError } from '../../kernel/errors.ts';
import {
  notOpenedAdvice,
  tryUnwrapPrivateKey,
  wrapPrivateKey,
  type MasterKeyring,
} from '../agent-gateway/master-key.ts';

const PREFIX = SEALED_VALUE_PREFIX;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** How long a process seals with the data key version it loaded before looking for a newer one. */
const KEY_CACHE_TTL_MS = 60_000;

/** Whether a stored value is sealed. */
export const isSealed = isSealedValue;

/** The attributes with every sealed value shown as `***`: what the API and logs may show. */
export function maskSealed(attributes: Attributes): Attributes;
export function maskSealed(attributes: Attributes | null | undefined): Attributes | null | undefined;
export function maskSealed(attributes: Attributes | null | undefined): Attributes | null | undefined {
  if (attributes === null || attributes === undefined) return attributes;
  let masked: Attributes | undefined;
  for (const [name, value] of Object.entries(attributes)) {
    if (!isSealed(value)) continue;
    masked ??= { ...attributes };
    masked[name] = MASKED_VALUE;
  }
  return masked ?? attributes;
}

/** What a wrapped data key is bound to (AES-GCM associated data): its tenant and version. */
export function dataKeyContext(tenantId: string, version: number): string {
  return `tenant ${tenantId} data key ${String(version)}`;
}

/** One tenant's data keys, opened: seals with the newest, opens with whichever sealed. */
export interface TenantSealer {
  readonly tenantId: string;
  /** Seals a value (null stays null: there is nothing to hide). */
  seal(value: AttributeValue): AttributeValue;
  /** Opens a sealed value; any other value is returned as it is. */
  open(value: AttributeValue): AttributeValue;
  /** The attributes with the named ones sealed. */
  sealAttributes(attributes: Attributes, names: ReadonlySet<string>): Attributes;
  /** The attributes with every sealed value opened. */
  openAttributes(attributes: Attributes): Attributes;
}

export interface SensitiveValues {
  /** The tenant's sealer; its first data key is created on first use. */
  forTenant(tenantId: string): Promise<TenantSealer>;
}

/** A sealed value that no data key of its tenant opens: the key was lost, or the value was tampered with. */
export class SealedValueError extends Error {
  override name = 'SealedValueError';
}

interface DataKey {
  version: number;
  encryption: Buffer;
  mac: Buffer;
}

function deriveKeys(raw: Uint8Array, version: number): DataKey {
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), info, 32));
  return {
    version,
    encryption: derive('joinery sensitive value encryption'),
    mac: derive('joinery sensitive value iv'),
  };
}

function sealWith(key: DataKey, tenantId: string, value: AttributeValue): string {
  const plaintext = Buffer.from(JSON.stringify(value));
  const iv = createHmac('sha256', key.mac).update(plaintext).digest().subarray(0, IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.encryption, iv);
  cipher.setAAD(Buffer.from(tenantId));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const sealed = Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64url');
  return `${PREFIX}${String(key.version)}:${sealed}`;
}

function openWith(keys: ReadonlyMap<number, DataKey>, tenantId: string, sealed: string): AttributeValue {
  const rest = sealed.slice(PREFIX.length);
  const separator = rest.indexOf(':');
  const key = keys.get(Number(rest.slice(0, separator)));
  const bytes = Buffer.from(rest.slice(separator + 1), 'base64url');
  if (key === undefined || separator === -1 || bytes.length < IV_BYTES + TAG_BYTES)
    throw new SealedValueError(`a sealed value of tenant ${tenantId} names no data key the tenant has`);
  const decipher = createDecipheriv('aes-256-gcm', key.encryption, bytes.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(tenantId));
  decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    const plaintext = Buffer.concat([
      decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)),
      decipher.final(),
    ]);
    return JSON.parse(plaintext.toString('utf8')) as AttributeValue;
  } catch {
    throw new SealedValueError(
      `a sealed value of tenant ${tenantId} does not open with data key ${String(key.version)}: it was altered, or sealed for another tenant`,
    );
  }
}

/** A tenant's sealer from its data keys in clear (version → 32 bytes); the newest version seals. Pure. */
export function tenantSealer(tenantId: string, rawKeys: ReadonlyMap<number, Uint8Array>): TenantSealer {
  if (rawKeys.size === 0) throw new Error(`tenant ${tenantId} has no data key`);
  return sealer(tenantId, new Map([...rawKeys].map(([version, raw]) => [version, deriveKeys(raw, version)])));
}

function sealer(tenantId: string, keys: ReadonlyMap<number, DataKey>): TenantSealer {
  const newest = [...keys.values()].reduce((a, b) => (b.version > a.version ? b : a));
  const seal = (value: AttributeValue): AttributeValue =>
    value === null || isSealed(value) ? value : sealWith(newest, tenantId, value);
  const open = (value: AttributeValue): AttributeValue =>
    isSealed(value) ? openWith(keys, tenantId, value) : value;
  return {
    tenantId,
    seal,
    open,
    sealAttributes(attributes, names) {
      let sealed: Attributes | undefined;
      for (const name of names) {
        if (!Object.hasOwn(attributes, name)) continue;
        sealed ??= { ...attributes };
        sealed[name] = seal(attributes[name] ?? null);
      }
      return sealed ?? attributes;
    },
    openAttributes(attributes) {
      let opened: Attributes | undefined;
      for (const [name, value] of Object.entries(attributes)) {
        if (!isSealed(value)) continue;
        opened ??= { ...attributes };
        opened[name] = openWith(keys, tenantId, value);
      }
      return opened ?? attributes;
    },
  };
}

interface StoredDataKey {
  version: number;
  wrapped_key: string;
}

/**
 * The sensitive values of every tenant, under the master keyring. Without a master key there are none, and
 * the Import stage withholds sensitive values rather than store them in clear.
 */
export function createSensitiveValues(options: {
  keyring: MasterKeyring;
  /**
   * Reads and creates data keys outside any caller's transaction: a key created within a batch that then
   * rolls back would be gone while values sealed with it live on in the cache's sealer.
   */
  em: EntityManager;
}): SensitiveValues {
  const { keyring, em } = options;
  const cache = new LRUCache<string, TenantSealer>({ max: 1000, ttl: KEY_CACHE_TTL_MS });
  const load = async (tenantId: string): Promise<StoredDataKey[]> =>
    (
      await sql<StoredDataKey>`select version, wrapped_key from tenant_data_key where tenant_id = ${tenantId}
        order by version`.execute(em.fork().getKysely())
    ).rows;
  return {
    async forTenant(tenantId) {
      const cached = cache.get(tenantId);
      if (cached !== undefined) return cached;
      let stored = await load(tenantId);
      if (stored.length === 0) {
        const raw = randomBytes(32);
        // Two processes creating it at once: the primary key keeps one, and both read that one.
        await sql`insert into tenant_data_key (tenant_id, version, wrapped_key)
          values (${tenantId}, 1, ${wrapPrivateKey(keyring, raw, dataKeyContext(tenantId, 1))})
          on conflict do nothing`.execute(em.fork().getKysely());
        raw.fill(0);
        stored = await load(tenantId);
      }
      const keys = new Map<number, DataKey>();
      for (const row of stored) {
        const opened = tryUnwrapPrivateKey(keyring, row.wrapped_key, dataKeyContext(tenantId, row.version));
        if (opened === undefined)
          throw new ConfigError(
            `data key ${String(row.version)} of tenant ${tenantId} does not decrypt: ${notOpenedAdvice}`,
          );
        keys.set(row.version, deriveKeys(opened.privateKey, row.version));
        opened.privateKey.fill(0);
      }
      const tenantSealer = sealer(tenantId, keys);
      cache.set(tenantId, tenantSealer);
      return tenantSealer;
    },
  };
}

/**
 * Adds a new data key version for a tenant: new values are sealed with it (within a minute in every
 * process), the older versions keep opening what they sealed. Returns the new version.
 */
export async function rotateDataKey(
  em: EntityManager,
  keyring: MasterKeyring,
  tenantId: string,
): Promise<number> {
  const k = em.getKysely();
  const raw = randomBytes(32);
  try {
    // Two rotations at once: the primary key keeps one of each version, and the other tries the next.
    for (;;) {
      const { rows: next } = await sql<{ version: number }>`
        select coalesce(max(version), 0) + 1 as version from tenant_data_key where tenant_id = ${tenantId}`.execute(
        k,
      );
      const version = next[0]?.version ?? 1;
      const { rows } = await sql<{ version: number }>`
        insert into tenant_data_key (tenant_id, version, wrapped_key)
        values (${tenantId}, ${version}, ${wrapPrivateKey(keyring, raw, dataKeyContext(tenantId, version))})
        on conflict do nothing returning version`.execute(k);
      if (rows.length > 0) return version;
    }
  } finally {
    raw.fill(0);
  }
}
