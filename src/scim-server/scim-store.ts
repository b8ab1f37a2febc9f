// The resources identity providers provision, kept in scim_resource so a read right after a write sees it,
// and every change sent to the Import stage IN THE SAME TRANSACTION (the outbox, `imports` topic) as a
// delta change of the application — an upsert on create, replace and patch, a delete on DELETE — so users
// and groups reach the Application Repository and the Vault like those of any other source.
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';
import type { ScimPatchOperation } from 'scim-patch';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { insertOutbox, outboxMessage, type OutboxRow } from '../../streams/outbox.ts';
import type { ApplicationPlan } from '../plan/plan.schema.ts';
import { ScimError } from './scim-errors.ts';
import {
  applyPatch,
  etagOf,
  importAttributes,
  type NormalisedResource,
  type ResourceData,
  type StoredResource,
} from './scim-resources.ts';
import type { ResourceType } from './scim-schemas.ts';
import type { ScimPrincipal } from './scim-tokens.ts';

export interface StoreContext {
  em: EntityManager;
  principal: ScimPrincipal;
  /** The `imports` topic (with the deployment's prefix). */
  importsTopic: string;
}

interface Row {
  id: string;
  resource_type: ResourceType;
  data: ResourceData;
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
}

const stored = (row: Row): StoredResource => ({
  id: row.id,
  type: row.resource_type,
  data: row.data,
  version: row.version,
  // Timestamps come back from the driver as text.
  createdAt: new Date(row.created_at),
  updatedAt: new Date(row.updated_at),
});

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const notFound = (type: ResourceType, id: string) => new ScimError(404, `${type} ${id} not found`, undefined);

/** The object classes the application's plan in force gives Users and Groups (none: not imported). */
export async function importClasses(
  em: EntityManager,
  principal: ScimPrincipal,
): Promise<{ User: string | undefined; Group: string | undefined }> {
  const { rows } = await sql<{ name: string; document: { applications: ApplicationPlan[] } }>`
    select a.name, p.document from application a
    join lateral (select document from plan_version where tenant_id = a.tenant_id
      order by version desc limit 1) p on true
    where a.tenant_id = ${principal.tenantId} and a.id = ${principal.applicationId}`.execute(em.getKysely());
  const row = rows[0];
  const plan = row?.document.applications.find((candidate) => candidate.name === row.name);
  const classes = Object.entries(plan?.objectClasses ?? {});
  const users = classes.filter(([, definition]) => (definition.kind ?? 'user') !== 'group');
  return {
    User: (users.find(([name]) => name === 'user') ?? users[0])?.[0],
    Group: classes.find(([, definition]) => definition.kind === 'group')?.[0],
  };
}

/** The import messages of changed resources, as outbox rows. */
function importRows(
  context: StoreContext,
  classes: { User: string | undefined; Group: string | undefined },
  changes: {
    resource: { id: string; type: ResourceType; data: ResourceData };
    operation: 'upsert' | 'delete';
  }[],
): OutboxRow[] {
  const at = new Date().toISOString();
  const { tenantId, applicationId } = context.principal;
  return changes.flatMap(({ resource, operation }) => {
    const objectClass = classes[resource.type];
    if (objectClass === undefined) return [];
    const data: MessageData<'joinery.import.object.v1'> = {
      tenantId,
      applicationId,
      objectClass,
      externalId: resource.id,
      operation,
      ...(operation === 'upsert' ? { attributes: importAttributes(resource) } : {}),
      observedAt: at,
    };
    return [
      outboxMessage(context.importsTopic, {
        id: randomUUID(),
        type: 'joinery.import.object.v1',
        source: '/joinery/scim',
        time: at,
        tenantId,
        data,
      }),
    ];
  });
}

/** Runs the write in a transaction; a second userName of the application is a 409 uniqueness. */
async function write<T>(context: StoreContext, work: (tx: EntityManager) => Promise<T>): Promise<T> {
  try {
    return await context.em.fork().transactional(work);
  } catch (error) {
    if (isUniqueViolation(error))
      throw new ScimError(409, 'userName: another User of this application has it', 'uniqueness', {
        cause: error,
      });
    throw error;
  }
}

