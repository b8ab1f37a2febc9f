// Every authenticated request's database work runs in one transaction as the tenant role, with the caller's
// tenant set for it: PostgreSQL's row-level security then shows that request no other tenant's rows, whatever
// its SQL says (migrations/Migration20261207090000_row_level_security.ts). request.em is that transaction's
// EntityManager, so a route needs nothing of its own: em.getKysely() and em.execute() run in it, and its
// em.transactional() is a savepoint. The transaction begins once the body is read and validated (a slow
// upload holds no connection), commits before a success is sent (a 2xx means committed) and rolls back on
// any error. A streamed route (`config: { tenantTransaction: 'short' }`) opens short tenant transactions
// itself with request.em.transactional(); a fork of request.em keeps the tenant and the role too.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';

/** The transaction variable the policies read: `nullif(current_setting('joinery.tenant_id', true), '')::uuid`. */
export const TENANT_SETTING = 'joinery.tenant_id';

/**
 * A fork of the ORM whose transactions run as `role` with the tenant set. `role` is set with
 * set_config('role', …, true) — PostgreSQL's own spelling of SET LOCAL ROLE — in the same statement as the
 * tenant, so a transaction costs one statement more than BEGIN, not two.
 */
export function tenantEntityManager(orm: MikroORM, tenantId: string, role: string): EntityManager {
  const em = orm.em.fork();
  em.setFilterParams('tenant', { tenantId });
  em.setSessionContext({ variables: { [TENANT_SETTING]: tenantId, role } });
  return em;
}

/** preHandler: the request's transaction, unless the route opens short ones itself. */
export async function beginTenantTransaction(request: FastifyRequest): Promise<void> {
  if (request.routeOptions.config.tenantTransaction === 'short') return;
  await request.em.begin();
}

/** onSend: commits a success before it is sent, rolls back anything else; a failed commit answers an error. */
export async function endTenantTransaction(
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
): Promise<unknown> {
  await finish(request, reply.statusCode < 400);
  return payload;
}

/** onResponse: a transaction still open here (the reply never went through onSend) is rolled back. */
export async function abandonTenantTransaction(request: FastifyRequest): Promise<void> {
  await finish(request, false);
}

async function finish(request: FastifyRequest, commit: boolean): Promise<void> {
  const em = request.em as EntityManager | null | undefined;
  if (em === null || em === undefined || !em.isInTransaction()) return;
  if (!commit) {
    await em.rollback();
    return;
  }
  try {
    await em.commit();
  } catch (error) {
    // The commit (or the flush before it) failed: release the connection, then answer the error.
    if (em.isInTransaction())
      await em.rollback().catch((rollbackError: unknown) => {
        request.log.warn({ err: rollbackError }, 'rolling back a request transaction whose commit failed');
      });
    throw error;
  }
}
