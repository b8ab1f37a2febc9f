// What a plan's joining rules compare, and the join keys that follow from it. Joining rules look identities
// up by Vault attribute values in `identity_join_key` (streams/identity-join-keys.ts): one row per tenant,
// attribute, value and identity, for the attributes the tenant's plan compares. Applying a plan that starts
// or stops comparing an attribute adds or drops that tenant's rows — never a column or an index of a table
// every tenant shares, so one tenant's plan cannot lock another tenant out.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { SyncPlan } from '../plan/plan.schema.ts';
import { lockJoinKeys, rebuildJoinKeys } from '../../streams/identity-join-keys.ts';

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

/** The Vault attributes the plan's joining rules compare (the attributes of its join keys). */
export function joinAttributes(plan: SyncPlan | undefined): string[] {
  return plan === undefined ? [] : [...new Set(joinKeys(plan).map((key) => key.vault))].sort();
}

/**
 * Holds the tenant's join keys until the applying transaction ends. Taken first, before the apply locks or
 * writes anything: a batch of the tenant's identities holds them shared from its start, so the apply waits
 * for the batches in flight and the next ones wait for it.
 */
export async function holdJoinKeys(tx: EntityManager, tenantId: string): Promise<void> {
  await lockJoinKeys(tx, [tenantId], 'exclusive');
}

/**
 * Adds the keys of the attributes the new plan compares and the previous one did not, for every identity of
 * the tenant (from their snapshots, one statement), and drops those of the attributes it no longer compares.
 * The caller holds the tenant's join keys (holdJoinKeys). Rows of this tenant only: other tenants' reads and
 * writes go on.
 */
export async function applyJoinKeys(
  tx: EntityManager,
  tenantId: string,
  previous: SyncPlan | undefined,
  next: SyncPlan,
): Promise<{ added: string[]; dropped: string[] }> {
  const before = new Set(joinAttributes(previous));
  const after = new Set(joinAttributes(next));
  const change = {
    added: [...after].filter((attribute) => !before.has(attribute)),
    dropped: [...before].filter((attribute) => !after.has(attribute)),
  };
  await rebuildJoinKeys(tx, tenantId, change);
  return change;
}

/**
 * The tenant's identities (ids) holding a value of an attribute its joining rules compare. For the API, under
 * row-level security: a case-insensitive match goes through joinery_folded_join_key_matches (its lower(value)
 * index cannot serve a query below a policy; migrations/Migration20261207090000_row_level_security.ts), which
 * answers only for the tenant set on the transaction.
 */
export function joinKeyMatches(tenantId: string, attribute: string, value: string, ignoreCase: boolean) {
  return ignoreCase
    ? sql`select m from joinery_folded_join_key_matches(${tenantId}, ${attribute}, ${value.toLowerCase()}) m`
    : sql`select identity_id from identity_join_key
        where tenant_id = ${tenantId} and attribute = ${attribute} and value = ${value}`;
}
