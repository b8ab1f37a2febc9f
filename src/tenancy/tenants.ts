// Tenants and their service accounts: creation (with a key shown once), API key authentication, rotation
// with an overlap, and revocation that never leaves a tenant without an admin key.
import { LockMode } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { ConflictError, NotFoundError } from '../../kernel/errors.ts';
import { Tenant } from '../storage/entities/tenant.entity.ts';
import { ServiceAccount } from '../storage/entities/service-account.entity.ts';
import { generateApiKey, parseApiKey, secretMatches } from './api-keys.ts';
import { isScope, scopes, type Scope } from './scopes.ts';

export interface Principal {
  tenantId: string;
  serviceAccountId: string;
  /** The scopes the key holds, as stored (grants() reads what they imply). */
  scopes: Scope[];
  /** When the key was last recorded as used (recorded at most once a minute). */
  lastUsedAt: Date | null;
}

export interface IssuedServiceAccount {
  tenantId: string;
  serviceAccountId: string;
  name: string;
  scopes: Scope[];
  /** The only time the key exists in clear. */
  apiKey: string;
}

/** How often last_used_at is written for one key: at most once per this many milliseconds. */
export const LAST_USED_RESOLUTION_MS = 60_000;

export async function createTenant(
  em: EntityManager,
  names: { tenant: string; serviceAccount?: string },
): Promise<IssuedServiceAccount & { tenantName: string }> {
  const fork = em.fork();
  try {
    return await fork.transactional(async (tx) => {
      const tenant = tx.create(Tenant, { id: randomUUID(), name: names.tenant, createdAt: new Date() });
      const issued = issueServiceAccount(tx, tenant, names.serviceAccount ?? 'admin', ['admin']);
      await tx.flush();
      return { ...issued, tenantName: tenant.name };
    });
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException) {
      throw new ConflictError(`a tenant named "${names.tenant}" already exists`, { cause: error });
    }
    throw error;
  }
}

