// Tenants and their service accounts: creation (with a key shown once) and API key authentication.
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { ConflictError } from '../../kernel/errors.ts';
import { Tenant } from '../storage/entities/tenant.entity.ts';
import { ServiceAccount } from '../storage/entities/service-account.entity.ts';
import { generateApiKey, parseApiKey, secretMatches } from './api-keys.ts';

export interface Principal {
  tenantId: string;
  serviceAccountId: string;
}

export interface IssuedServiceAccount {
  tenantId: string;
  serviceAccountId: string;
  name: string;
  /** The only time the key exists in clear. */
  apiKey: string;
}

export async function createTenant(
  em: EntityManager,
  names: { tenant: string; serviceAccount?: string },
): Promise<IssuedServiceAccount & { tenantName: string }> {
  const fork = em.fork();
  try {
    return await fork.transactional(async (tx) => {
      const tenant = tx.create(Tenant, { id: randomUUID(), name: names.tenant, createdAt: new Date() });
      const issued = issueServiceAccount(tx, tenant, names.serviceAccount ?? 'admin');
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
): Promise<IssuedServiceAccount> {
  try {
    const issued = issueServiceAccount(em, em.getReference(Tenant, tenantId), name);
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

function issueServiceAccount(em: EntityManager, tenant: Tenant, name: string): IssuedServiceAccount {
  const id = randomUUID();
  const { key, secretHash } = generateApiKey(id);
  em.create(ServiceAccount, {
    id,
    tenant,
    name,
    secretHash,
    createdAt: new Date(),
    lastUsedAt: null,
    revokedAt: null,
  });
  return { tenantId: tenant.id, serviceAccountId: id, name, apiKey: key };
}

/** The principal behind a bearer token, or undefined for anything that is not a valid, unrevoked key. */
export async function authenticate(em: EntityManager, bearer: string): Promise<Principal | undefined> {
  const key = parseApiKey(bearer);
  if (key === undefined) return undefined;
  // The one cross-tenant lookup: by the key's account id, before we know the tenant.
  const account = await em.findOne(
    ServiceAccount,
    { id: key.serviceAccountId },
    { filters: false, fields: ['id', 'tenant', 'secretHash', 'revokedAt'] },
  );
  if (account === null || account.revokedAt !== null || !secretMatches(key.secret, account.secretHash))
    return undefined;
  return { tenantId: account.tenant.id, serviceAccountId: account.id };
}
