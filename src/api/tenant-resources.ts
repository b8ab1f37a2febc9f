// Checks that an id a request names exists in the caller's tenant. Another tenant's resource is "not found"
// exactly like a missing one, so its existence is never revealed.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { NotFoundError } from '../../kernel/errors.ts';

export async function requireApplication(
  em: EntityManager,
  tenantId: string,
  applicationId: string,
): Promise<{ id: string; name: string; type: string; connector: string | null }> {
  const { rows } = await sql<{ id: string; name: string; type: string; connector: string | null }>`
    select id, name, type, connector from application where tenant_id = ${tenantId} and id = ${applicationId}`.execute(
    em.getKysely(),
  );
  const application = rows[0];
  if (application === undefined)
    throw new NotFoundError(`application ${applicationId} not found`, { details: { applicationId } });
  return application;
}

export async function requireIdentity(
  em: EntityManager,
  tenantId: string,
  identityId: string,
): Promise<{ id: string; state: string }> {
  const { rows } = await sql<{ id: string; state: string }>`
    select id, state from identity where tenant_id = ${tenantId} and id = ${identityId}`.execute(
    em.getKysely(),
  );
  const identity = rows[0];
  if (identity === undefined)
    throw new NotFoundError(`identity ${identityId} not found`, { details: { identityId } });
  return identity;
}
