// Vault groups: search by name a page at a time, and one group with its members (as identity ids), the
// references not joined yet, and the applications it is exported to.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import { NotFoundError } from '../../kernel/errors.ts';
import { AfterQuery, decodeCursor, LimitQuery, page, pageSize } from './pagination.ts';

const SearchQuery = Type.Object(
  {
    name: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description: 'Groups whose name starts with this (any case).',
      }),
    ),
    limit: LimitQuery,
    after: AfterQuery,
  },
  { additionalProperties: false },
);

const GroupParams = Type.Object(
  { id: Type.String({ format: 'uuid', description: 'The Vault group id.' }) },
  { additionalProperties: false },
);

interface GroupRow {
  id: string;
  application_id: string;
  external_id: string;
  object_class: string;
  name: string;
  attributes: Record<string, unknown>;
  deleted: boolean;
  updated_at: Date;
}

const present = (row: GroupRow) => ({
  id: row.id,
  name: row.name,
  source: { applicationId: row.application_id, externalId: row.external_id, objectClass: row.object_class },
  deleted: row.deleted,
  updatedAt: new Date(row.updated_at).toISOString(),
});

export const groupRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/',
    { config: { scope: 'read', limit: 'search' }, schema: { querystring: SearchQuery } },
    async (request) => {
      const size = pageSize(request.query.limit);
      const after = decodeCursor(request.query.after, 'uuid');
      const conditions = [sql`tenant_id = ${request.principal.tenantId}`];
      const { name } = request.query;
      if (name !== undefined) {
        const escaped = name.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`);
        conditions.push(sql`lower(name) like ${`${escaped}%`}`);
      }
      if (after !== undefined) conditions.push(sql`id > ${after}`);
      const { rows } = await sql<GroupRow>`
      select id, application_id, external_id, object_class, name, attributes, deleted, updated_at from vault_group
      where ${sql.join(conditions, sql` and `)}
      order by id limit ${size + 1}`.execute(request.em.getKysely());
      return page(rows, size, (row) => row.id, present);
    },
  );

  app.get('/:id', { config: { scope: 'read' }, schema: { params: GroupParams } }, async (request) => {
    const k = request.em.getKysely();
    const tenantId = request.principal.tenantId;
    const { rows } = await sql<GroupRow>`
      select id, application_id, external_id, object_class, name, attributes, deleted, updated_at from vault_group
      where tenant_id = ${tenantId} and id = ${request.params.id}`.execute(k);
    const group = rows[0];
    if (group === undefined) throw new NotFoundError(`group ${request.params.id} not found in this tenant`);
    const { rows: members } = await sql<{ reference: string; identity_id: string | null }>`
      select reference, identity_id from vault_group_member
      where tenant_id = ${tenantId} and group_id = ${group.id} order by reference`.execute(k);
    const { rows: exports } = await sql<{
      application_id: string;
      external_id: string | null;
      state: string;
      desired: Record<string, unknown>;
      updated_at: Date;
    }>`
      select application_id, external_id, state, desired, updated_at from outbound_object
      where tenant_id = ${tenantId} and identity_id = ${group.id} order by application_id`.execute(k);
    return {
      ...present(group),
      attributes: group.attributes,
      members: [...new Set(members.flatMap((m) => (m.identity_id === null ? [] : [m.identity_id])))].sort(),
      unresolved: members.filter((m) => m.identity_id === null).map((m) => m.reference),
      exportedTo: exports.map((row) => ({
        applicationId: row.application_id,
        externalId: row.external_id,
        state: row.state,
        exported: row.desired,
        updatedAt: new Date(row.updated_at).toISOString(),
      })),
    };
  });
};
