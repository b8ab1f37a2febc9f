// A plan reconciliation's pass over a tenant's Vault groups (plan-reconciliation.ts): groups have no actors,
// so a new plan version reaches the groups already in the Vault here, decided by the same code as an import.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { ExpressionBudgetError } from '../../kernel/errors.ts';
import type { LogstreamTarget } from '../../streams/logstream.ts';
import { exportChangedGroups } from './group-exports.ts';
import { lockGroupTenants } from './group-locks.ts';
import { usesGroups } from './group-plan.ts';
import type { PlanCache } from './plan-cache.ts';

/**
 * The next `limit` of the tenant's living Vault groups after `afterGroupId` (id order) decided again in
 * every target application with the plan in force, the differences queued. Returns the groups decided
 * (fewer than `limit`: none are left) and the exports queued.
 */
export async function reconcileGroups(
  tx: EntityManager,
  plans: PlanCache,
  tenant: {
    tenantId: string;
    afterGroupId: string | null;
    limit: number;
    now: Date;
    logstream?: LogstreamTarget;
  },
): Promise<{ groupIds: string[]; exports: number; failures: ExpressionBudgetError[] }> {
  const plan = await plans.get(tx, tenant.tenantId);
  if (plan === undefined || !usesGroups(plan)) return { groupIds: [], exports: 0, failures: [] };
  const { rows } = await sql<{ id: string }>`
    select id from vault_group
    where tenant_id = ${tenant.tenantId} and not deleted
      and (${tenant.afterGroupId}::uuid is null or id > ${tenant.afterGroupId}::uuid)
    order by id limit ${tenant.limit}`.execute(tx.getKysely());
  const groupIds = rows.map((row) => row.id);
  if (groupIds.length === 0) return { groupIds, exports: 0, failures: [] };
  await lockGroupTenants(tx, [tenant.tenantId]);
  return { groupIds, ...(await exportChangedGroups(tx, plans, groupIds, [], tenant.now, tenant.logstream)) };
}
