// Joining rules look identities up by Vault attribute values. Each attribute a rule compares gets an
// expression index on the identity table (lower-cased for case-insensitive rules), created when a plan
// that needs it is applied, so a bulk load joins by index lookups rather than scans.
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { SyncPlan } from '../plan/plan.schema.ts';
import { joinKeyExpression } from './inbound.ts';
import type { PlanCache } from './plan-cache.ts';

/** The (attribute, case) pairs the plan's joining rules compare. */
export function joinKeys(plan: SyncPlan): { vault: string; ignoreCase: boolean }[] {
  const keys = new Map<string, { vault: string; ignoreCase: boolean }>();
  for (const application of plan.applications)
    for (const rule of application.joining ?? [])
      for (const match of rule.all ?? rule.any ?? []) {
        const ignoreCase = match.ignoreCase === true;
        keys.set(`${match.vault}|${String(ignoreCase)}`, { vault: match.vault, ignoreCase });
      }
  return [...keys.values()];
}

/** The Vault attributes each tenant's joining rules compare, for the identity host (streams/identity-host.ts). */
export function createJoinKeyLookup(plans: PlanCache) {
  return async (tx: EntityManager, tenantIds: string[]): Promise<(tenantId: string) => readonly string[]> => {
    const keys = new Map<string, readonly string[]>();
    for (const tenantId of tenantIds)
      keys.set(tenantId, (await plans.get(tx, tenantId))?.joinAttributes ?? []);
    return (tenantId) => keys.get(tenantId) ?? [];
  };
}

export function joinIndexName(key: { vault: string; ignoreCase: boolean }): string {
  const digest = createHash('sha256')
    .update(`${key.vault}|${String(key.ignoreCase)}`)
    .digest('hex')
    .slice(0, 10);
  const readable = key.vault
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '_')
    .slice(0, 30);
  return `identity_join_${readable}_${digest}`;
}

/** Creates the indexes the plan's joining rules need (existing ones are kept). */
export async function ensureJoinIndexes(tx: EntityManager, plan: SyncPlan): Promise<string[]> {
  const created: string[] = [];
  for (const key of joinKeys(plan)) {
    const name = joinIndexName(key);
    await sql`create index if not exists ${sql.id(name)} on identity (tenant_id, (${joinKeyExpression(
      key.vault,
      key.ignoreCase,
    )}))`.execute(tx.getKysely());
    created.push(name);
  }
  return created;
}
