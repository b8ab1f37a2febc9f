// Each tenant's HPKE key pair: agents seal their messages and captured passwords to its public key; the
// gateway opens them with the private key, which is stored encrypted under the master key and held in
// memory only as a non-extractable CryptoKey, for a bounded number of tenants.
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { LRUCache } from 'lru-cache';
import {
  HPKE_SUITE,
  fromBase64,
  generateEncryptionKeyPair,
  importPrivateKey,
  type HpkePrivateKey,
} from '../../kernel/channel/sealing.ts';
import { SealedPayloadError, UnavailableError } from '../../kernel/errors.ts';
import { unwrapPrivateKey, wrapPrivateKey, type MasterKeyring } from './master-key.ts';

export interface TenantPublicKey {
  keyId: string;
  publicKey: string;
  suite: string;
}

export interface TenantKeys {
  /** The tenant's public key, created on first use. */
  publicKey(tenantId: string): Promise<TenantPublicKey>;
  /** The tenant's private key for opening; refuses a keyId that is not the tenant's. */
  privateKey(tenantId: string, keyId: string): Promise<HpkePrivateKey>;
}

interface KeyRow {
  key_id: string;
  public_key: string;
  sealed_private_key: string;
  suite: string;
}

/** What a wrapped tenant private key is bound to (AES-GCM associated data): its tenant and key id. */
export function tenantKeyContext(tenantId: string, keyId: string): string {
  return `tenant ${tenantId} key ${keyId}`;
}

export function createTenantKeys(options: {
  em: EntityManager;
  masterKey: Buffer | undefined;
  /** security.previousMasterKeys: they still open the keys they wrapped (a master key rotation). */
  previousMasterKeys?: readonly Buffer[];
}): TenantKeys {
  const privateKeys = new LRUCache<string, HpkePrivateKey>({ max: 1000 });
  const context = tenantKeyContext;
  const keyring: MasterKeyring | undefined =
    options.masterKey === undefined
      ? undefined
      : { current: options.masterKey, previous: options.previousMasterKeys ?? [] };

  const masterKey = (): MasterKeyring => {
    if (keyring === undefined) {
      throw new UnavailableError(
        'the agent channel is disabled: set security.masterKey (JOINERY_MASTER_KEY) to store tenant keys',
      );
    }
    return keyring;
  };

  const load = async (tenantId: string): Promise<KeyRow> => {
    const k = options.em.getKysely();
    const select = async () =>
      (
        await sql<KeyRow>`select key_id, public_key, sealed_private_key, suite from tenant_key
          where tenant_id = ${tenantId}`.execute(k)
      ).rows[0];
    const existing = await select();
    if (existing !== undefined) return existing;
    const key = masterKey();
    const pair = await generateEncryptionKeyPair();
    const keyId = randomUUID();
    const sealed = wrapPrivateKey(key, fromBase64(pair.privateKey), context(tenantId, keyId));
    // Two processes creating it at once: the unique tenant_id keeps one, and both read that one.
    await sql`insert into tenant_key (key_id, tenant_id, suite, public_key, sealed_private_key, created_at)
      values (${keyId}, ${tenantId}, ${HPKE_SUITE}, ${pair.publicKey}, ${sealed}, now())
      on conflict (tenant_id) do nothing`.execute(k);
    const created = await select();
    if (created === undefined) throw new Error(`tenant key of ${tenantId} vanished after creation`);
    return created;
  };

  return {
    async publicKey(tenantId) {
      masterKey();
      const row = await load(tenantId);
      return { keyId: row.key_id, publicKey: row.public_key, suite: row.suite };
    },
    async privateKey(tenantId, keyId) {
      const cacheKey = `${tenantId}/${keyId}`;
      const cached = privateKeys.get(cacheKey);
      if (cached !== undefined) return cached;
      const row = await load(tenantId);
      if (row.key_id !== keyId) {
        throw new SealedPayloadError(`sealed to key ${keyId}, which is not this tenant's key`);
      }
      const raw = unwrapPrivateKey(masterKey(), row.sealed_private_key, context(tenantId, keyId)).privateKey;
      const key = await importPrivateKey(Buffer.from(raw).toString('base64'));
      raw.fill(0);
      privateKeys.set(cacheKey, key);
      return key;
    },
  };
}
