// The two advisory locks that keep group work of concurrent batches (other partitions, other processes)
// from missing each other's changes; both are held to the commit and taken in a fixed order (no deadlock).
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';

/**
 * A group's import resolves its references against the joins committed so far, and a member's join
 * resolves the references committed so far; a member's account joining in a target application looks for
 * the groups its identity is in, and a member resolved looks for its accounts in the targets. Two batches
 * in different partitions doing one each at the same time would each miss the other (a directory account
 * and a SaaS account of one new member, say: the member would never be added in the SaaS application). So
 * per tenant whose plan has groups, these steps run one batch at a time: an advisory lock held to the
 * commit, taken in tenant order (no deadlock), after the heavy part of the batch (the joins) is done.
 */
export async function lockGroupTenants(tx: EntityManager, tenantIds: Iterable<string>): Promise<void> {
  const keys = [...tenantIds].map((tenantId) => `vault_group_tenant:${tenantId}`).sort();
  await sql`
    select pg_advisory_xact_lock(hashtext(k.key))
    from unnest(${keys}::text[]) with ordinality as k(key, n)
    order by k.n`.execute(tx.getKysely());
}

/**
 * Batches of other partitions may decide the same group (its import here, a member's join there): one at
 * a time per group, in a fixed order.
 */
export async function lockGroups(tx: EntityManager, groupIds: string[]): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('vault_group:' || id)) from unnest(${groupIds}::text[]) as id order by id`.execute(
    tx.getKysely(),
  );
}
