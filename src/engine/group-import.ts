// Group objects into Vault groups (vault_group), set-based: the batch's groups upserted under their derived
// ids, with their names and attributes; groups deleted in their source flagged; and the copies Joinery
// itself created in target applications left out, so that they never become groups of their own.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { keysDocument, vaultGroupId } from './group-keys.ts';
import type { ImportedGroup } from './group-members.ts';
import { groupName, memberReferences } from './group-outbound.ts';
import type { DeletedObject } from './inbound.ts';
import type { PlanInForce } from './plan-cache.ts';

type ImportObject = MessageData<'joinery.import.object.v1'>;

/**
 * A group Joinery created in a target application comes back in that application's imports: its anchor
 * is the Vault group's hard join there (recorded when the create succeeded), so it is the group's copy,
 * not a new group.
 */
export async function withoutExportedCopies(
  tx: EntityManager,
  groups: ImportObject[],
): Promise<ImportObject[]> {
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

/**
 * Upserts the batch's groups in one statement; returns them with the member references their objects
 * carry (under the group class's members attribute), for group-members.ts to store, and whether each is
 * new to the Vault.
 */
export async function importGroups(
  tx: EntityManager,
  groups: ImportObject[],
  plans: Map<string, PlanInForce>,
): Promise<
  (ImportedGroup & {
    external_id: string;
    object_class: string;
    name: string;
    created: boolean;
    observedAt: string;
  })[]
> {
  if (groups.length === 0) return [];
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
      observedAt: group.observedAt,
    };
  });
  const { rows: written } = await sql<{ id: string; created: boolean }>`
    insert into vault_group (id, tenant_id, application_id, external_id, object_class, name, attributes, deleted, created_at, updated_at)
    select id, tenant_id, application_id, external_id, object_class, name, attributes, false, now(), now()
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
      as u(id uuid, tenant_id uuid, application_id uuid, external_id text, object_class text, name text, attributes jsonb)
    on conflict (id) do update set object_class = excluded.object_class, name = excluded.name,
      attributes = excluded.attributes, deleted = false, updated_at = now()
    returning id, (xmax = 0) as created`.execute(tx.getKysely());
  const created = new Set(written.filter((row) => row.created).map((row) => row.id));
  return rows.map((row) => ({ ...row, created: created.has(row.id) }));
}

/** Groups deleted in their source application: flagged, their exported copies deleted next. */
export async function deleteGroups(tx: EntityManager, deleted: DeletedObject[]): Promise<Set<string>> {
  if (deleted.length === 0) return new Set();
  const { rows } = await sql<{ id: string }>`
    update vault_group set deleted = true, updated_at = now()
    where id = any(${deleted.map(vaultGroupId)}::uuid[]) and not deleted
    returning id`.execute(tx.getKysely());
  return new Set(rows.map((row) => row.id));
}
