// Groups as first-class objects. Wraps the Inbound forwarder of the Import stage: objects of an object
// class of kind group become Vault groups (vault_group, joined hard by source application and external
// id), never identities; their member references are resolved to identities through the source
// application's objects (by external id or `dn`), set-based, and a reference not joined yet is kept and
// resolved when the object it names joins. Every target application that receives groups
// (export.groups) then gets only the real differences: a create with the members, an update with the
// members to add and remove, a delete when the source group is gone. All in the import's transaction.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { v5 as uuidv5 } from 'uuid';
import type { Attributes } from '../../kernel/contracts/identity-events.ts';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { groupClasses } from '../plan/check-plan.ts';
import {
  applicationMode,
  type ApplicationPlan,
  type AttributeSpec,
  type GroupExport,
} from '../plan/plan.schema.ts';
import { celValues, toAttributeValue } from './cel-values.ts';
import { enqueueExports, type NewExport } from './export-queue.ts';
import { decideGroupExport, groupName, memberReferences } from './group-outbound.ts';
import type { DeletedObject, InboundForwarder } from './inbound.ts';
import { queuedStatus, readTargetStates, saveTargetStates, type KeyedTargetState } from './target-states.ts';
import type { PlanCache, PlanInForce } from './plan-cache.ts';

type ImportObject = MessageData<'joinery.import.object.v1'>;
type ObjectKey = { tenantId: string; applicationId: string; externalId: string };

/** Namespace of Vault group ids (uuid v5 of tenant, source application and external id). */
const GROUP_NAMESPACE = '3b0e4c1d-8f5a-4e62-b7c9-6d2a9e1f4a77';

function vaultGroupId(object: ObjectKey): string {
  return uuidv5(`${object.tenantId}|${object.applicationId}|${object.externalId}`, GROUP_NAMESPACE);
}

export interface GroupCounters {
  groups: number;
  exports: number;
}