function isUniqueViolation(error: unknown): boolean {
  for (let current: unknown = error; current !== undefined && current !== null;) {
    const { code, constraint } = current as { code?: unknown; constraint?: unknown };
    if (code === '23505' && (constraint === undefined || constraint === 'scim_resource_user_name'))
      return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** A Group's members must be Users or Groups of this application; their type is filled in. */
async function checkMembers(
  tx: EntityManager,
  context: StoreContext,
  resource: NormalisedResource,
): Promise<void> {
  const members = resource.data.members as { value: string; type?: string }[] | undefined;
  if (members === undefined || members.length === 0) return;
  const { tenantId, applicationId } = context.principal;
  const ids = members.map((member) => member.value);
  const uuids = ids.map((id) => id.toLowerCase()).filter((id) => uuidPattern.test(id));
  const { rows } = await sql<{ id: string; resource_type: ResourceType }>`
    select id, resource_type from scim_resource
    where tenant_id = ${tenantId} and application_id = ${applicationId} and id = any(${uuids}::uuid[])`.execute(
    tx.getKysely(),
  );
  const found = new Map(rows.map((row) => [row.id, row.resource_type]));
  const missing = ids.filter((id) => !found.has(id.toLowerCase()));
  if (missing.length > 0)
    throw new ScimError(
      400,
      `members: no User or Group ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` (and ${String(missing.length - 5)} more)` : ''} in this application`,
      'invalidValue',
    );
  resource.data.members = members.map((member) => ({
    ...member,
    value: member.value.toLowerCase(),
    type: found.get(member.value.toLowerCase()) ?? 'User',
  }));
}

export async function createResource(
  context: StoreContext,
  type: ResourceType,
  resource: NormalisedResource,
): Promise<StoredResource> {
  const { tenantId, applicationId } = context.principal;
  return write(context, async (tx) => {
    if (type === 'Group') await checkMembers(tx, context, resource);
    const { rows } = await sql<Row>`
      insert into scim_resource (tenant_id, application_id, id, resource_type, external_id, user_name, display_name,
        data, version, created_at, updated_at)
      values (${tenantId}, ${applicationId}, ${randomUUID()}, ${type}, ${resource.externalId ?? null},
        ${resource.userName ?? null}, ${resource.displayName ?? null}, ${JSON.stringify(resource.data)}::jsonb, 1,
        now(), now())
      returning id, resource_type, data, version, created_at, updated_at`.execute(tx.getKysely());
    const row = rows[0];
    if (row === undefined) throw new Error('the insert returned no row');
    await insertOutbox(
      tx,
      importRows(context, await importClasses(tx, context.principal), [
        { resource: stored(row), operation: 'upsert' },
      ]),
    );
    return stored(row);
  });
}

export async function readResource(
  context: StoreContext,
  type: ResourceType,
  id: string,
): Promise<StoredResource> {
  const row = await selectRow(context.em, context, type, id, false);
  if (row === undefined) throw notFound(type, id);
  return stored(row);
}

async function selectRow(
  em: EntityManager,
  context: StoreContext,
  type: ResourceType,
  id: string,
  forUpdate: boolean,
): Promise<Row | undefined> {
  // An id that is no UUID names no resource of ours: not found, never a database error.
  if (!uuidPattern.test(id)) return undefined;
  const { tenantId, applicationId } = context.principal;
  const { rows } = await sql<Row>`
    select id, resource_type, data, version, created_at, updated_at from scim_resource
    where tenant_id = ${tenantId} and application_id = ${applicationId} and id = ${id} and resource_type = ${type}
    ${forUpdate ? sql`for update` : sql``}`.execute(em.getKysely());
  return rows[0];
}

/** If-Match (RFC 7644 §3.14): any of the listed versions, or *, must be the current one; else 412. */
export function checkIfMatch(ifMatch: string | undefined, version: number): void {
  if (ifMatch === undefined) return;
  const current = etagOf(version).replace(/^W\//, '');
  const listed = ifMatch.split(',').map((tag) => tag.trim().replace(/^W\//, ''));
  if (listed.includes('*') || listed.includes(current)) return;
  throw new ScimError(
    412,
    `If-Match: the resource is now at version ${etagOf(version)}; read it again`,
    undefined,
  );
}

async function update(
  context: StoreContext,
  type: ResourceType,
  id: string,
  ifMatch: string | undefined,
  change: (current: Row) => NormalisedResource,
): Promise<StoredResource> {
  const { tenantId, applicationId } = context.principal;
  return write(context, async (tx) => {
    const current = await selectRow(tx, context, type, id, true);
    if (current === undefined) throw notFound(type, id);
    checkIfMatch(ifMatch, current.version);
    const next = change(current);
    if (type === 'Group') await checkMembers(tx, context, next);
    // A PATCH or PUT that changes nothing keeps the version (Entra ID sends such PATCHes routinely).
    if (JSON.stringify(next.data) === JSON.stringify(current.data)) return stored(current);
    const { rows } = await sql<Row>`
      update scim_resource set data = ${JSON.stringify(next.data)}::jsonb, external_id = ${next.externalId ?? null},
        user_name = ${next.userName ?? null}, display_name = ${next.displayName ?? null},
        version = version + 1, updated_at = greatest(now(), updated_at + interval '1 millisecond')
      where tenant_id = ${tenantId} and application_id = ${applicationId} and id = ${id}
      returning id, resource_type, data, version, created_at, updated_at`.execute(tx.getKysely());
    const row = rows[0];
    if (row === undefined) throw notFound(type, id);
    await insertOutbox(
      tx,
      importRows(context, await importClasses(tx, context.principal), [
        { resource: stored(row), operation: 'upsert' },
      ]),
    );
    return stored(row);
  });
}

export function replaceResource(
  context: StoreContext,
  type: ResourceType,
  id: string,
  resource: NormalisedResource,
  ifMatch: string | undefined,
): Promise<StoredResource> {
  return update(context, type, id, ifMatch, () => resource);
}

export function patchResource(
  context: StoreContext,
  type: ResourceType,
  id: string,
  operations: ScimPatchOperation[],
  ifMatch: string | undefined,
): Promise<StoredResource> {
  return update(context, type, id, ifMatch, (current) => applyPatch(type, current.data, operations));
}

/** Deletes the resource; a deleted User leaves the Groups that held it (their members sent again). */
export async function deleteResource(
  context: StoreContext,
  type: ResourceType,
  id: string,
  ifMatch: string | undefined,
): Promise<void> {
  const { tenantId, applicationId } = context.principal;
  await write(context, async (tx) => {
    const current = await selectRow(tx, context, type, id, true);
    if (current === undefined) throw notFound(type, id);
    checkIfMatch(ifMatch, current.version);
    const k = tx.getKysely();
    await sql`delete from scim_resource where tenant_id = ${tenantId} and application_id = ${applicationId} and id = ${id}`.execute(
      k,
    );
    const { rows: groups } = await sql<Row>`
      update scim_resource g set
        data = case when m.kept = '[]'::jsonb then g.data - 'members' else jsonb_set(g.data, '{members}', m.kept) end,
        version = g.version + 1, updated_at = greatest(now(), g.updated_at + interval '1 millisecond')
      from (
        select s.id, coalesce(jsonb_agg(e) filter (where e->>'value' <> ${id}), '[]'::jsonb) as kept
        from scim_resource s cross join lateral jsonb_array_elements(s.data->'members') e
        where s.tenant_id = ${tenantId} and s.application_id = ${applicationId} and s.resource_type = 'Group'
          and s.data->'members' @> ${JSON.stringify([{ value: id }])}::jsonb
        group by s.id) m
      where g.tenant_id = ${tenantId} and g.application_id = ${applicationId} and g.id = m.id
      returning g.id, g.resource_type, g.data, g.version, g.created_at, g.updated_at`.execute(k);
    const deleted = { id, type, data: current.data };
    await insertOutbox(
      tx,
      importRows(context, await importClasses(tx, context.principal), [
        { resource: deleted, operation: 'delete' },
        ...groups.map((group) => ({ resource: stored(group), operation: 'upsert' as const })),
      ]),
    );
  });
}

export interface ListQuery {
  where: RawBuilder<boolean> | undefined;
  orderBy: RawBuilder<unknown> | undefined;
  descending: boolean;
  /** 1-based (RFC 7644 §3.4.2.4). */
  startIndex: number;
  count: number;
}

/** A page of the application's resources of the type matching the filter, and how many match in all. */
export async function listResources(
  context: StoreContext,
  type: ResourceType,
  query: ListQuery,
): Promise<{ totalResults: number; resources: StoredResource[] }> {
  const { tenantId, applicationId } = context.principal;
  const k = context.em.getKysely();
  const where = sql`tenant_id = ${tenantId} and application_id = ${applicationId} and resource_type = ${type}
    ${query.where === undefined ? sql`` : sql`and ${query.where}`}`;
  const total = await sql<{
    count: string;
  }>`select count(*) as count from scim_resource where ${where}`.execute(k);
  const totalResults = Number(total.rows[0]?.count ?? 0);
  if (query.count === 0 || totalResults < query.startIndex) return { totalResults, resources: [] };
  const direction = sql.raw(query.descending ? 'desc' : 'asc');
  const order =
    query.orderBy === undefined ? sql`created_at, id` : sql`${query.orderBy} ${direction} nulls last, id`;
  const { rows } = await sql<Row>`
    select id, resource_type, data, version, created_at, updated_at from scim_resource
    where ${where} order by ${order} offset ${query.startIndex - 1} limit ${query.count}`.execute(k);
  return { totalResults, resources: rows.map(stored) };
}