/** Adds a service account to the tenant `em` is scoped to. */
export async function createServiceAccount(
  em: EntityManager,
  tenantId: string,
  name: string,
  accountScopes: Scope[],
): Promise<IssuedServiceAccount> {
  try {
    const issued = issueServiceAccount(em, em.getReference(Tenant, tenantId), name, accountScopes);
    await em.flush();
    return issued;
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException) {
      throw new ConflictError(`a service account named "${name}" already exists in this tenant`, {
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * A new key for an existing tenant, named by its name or id: the recovery path of `joinery tenant key`
 * when a tenant has lost its keys. The account is named `<prefix>-<time>` so it never collides.
 */
/** A tenant by its name or id, for commands run on the server's host; a clear error when there is none. */
export async function findTenant(em: EntityManager, tenantNameOrId: string): Promise<Tenant> {
  const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(tenantNameOrId);
  const tenant = await em.findOne(
    Tenant,
    isUuid
      ? { $or: [{ id: tenantNameOrId.toLowerCase() }, { name: tenantNameOrId }] }
      : { name: tenantNameOrId },
    { filters: false },
  );
  if (tenant === null) throw new NotFoundError(`no tenant named or with id "${tenantNameOrId}"`);
  return tenant;
}

export async function issueTenantKey(
  em: EntityManager,
  tenantNameOrId: string,
  options: { scopes: Scope[]; name?: string; now?: Date },
): Promise<IssuedServiceAccount & { tenantName: string }> {
  const fork = em.fork();
  const tenant = await findTenant(fork, tenantNameOrId);
  const name = options.name ?? `recovery-${(options.now ?? new Date()).toISOString()}`;
  const issued = await createServiceAccount(fork, tenant.id, name, options.scopes);
  return { ...issued, tenantName: tenant.name };
}

function issueServiceAccount(
  em: EntityManager,
  tenant: Tenant,
  name: string,
  accountScopes: Scope[],
): IssuedServiceAccount {
  const id = randomUUID();
  const { key, secretHash } = generateApiKey(id);
  // Stored in catalogue order, each once.
  const stored = scopes.filter((scope) => accountScopes.includes(scope));
  em.create(ServiceAccount, {
    id,
    tenant,
    name,
    secretHash,
    scopes: stored,
    previousSecretHash: null,
    previousSecretExpiresAt: null,
    createdAt: new Date(),
    lastUsedAt: null,
    revokedAt: null,
  });
  return { tenantId: tenant.id, serviceAccountId: id, name, scopes: stored, apiKey: key };
}

/**
 * The principal behind a bearer token, or undefined for anything that is not a valid, unrevoked key: its
 * current secret, or the secret a rotation replaced until that one's expiry.
 */
export async function authenticate(
  em: EntityManager,
  bearer: string,
  now: Date = new Date(),
): Promise<Principal | undefined> {
  const key = parseApiKey(bearer);
  if (key === undefined) return undefined;
  // The one cross-tenant lookup: by the key's account id, before we know the tenant.
  const account = await em.findOne(
    ServiceAccount,
    { id: key.serviceAccountId },
    {
      filters: false,
      fields: [
        'id',
        'tenant',
        'secretHash',
        'previousSecretHash',
        'previousSecretExpiresAt',
        'scopes',
        'lastUsedAt',
        'revokedAt',
      ],
    },
  );
  if (account === null || account.revokedAt !== null) return undefined;
  const current = secretMatches(key.secret, account.secretHash);
  const { previousSecretHash, previousSecretExpiresAt } = account;
  const previous =
    !current &&
    typeof previousSecretHash === 'string' &&
    previousSecretExpiresAt instanceof Date &&
    now < previousSecretExpiresAt &&
    secretMatches(key.secret, previousSecretHash);
  if (!current && !previous) return undefined;
  return {
    tenantId: account.tenant.id,
    serviceAccountId: account.id,
    scopes: account.scopes.filter(isScope),
    lastUsedAt: account.lastUsedAt ?? null,
  };
}

/**
 * Records that the key was used, unless that was recorded less than LAST_USED_RESOLUTION_MS ago: one
 * conditional UPDATE a minute per key at most, and none at all on the requests in between.
 */
export async function recordKeyUse(em: EntityManager, principal: Principal, now: Date): Promise<void> {
  const last = principal.lastUsedAt?.getTime();
  if (last !== undefined && now.getTime() - last < LAST_USED_RESOLUTION_MS) return;
  const staleBefore = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
  await em.nativeUpdate(
    ServiceAccount,
    { id: principal.serviceAccountId, $or: [{ lastUsedAt: null }, { lastUsedAt: { $lte: staleBefore } }] },
    { lastUsedAt: now },
    { filters: false },
  );
}

/**
 * A new secret for the account; the old one keeps working until `now + overlapSeconds` (0: at once). A
 * secret replaced by an earlier rotation and still in its overlap stops now.
 */
export async function rotateServiceAccount(
  em: EntityManager,
  serviceAccountId: string,
  options: { overlapSeconds: number; now: Date },
): Promise<IssuedServiceAccount & { previousKeyExpiresAt: Date }> {
  // Locked while it changes: two rotations at once each replace the secret the other wrote, in turn, and
  // each caller's key is the one stored when its rotation commits (never a key nobody stored).
  return em.transactional(async (tx) => {
    const account = await tx.findOne(
      ServiceAccount,
      { id: serviceAccountId, revokedAt: null },
      { lockMode: LockMode.PESSIMISTIC_WRITE },
    );
    if (account === null) throw new NotFoundError(`service account ${serviceAccountId} not found`);
    const { key, secretHash } = generateApiKey(account.id);
    const expiresAt = new Date(options.now.getTime() + options.overlapSeconds * 1000);
    account.previousSecretHash = account.secretHash;
    account.previousSecretExpiresAt = expiresAt;
    account.secretHash = secretHash;
    await tx.flush();
    return {
      tenantId: account.tenant.id,
      serviceAccountId: account.id,
      name: account.name,
      scopes: account.scopes.filter(isScope),
      apiKey: key,
      previousKeyExpiresAt: expiresAt,
    };
  });
}

/**
 * Revokes a service account. The tenant's last admin key cannot be revoked (a tenant must keep a way to
 * manage itself), so a key revokes itself only while another admin key remains. The tenant's admin
 * accounts are locked for the check, so two revocations at once cannot remove the last two.
 */
export async function revokeServiceAccount(
  em: EntityManager,
  tenantId: string,
  serviceAccountId: string,
  now: Date,
): Promise<void> {
  await em.transactional(async (tx) => {
    const admins = await tx.execute<{ id: string }[]>(
      `select id from service_account where tenant_id = ? and revoked_at is null and 'admin' = any(scopes) for update`,
      [tenantId],
    );
    const account = await tx.findOne(ServiceAccount, { id: serviceAccountId });
    if (account === null) throw new NotFoundError(`service account ${serviceAccountId} not found`);
    if (account.revokedAt !== null) return;
    const otherAdmins = admins.filter((row) => row.id !== account.id).length;
    if (account.scopes.includes('admin') && otherAdmins === 0) {
      throw new ConflictError(
        `service account ${account.id} ("${account.name}") holds the tenant's last admin key and cannot be revoked: ` +
          'issue another admin key first (POST /v1/service-accounts with scopes ["admin"], or `joinery tenant key` on the server)',
        { details: { serviceAccountId: account.id } },
      );
    }
    account.revokedAt = now;
  });
}