/** The Inbound forwarder with groups taken out (and handled here) before the rest goes on to identities. */
export function createGroupForwarder(options: {
  plans: PlanCache;
  inbound: InboundForwarder;
  now?: () => Date;
}): InboundForwarder & { groupCounters: GroupCounters } {
  const { inbound, plans } = options;
  const groupCounters: GroupCounters = { groups: 0, exports: 0 };
  const plansOf = async (tx: EntityManager, objects: { tenantId: string }[]) => {
    const byTenant = new Map<string, PlanInForce>();
    for (const tenantId of new Set(objects.map((object) => object.tenantId))) {
      const plan = await plans.get(tx, tenantId);
      if (plan !== undefined && usesGroups(plan)) byTenant.set(tenantId, plan);
    }
    return byTenant;
  };
  const exportGroups = async (tx: EntityManager, groupIds: Set<string>, batch: ObjectKey[]) => {
    const now = options.now?.() ?? new Date();
    groupCounters.exports += await exportChangedGroups(tx, plans, [...groupIds], batch, now);
  };
  return {
    counters: inbound.counters,
    groupCounters,
    async decide(tx, changed) {
      const withGroups = await plansOf(
        tx,
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
      const withGroups = await plansOf(tx, objects);
      if (withGroups.size === 0) return outbox;
      const isGroup = groupTest(withGroups);
      const others = objects.filter((object) => !isGroup(object));
      // The batch's objects are written with their joins: a group finds its members' joins of this batch too.
      const groups = await withoutExportedCopies(tx, objects.filter(isGroup));
      await lockTenants(tx, withGroups);
      const changed = new Set<string>();
      for (const id of await importGroups(tx, groups, withGroups)) changed.add(id);
      groupCounters.groups += groups.length;
      const ofTenants = others.filter((object) => withGroups.has(object.tenantId));
      for (const id of await resolveReferences(tx, ofTenants)) changed.add(id);
      for (const id of await groupsOfMembers(tx, ofTenants)) changed.add(id);
      if (changed.size > 0) await exportGroups(tx, changed, ofTenants);
      return outbox;
    },
    async forwardDeletions(tx, deleted) {
      if (deleted.length === 0) return [];
      const withGroups = await plansOf(tx, deleted);
      if (withGroups.size === 0) return inbound.forwardDeletions(tx, deleted);
      const ofTenants = deleted.filter((object) => withGroups.has(object.tenantId));
      await lockTenants(tx, withGroups);
      const deletedGroups = await deleteGroups(tx, ofTenants);
      const others = deleted.filter((object) => !deletedGroups.has(vaultGroupId(object)));
      const outbox = await inbound.forwardDeletions(tx, others);
      const changed = new Set(deletedGroups);
      const members = others.filter((object) => withGroups.has(object.tenantId));
      for (const id of await resolveReferences(tx, members)) changed.add(id);
      for (const id of await groupsOfMembers(tx, members)) changed.add(id);
      if (changed.size > 0) await exportGroups(tx, changed, members);
      return outbox;
    },
  };
}

/** Whether an object is of a group class, in the tenants whose plans use groups. */
function groupTest(withGroups: Map<string, PlanInForce>): (object: ImportObject) => boolean {
  return (object) => {
    const application = withGroups.get(object.tenantId)?.applications.get(object.applicationId);
    return application !== undefined && groupClasses(application.plan).has(object.objectClass);
  };
}

/**
 * A plan reconciliation's pass over a tenant's living Vault groups: the next `limit` of them after
 * `afterGroupId` (id order) decided again in every target application with the plan in force, the
 * differences queued. Returns the groups decided (fewer than `limit`: none are left) and the exports queued.
 */
export async function reconcileGroups(
  tx: EntityManager,
  plans: PlanCache,
  tenant: { tenantId: string; afterGroupId: string | null; limit: number; now: Date },
): Promise<{ groupIds: string[]; exports: number }> {
  const plan = await plans.get(tx, tenant.tenantId);
  if (plan === undefined || !usesGroups(plan)) return { groupIds: [], exports: 0 };
  const { rows } = await sql<{ id: string }>`
    select id from vault_group
    where tenant_id = ${tenant.tenantId} and not deleted
      and (${tenant.afterGroupId}::uuid is null or id > ${tenant.afterGroupId}::uuid)
    order by id limit ${tenant.limit}`.execute(tx.getKysely());
  const groupIds = rows.map((row) => row.id);
  if (groupIds.length === 0) return { groupIds, exports: 0 };
  await lockTenants(tx, new Map([[tenant.tenantId, plan]]));
  return { groupIds, exports: await exportChangedGroups(tx, plans, groupIds, [], tenant.now) };
}

/** Whether a plan has groups at all: without them the wrapper costs nothing per batch. */
function usesGroups(plan: PlanInForce): boolean {
  return [...plan.applications.values()].some(({ plan: application }) => groupClasses(application).size > 0);
}

/**
 * A group's import resolves its references against the joins committed so far, and a member's join
 * resolves the references committed so far; a member's account joining in a target application looks for
 * the groups its identity is in, and a member resolved looks for its accounts in the targets. Two batches
 * in different partitions doing one each at the same time would each miss the other (a directory account
 * and a SaaS account of one new member, say: the member would never be added in the SaaS application). So
 * per tenant whose plan has groups, these steps run one batch at a time: an advisory lock held to the
 * commit, taken in tenant order (no deadlock), after the heavy part of the batch (the joins) is done.
 */
async function lockTenants(tx: EntityManager, tenants: Map<string, PlanInForce>): Promise<void> {
  const keys = [...tenants.keys()].map((tenantId) => `vault_group_tenant:${tenantId}`).sort();
  await sql`
    select pg_advisory_xact_lock(hashtext(k.key))
    from unnest(${keys}::text[]) with ordinality as k(key, n)
    order by k.n`.execute(tx.getKysely());
}

const keysDocument = (objects: ObjectKey[]) =>
  JSON.stringify(
    objects.map((object) => ({
      tenant_id: object.tenantId,
      application_id: object.applicationId,
      external_id: object.externalId,
    })),
  );

/**
 * A group Joinery created in a target application comes back in that application's imports: its anchor
 * is the Vault group's hard join there (recorded when the create succeeded), so it is the group's copy,
 * not a new group.
 */
async function withoutExportedCopies(tx: EntityManager, groups: ImportObject[]): Promise<ImportObject[]> {
  if (groups.length === 0) return [];
  const { rows } = await sql<{ tenant_id: string; application_id: string; external_id: string }>`
    select s.tenant_id, s.application_id, s.external_id from identity_source s
    join jsonb_to_recordset(${keysDocument(groups)}::jsonb) as u(tenant_id uuid, application_id uuid, external_id text)
      on s.tenant_id = u.tenant_id and s.application_id = u.application_id and s.external_id = u.external_id
    join vault_group g on g.id = s.identity_id`.execute(tx.getKysely());
  const copies = new Set(rows.map((row) => `${row.tenant_id}|${row.application_id}|${row.external_id}`));
  return groups.filter(
    (group) => !copies.has(`${group.tenantId}|${group.applicationId}|${group.externalId}`),
  );
}

/** Upserts the batch's groups and replaces their member references, then resolves them: one statement each. */
async function importGroups(
  tx: EntityManager,
  groups: ImportObject[],
  plans: Map<string, PlanInForce>,
): Promise<string[]> {
  if (groups.length === 0) return [];
  const k = tx.getKysely();
  const rows = groups.map((group) => {
    const application = plans.get(group.tenantId)?.applications.get(group.applicationId)?.plan;
    const membersAttribute = application?.objectClasses[group.objectClass]?.members ?? 'member';
    const attributes = group.attributes ?? {};
    return {
      id: vaultGroupId(group),
      tenant_id: group.tenantId,
      application_id: group.applicationId,
      external_id: group.externalId,
      object_class: group.objectClass,
      name: groupName(attributes, group.externalId),
      attributes,
      members: memberReferences(attributes[membersAttribute]),
    };
  });
  await sql`
    insert into vault_group (id, tenant_id, application_id, external_id, object_class, name, attributes, deleted, created_at, updated_at)
    select id, tenant_id, application_id, external_id, object_class, name, attributes, false, now(), now()
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
      as u(id uuid, tenant_id uuid, application_id uuid, external_id text, object_class text, name text, attributes jsonb)
    on conflict (id) do update set object_class = excluded.object_class, name = excluded.name,
      attributes = excluded.attributes, deleted = false, updated_at = now()`.execute(k);
  const ids = rows.map((row) => row.id);
  const members = JSON.stringify(
    rows.flatMap((row) =>
      row.members.map((reference) => ({
        group_id: row.id,
        reference,
        tenant_id: row.tenant_id,
        application_id: row.application_id,
      })),
    ),
  );
  await sql`
    delete from vault_group_member m where m.group_id = any(${ids}::uuid[])
      and (m.group_id, m.reference) not in (
        select group_id, reference from jsonb_to_recordset(${members}::jsonb) as u(group_id uuid, reference text))`.execute(
    k,
  );
  // A reference is resolved through the source application's object it names: by external id, or by dn.
  await sql`
    insert into vault_group_member (group_id, reference, tenant_id, application_id, identity_id)
    select u.group_id, u.reference, u.tenant_id, u.application_id, r.identity_id
    from jsonb_to_recordset(${members}::jsonb) as u(group_id uuid, reference text, tenant_id uuid, application_id uuid)
    left join lateral (
      select r.identity_id from repository_object r
      where r.tenant_id = u.tenant_id and r.application_id = u.application_id and r.join_state = 'joined'
        and not r.deleted
        and (r.external_id = u.reference
          or (r.attributes ? 'dn' and lower(r.attributes->>'dn') = lower(u.reference)))
      limit 1) r on true
    on conflict (group_id, reference) do update set identity_id = excluded.identity_id
      where vault_group_member.identity_id is distinct from excluded.identity_id`.execute(k);
  return ids;
}

/**
 * The batch's (non-group) objects name members of groups: their join (or their deletion) resolves (or
 * unresolves) every reference to them. Returns the groups whose members changed.
 */
async function resolveReferences(tx: EntityManager, objects: ObjectKey[]): Promise<string[]> {
  if (objects.length === 0) return [];
  const { rows } = await sql<{ group_id: string }>`
    with objects as (
      select r.tenant_id, r.application_id, r.external_id, r.attributes->>'dn' as dn,
        case when r.join_state = 'joined' and not r.deleted then r.identity_id end as identity_id
      from jsonb_to_recordset(${keysDocument(objects)}::jsonb) as u(tenant_id uuid, application_id uuid, external_id text)
      join repository_object r on r.tenant_id = u.tenant_id and r.application_id = u.application_id
        and r.external_id = u.external_id)
    update vault_group_member m set identity_id = o.identity_id
    from objects o
    where m.tenant_id = o.tenant_id and m.application_id = o.application_id
      and lower(m.reference) = any(array[lower(o.external_id), lower(o.dn)])
      and m.identity_id is distinct from o.identity_id
    returning m.group_id`.execute(tx.getKysely());
  return [...new Set(rows.map((row) => row.group_id))];
}

/**
 * The batch's objects may be members' objects in a target application (joined, or deleted there): the
 * groups those identities are members of are decided again.
 */
async function groupsOfMembers(tx: EntityManager, objects: ObjectKey[]): Promise<string[]> {
  if (objects.length === 0) return [];
  const { rows } = await sql<{ group_id: string }>`
    select distinct m.group_id
    from jsonb_to_recordset(${keysDocument(objects)}::jsonb) as u(tenant_id uuid, application_id uuid, external_id text)
    join repository_object r on r.tenant_id = u.tenant_id and r.application_id = u.application_id
      and r.external_id = u.external_id
    join vault_group_member m on m.identity_id = r.identity_id
    where r.identity_id is not null`.execute(tx.getKysely());
  return rows.map((row) => row.group_id);
}

/** Groups deleted in their source application: flagged, their exported copies deleted next. */
async function deleteGroups(tx: EntityManager, deleted: DeletedObject[]): Promise<Set<string>> {
  if (deleted.length === 0) return new Set();
  const { rows } = await sql<{ id: string }>`
    update vault_group set deleted = true, updated_at = now()
    where id = any(${deleted.map(vaultGroupId)}::uuid[]) and not deleted
    returning id`.execute(tx.getKysely());
  return new Set(rows.map((row) => row.id));
}

interface GroupTarget {
  applicationId: string;
  index: number;
  plan: ApplicationPlan;
  groups: GroupExport;
  membersAttribute: string;
  reference: 'dn' | 'externalId';
}

/** The applications that receive the groups of a source application. */
function targetsOf(plan: PlanInForce, sourceApplicationId: string): GroupTarget[] {
  const source = plan.applications.get(sourceApplicationId)?.plan.name;
  if (source === undefined) return [];
  return [...plan.applications].flatMap(([applicationId, { plan: application, index }]) => {
    const groups = application.export?.groups;
    if (groups === undefined || !groups.from.includes(source)) return [];
    const membersAttribute = groupClasses(application).get(groups.objectClass)?.members ?? 'member';
    const reference =
      groups.memberReference ??
      (application.type === 'ldap' || application.type === 'active-directory' ? 'dn' : 'externalId');
    return [{ applicationId, index, plan: application, groups, membersAttribute, reference }];
  });
}

/**
 * Decides every target application of the given groups and queues the differences: per batch one query
 * each for the groups, their members, the members' objects in the targets and what was exported before.
 */
async function exportChangedGroups(
  tx: EntityManager,
  plans: PlanCache,
  groupIds: string[],
  batch: ObjectKey[],
  now: Date,
): Promise<number> {
  const k = tx.getKysely();
  const ids = [...groupIds].sort();
  // Batches of other partitions may decide the same group (its import here, a member's join there): one
  // at a time per group, in a fixed order.
  await sql`select pg_advisory_xact_lock(hashtext('vault_group:' || id)) from unnest(${ids}::text[]) as id order by id`.execute(
    k,
  );
  const { rows: groups } = await sql<{
    id: string;
    tenant_id: string;
    application_id: string;
    object_class: string;
    attributes: Attributes;
    deleted: boolean;
  }>`
    select id, tenant_id, application_id, object_class, attributes, deleted from vault_group
    where id = any(${ids}::uuid[])`.execute(k);
  const { rows: members } = await sql<{ group_id: string; identity_id: string }>`
    select distinct group_id, identity_id from vault_group_member
    where group_id = any(${ids}::uuid[]) and identity_id is not null`.execute(k);
  const membersOf = new Map<string, string[]>();
  for (const row of members)
    membersOf.set(row.group_id, [...(membersOf.get(row.group_id) ?? []), row.identity_id]);

  const targetsByGroup = new Map<string, { plan: PlanInForce; targets: GroupTarget[] }>();
  for (const group of groups) {
    const plan = await plans.get(tx, group.tenant_id);
    if (plan !== undefined)
      targetsByGroup.set(group.id, { plan, targets: targetsOf(plan, group.application_id) });
  }
  const targetApplications = [
    ...new Set([...targetsByGroup.values()].flatMap(({ targets }) => targets.map((t) => t.applicationId))),
  ];
  if (targetApplications.length === 0) return 0;
  const identities = [...new Set(members.map((row) => row.identity_id))];
  // The members' objects in the targets: their hard joins, and the objects this batch just joined (their
  // hard joins are recorded by the identity actors, after this transaction).
  const { rows: objects } = await sql<{
    identity_id: string;
    application_id: string;
    external_id: string;
    dn: string | null;
    deleted: boolean;
  }>`
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
      and r.application_id = any(${targetApplications}::uuid[])`.execute(k);
  const objectOf = new Map<string, { externalId: string; dn: string | null }>();
  const gone = new Set<string>();
  for (const row of objects) {
    const key = `${row.identity_id}|${row.application_id}`;
    if (row.deleted) gone.add(`${key}|${row.external_id}`);
    else if (!objectOf.has(key) || (objectOf.get(key)?.dn == null && row.dn !== null))
      objectOf.set(key, { externalId: row.external_id, dn: row.dn });
  }
  const previous = await readTargetStates(tx, ids, targetApplications);
  // A group's copy in a target only counts where no decision does (none yet, or one made in sandbox and
  // the target is out of it): only those are read, so the usual decision costs no extra query.
  const withoutDecision = groups.flatMap((group) =>
    (targetsByGroup.get(group.id)?.targets ?? []).flatMap((target) => {
      const before = previous.get(`${group.id}|${target.applicationId}`);
      const counts =
        before !== undefined && (before.sandbox !== true || applicationMode(target.plan) === 'sandbox');
      return counts ? [] : [{ groupId: group.id, applicationId: target.applicationId }];
    }),
  );
  const copies = await readCopies(tx, withoutDecision);

  const exports: NewExport[] = [];
  const states: KeyedTargetState[] = [];
  for (const group of groups) {
    const entry = targetsByGroup.get(group.id);
    if (entry === undefined) continue;
    const sourceSpecs = sourceGroupSpecs(entry.plan, group.application_id, group.object_class);
    for (const target of entry.targets) {
      const key = `${group.id}|${target.applicationId}`;
      const desired = group.deleted
        ? undefined
        : {
            attributes: mapGroup(entry.plan, target, celValues(sourceSpecs, group.attributes)),
            members: (membersOf.get(group.id) ?? []).flatMap((identityId) => {
              const object = objectOf.get(`${identityId}|${target.applicationId}`);
              if (
                object === undefined ||
                gone.has(`${identityId}|${target.applicationId}|${object.externalId}`)
              )
                return [];
              const reference = target.reference === 'dn' ? object.dn : object.externalId;
              return reference === null ? [] : [reference];
            }),
          };
      const before = previous.get(key);
      const decision = decideGroupExport({
        desired,
        previous: before,
        copy: copies.get(key),
        objectClass: target.groups.objectClass,
        membersAttribute: target.membersAttribute,
        sandbox: applicationMode(target.plan) === 'sandbox',
      });
      if (decision.next !== undefined && decision.next !== before)
        states.push({
          ...decision.next,
          tenantId: group.tenant_id,
          applicationId: target.applicationId,
          ownerId: group.id,
        });
      for (const operation of decision.operations)
        exports.push({
          tenantId: group.tenant_id,
          applicationId: target.applicationId,
          // The export queue orders operations per object by this id: for a group, the Vault group's id.
          identityId: group.id,
          objectClass: target.groups.objectClass,
          externalId: operation.externalId,
          operation: operation.operation,
          ...(operation.attributes === undefined ? {} : { attributes: operation.attributes }),
          ...(operation.members === undefined ? {} : { members: operation.members }),
          ...queuedStatus(target.plan),
        });
    }
  }
  await saveTargetStates(tx, states, now);
  return enqueueExports(tx, exports, now);
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

/** The declared attributes of the source application's group class (what `group` shows expressions). */
function sourceGroupSpecs(
  plan: PlanInForce,
  applicationId: string,
  objectClass: string,
): Record<string, AttributeSpec> {
  return plan.applications.get(applicationId)?.plan.objectClasses[objectClass]?.attributes ?? {};
}

/** The group's attributes in the target: each export.groups.attributes expression, null when it fails. */
function mapGroup(plan: PlanInForce, target: GroupTarget, group: Record<string, unknown>): Attributes {
  const attributes: Attributes = {};
  for (const name of Object.keys(target.groups.attributes ?? {})) {
    const expression = plan.compiled.expressions.get(
      `applications[${String(target.index)}].export.groups.attributes.${name}`,
    );
    try {
      attributes[name] = expression === undefined ? null : toAttributeValue(expression({ group }));
    } catch {
      // An attribute the expression needs is missing on this group: the target attribute has no value.
      attributes[name] = null;
    }
  }
  return attributes;
}
