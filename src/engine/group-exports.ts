// Queues the exports of Vault groups that changed, in the caller's transaction: reads what the decision
// needs for the whole batch — one query each for the groups, their members, the members' objects in the
// targets, what was decided before and the copies Joinery made — decides (group-outbound.ts), and writes
// the target states and the exports.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import type { Attributes } from '../../kernel/contracts/identity-events.ts';
import type { ExpressionBudgetError } from '../../kernel/errors.ts';
import { logRow, type LogstreamTarget } from '../../streams/logstream.ts';
import { insertOutbox } from '../../streams/outbox.ts';
import { enqueueExports } from './export-queue.ts';
import { groupExportEvent } from './group-events.ts';
import { keysDocument, type ObjectKey } from './group-keys.ts';
import { lockGroups } from './group-locks.ts';
import {
  decideGroupExports,
  indexMemberObjects,
  pairsWithoutDecision,
  type GroupTargets,
  type MemberObjectRow,
  type VaultGroupRow,
} from './group-outbound.ts';
import { groupTargetsOf } from './group-plan.ts';
import type { PlanCache } from './plan-cache.ts';
import { readTargetStates, saveTargetStates } from './target-states.ts';

/**
 * Decides every target application of the given groups and queues the differences; `batch` holds the
 * objects the import's batch just joined (their hard joins are not recorded yet). Returns the exports
 * queued, and the groups left undecided in a target because an expression went over its budget. With
 * `logstream`, each operation is told there (with its group's id), in the same transaction.
 */
export async function exportChangedGroups(
  tx: EntityManager,
  plans: PlanCache,
  groupIds: string[],
  batch: ObjectKey[],
  now: Date,
  logstream?: LogstreamTarget,
): Promise<{ exports: number; failures: ExpressionBudgetError[] }> {
  const ids = [...groupIds].sort();
  await lockGroups(tx, ids);
  const groups = await readGroups(tx, ids);
  const members = await readMembers(tx, ids);
  const membersOf = new Map(
    [...Map.groupBy(members, (row) => row.group_id)].map(([groupId, rows]) => [
      groupId,
      rows.map((row) => row.identity_id),
    ]),
  );

  const targetsByGroup: GroupTargets = new Map();
  for (const group of groups) {
    const plan = await plans.get(tx, group.tenant_id);
    if (plan !== undefined)
      targetsByGroup.set(group.id, { plan, targets: groupTargetsOf(plan, group.application_id) });
  }
  const targetApplications = [
    ...new Set([...targetsByGroup.values()].flatMap(({ targets }) => targets.map((t) => t.applicationId))),
  ];
  if (targetApplications.length === 0) return { exports: 0, failures: [] };
  const identities = [...new Set(members.map((row) => row.identity_id))];
  const memberObjects = indexMemberObjects(
    await readMemberObjects(tx, identities, targetApplications, batch),
  );
  const previous = await readTargetStates(tx, ids, targetApplications);
  const copies = await readCopies(tx, pairsWithoutDecision(groups, targetsByGroup, previous));

  const {
    exports: decided,
    states,
    failures,
  } = decideGroupExports({
    groups,
    targetsByGroup,
    membersOf,
    memberObjects,
    previous,
    copies,
  });
  // Named here, so that each operation's logstream event can name it.
  const exports = decided.map((item) => ({ ...item, exportId: uuidv7() }));
  await saveTargetStates(tx, states, now);
  const queued = await enqueueExports(tx, exports, now);
  if (logstream !== undefined && exports.length > 0)
    await insertOutbox(
      tx,
      exports.map((item) => logRow(logstream, `export/${item.exportId}/queued`, groupExportEvent(item, now))),
    );
  return { exports: queued, failures };
}

async function readGroups(tx: EntityManager, ids: string[]): Promise<VaultGroupRow[]> {
  const { rows } = await sql<VaultGroupRow>`
    select id, tenant_id, application_id, object_class, attributes, deleted from vault_group
    where id = any(${ids}::uuid[])`.execute(tx.getKysely());
  return rows;
}

/** The groups' resolved members (an identity named by two references counts once). */
async function readMembers(
  tx: EntityManager,
  ids: string[],
): Promise<{ group_id: string; identity_id: string }[]> {
  const { rows } = await sql<{ group_id: string; identity_id: string }>`
    select distinct group_id, identity_id from vault_group_member
    where group_id = any(${ids}::uuid[]) and identity_id is not null`.execute(tx.getKysely());
  return rows;
}

/**
 * The members' objects in the targets: their hard joins, and the objects this batch just joined (their
 * hard joins are recorded by the identity actors, after this transaction).
 */
async function readMemberObjects(
  tx: EntityManager,
  identities: string[],
  targetApplications: string[],
  batch: ObjectKey[],
): Promise<MemberObjectRow[]> {
  const { rows } = await sql<MemberObjectRow>`
    select s.identity_id, s.application_id, s.external_id, r.attributes->>'dn' as dn, coalesce(r.deleted, false) as deleted
    from identity_source s
    left join repository_object r on r.tenant_id = s.tenant_id and r.application_id = s.application_id
      and r.external_id = s.external_id
    where s.identity_id = any(${identities}::uuid[]) and s.application_id = any(${targetApplications}::uuid[])
    union all
    select r.identity_id, r.application_id, r.external_id, r.attributes->>'dn', r.deleted
    from jsonb_to_recordset(${keysDocument(batch)}::jsonb) as u(tenant_id uuid, application_id uuid, external_id text)
    join repository_object r on r.tenant_id = u.tenant_id and r.application_id = u.application_id
      and r.external_id = u.external_id
    where r.join_state = 'joined' and r.identity_id = any(${identities}::uuid[])
      and r.application_id = any(${targetApplications}::uuid[])`.execute(tx.getKysely());
  return rows;
}

/**
 * The copies Joinery created of these groups in these applications (their hard joins), as the
 * applications' imports last saw them, keyed `<group id>|<application id>`.
 */
async function readCopies(
  tx: EntityManager,
  keys: { groupId: string; applicationId: string }[],
): Promise<Map<string, { externalId: string; attributes: Attributes }>> {
  if (keys.length === 0) return new Map();
  const { rows } = await sql<{
    group_id: string;
    application_id: string;
    external_id: string;
    attributes: Attributes | null;
  }>`
    select s.identity_id as group_id, s.application_id, s.external_id, r.attributes
    from jsonb_to_recordset(${JSON.stringify(
      keys.map((key) => ({ group_id: key.groupId, application_id: key.applicationId })),
    )}::jsonb) as u(group_id uuid, application_id uuid)
    join identity_source s on s.identity_id = u.group_id and s.application_id = u.application_id
    left join repository_object r on r.tenant_id = s.tenant_id and r.application_id = s.application_id
      and r.external_id = s.external_id
    where not coalesce(r.deleted, false)`.execute(tx.getKysely());
  return new Map(
    rows.map((row) => [
      `${row.group_id}|${row.application_id}`,
      { externalId: row.external_id, attributes: row.attributes ?? {} },
    ]),
  );
}
