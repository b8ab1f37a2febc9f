// The members of Vault groups (vault_group_member), set-based: a group's member references as its source
// states them, each resolved to an identity through the source application's object it names (by
// external id or `dn`) — or kept unresolved until that object joins — and which groups a batch's objects
// touch as members.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { keysDocument, type ObjectKey } from './group-keys.ts';

/** A group just imported, with the member references its object carries. */
export interface ImportedGroup {
  id: string;
  tenant_id: string;
  application_id: string;
  members: string[];
}

/** The member references a group's import added and removed (for its logstream event). */
export type MembershipChanges = Map<string, { added: string[]; removed: string[] }>;

/**
 * Replaces the groups' member references with the ones imported, and resolves them: one statement each.
 * Returns, per group, the references added and removed.
 */
export async function replaceMembers(tx: EntityManager, groups: ImportedGroup[]): Promise<MembershipChanges> {
  const changes: MembershipChanges = new Map();
  if (groups.length === 0) return changes;
  const changesOf = (groupId: string) => {
    const entry = changes.get(groupId) ?? { added: [], removed: [] };
    changes.set(groupId, entry);
    return entry;
  };
  const k = tx.getKysely();
  const ids = groups.map((group) => group.id);
  const members = JSON.stringify(
    groups.flatMap((group) =>
      group.members.map((reference) => ({
        group_id: group.id,
        reference,
        tenant_id: group.tenant_id,
        application_id: group.application_id,
      })),
    ),
  );
  const { rows: removed } = await sql<{ group_id: string; reference: string }>`
    delete from vault_group_member m where m.group_id = any(${ids}::uuid[])
      and (m.group_id, m.reference) not in (
        select group_id, reference from jsonb_to_recordset(${members}::jsonb) as u(group_id uuid, reference text))
    returning m.group_id, m.reference`.execute(k);
  for (const row of removed) changesOf(row.group_id).removed.push(row.reference);
  // A reference is resolved through the source application's object it names: by external id, or by dn.
  // xmax = 0: the row was inserted (a new member), not updated (a member resolved anew).
  const { rows: written } = await sql<{ group_id: string; reference: string; inserted: boolean }>`
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
      where vault_group_member.identity_id is distinct from excluded.identity_id
    returning group_id, reference, (xmax = 0) as inserted`.execute(k);
  for (const row of written) if (row.inserted) changesOf(row.group_id).added.push(row.reference);
  return withoutCaseChanges(changes);
}

/** A reference written in another case names the same member (DNs compare ignoring case): no change. */
function withoutCaseChanges(changes: MembershipChanges): MembershipChanges {
  for (const [groupId, { added, removed }] of changes) {
    const addedLower = new Set(added.map((reference) => reference.toLowerCase()));
    const removedLower = new Set(removed.map((reference) => reference.toLowerCase()));
    changes.set(groupId, {
      added: added.filter((reference) => !removedLower.has(reference.toLowerCase())),
      removed: removed.filter((reference) => !addedLower.has(reference.toLowerCase())),
    });
  }
  return changes;
}

/**
 * The batch's (non-group) objects name members of groups: their join (or their deletion) resolves (or
 * unresolves) every reference to them. Returns the groups whose members changed.
 */
export async function resolveReferences(tx: EntityManager, objects: ObjectKey[]): Promise<string[]> {
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
export async function groupsOfMembers(tx: EntityManager, objects: ObjectKey[]): Promise<string[]> {
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
