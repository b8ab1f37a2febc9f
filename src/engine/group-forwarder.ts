// Groups as first-class objects in the Import stage. Wraps the Inbound forwarder: objects of an object
// class of kind group become Vault groups (group-import.ts), never identities; their member references are
// resolved to identities through the source application's objects, and a reference not joined yet is kept
// and resolved when the object it names joins (group-members.ts). Every target application that receives
// groups (export.groups) then gets only the real differences (group-exports.ts): a create with the
// members, an update with the members to add and remove, a delete when the source group is gone. All in
// the import's transaction.
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { logRow, type LogstreamTarget } from '../../streams/logstream.ts';
import type { OutboxRow } from '../../streams/outbox.ts';
import { groupDeletedEvent, groupImportedEvent } from './group-events.ts';
import { exportChangedGroups } from './group-exports.ts';
import { deleteGroups, importGroups, withoutExportedCopies } from './group-import.ts';
import { vaultGroupId, type ObjectKey } from './group-keys.ts';
import { lockGroupTenants } from './group-locks.ts';
import { groupsOfMembers, replaceMembers, resolveReferences } from './group-members.ts';
import { groupTest, usesGroups } from './group-plan.ts';
import type { DeletedObject, InboundForwarder } from './inbound.ts';
import type { PlanCache, PlanInForce } from './plan-cache.ts';

export interface GroupCounters {
  groups: number;
  exports: number;
}

/** The Inbound forwarder with groups taken out (and handled here) before the rest goes on to identities. */
export function createGroupForwarder(options: {
  plans: PlanCache;
  inbound: InboundForwarder;
  now?: () => Date;
  /** Where a group an expression could not map within its budget is reported. */
  logger?: Logger;
  /** Where the groups' imports, deletions and exports are told (the logstream); not told when absent. */
  logstream?: LogstreamTarget;
}): InboundForwarder & { groupCounters: GroupCounters } {
  const { inbound, plans, logstream } = options;
  const groupCounters: GroupCounters = { groups: 0, exports: 0 };
  const exportGroups = async (tx: EntityManager, groupIds: Set<string>, batch: ObjectKey[]) => {
    const now = options.now?.() ?? new Date();
    const { exports, failures } = await exportChangedGroups(tx, plans, [...groupIds], batch, now, logstream);
    groupCounters.exports += exports;
    for (const failure of failures)
      options.logger?.warn(
        { err: failure, ...failure.details },
        `group not exported to a target: ${failure.message}`,
      );
  };
  return {
    counters: inbound.counters,
    groupCounters,
    async decide(tx, changed) {
      const withGroups = await plansWithGroups(
        tx,
        plans,
        changed.map(({ object }) => object),
      );
      const isGroup = groupTest(withGroups);
      // Groups join no identity: the Inbound stage decides the others; forward handles the groups.
      const decisions = await inbound.decide(
        tx,
        changed.filter(({ object }) => !isGroup(object)),
      );
      return { ...decisions, objects: changed };
    },
    async forward(tx, decisions) {
      const objects = decisions.objects.map(({ object }) => object);
      const outbox = await inbound.forward(tx, decisions);
      if (objects.length === 0) return outbox;
      const withGroups = await plansWithGroups(tx, plans, objects);
      if (withGroups.size === 0) return outbox;
      const isGroup = groupTest(withGroups);
      const others = objects.filter((object) => !isGroup(object));
      // The batch's objects are written with their joins: a group finds its members' joins of this batch too.
      const groups = await withoutExportedCopies(tx, objects.filter(isGroup));
      await lockGroupTenants(tx, withGroups.keys());
      const changed = new Set<string>();
      const imported = await importGroups(tx, groups, withGroups);
      const membership = await replaceMembers(tx, imported);
      for (const { id } of imported) changed.add(id);
      if (logstream !== undefined)
        outbox.push(
          ...imported.map((group) =>
            logRow(
              logstream,
              `group/${group.id}/${group.observedAt}`,
              groupImportedEvent({
                ...group,
                members: membership.get(group.id) ?? { added: [], removed: [] },
              }),
            ),
          ),
        );
      groupCounters.groups += groups.length;
      const ofTenants = others.filter((object) => withGroups.has(object.tenantId));
      for (const id of await resolveReferences(tx, ofTenants)) changed.add(id);
      for (const id of await groupsOfMembers(tx, ofTenants)) changed.add(id);
      if (changed.size > 0) await exportGroups(tx, changed, ofTenants);
      return outbox;
    },
    async forwardDeletions(tx, deleted) {
      if (deleted.length === 0) return [];
      const withGroups = await plansWithGroups(tx, plans, deleted);
      if (withGroups.size === 0) return inbound.forwardDeletions(tx, deleted);
      const ofTenants = deleted.filter((object) => withGroups.has(object.tenantId));
      await lockGroupTenants(tx, withGroups.keys());
      const deletedGroups = await deleteGroups(tx, ofTenants);
      const others = deleted.filter((object) => !deletedGroups.has(vaultGroupId(object)));
      const outbox = await inbound.forwardDeletions(tx, others);
      if (logstream !== undefined) outbox.push(...deletedGroupEvents(logstream, ofTenants, deletedGroups));
      const changed = new Set(deletedGroups);
      const members = others.filter((object) => withGroups.has(object.tenantId));
      for (const id of await resolveReferences(tx, members)) changed.add(id);
      for (const id of await groupsOfMembers(tx, members)) changed.add(id);
      if (changed.size > 0) await exportGroups(tx, changed, members);
      return outbox;
    },
  };
}

/** The plans in force of the objects' tenants, for the tenants whose plans use groups. */
async function plansWithGroups(
  tx: EntityManager,
  plans: PlanCache,
  objects: { tenantId: string }[],
): Promise<Map<string, PlanInForce>> {
  const byTenant = new Map<string, PlanInForce>();
  for (const tenantId of new Set(objects.map((object) => object.tenantId))) {
    const plan = await plans.get(tx, tenantId);
    if (plan !== undefined && usesGroups(plan)) byTenant.set(tenantId, plan);
  }
  return byTenant;
}

function deletedGroupEvents(
  logstream: LogstreamTarget,
  objects: DeletedObject[],
  deletedGroups: Set<string>,
): OutboxRow[] {
  return objects.flatMap((object) => {
    const id = vaultGroupId(object);
    return deletedGroups.has(id)
      ? [logRow(logstream, `group/${id}/deleted/${object.at}`, groupDeletedEvent(id, object))]
      : [];
  });
}
