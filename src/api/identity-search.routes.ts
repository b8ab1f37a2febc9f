// Finding Vault identities: by the value of one attribute, by lifecycle state, by classification, a page
// at a time. The attribute comparison is the expression the joining rules' indexes are built on
// (join-indexes.ts), so an attribute a joining rule compares is found by an index lookup.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import type { PersistedIdentity } from '../../actors/identity.machine.ts';
import { ValidationError } from '../../kernel/errors.ts';
import { attributeExpression, hasJoinColumn, joinKeyExpression } from '../engine/join-indexes.ts';
import { AfterQuery, decodeCursor, LimitQuery, page, pageSize } from './pagination.ts';

const identityStates = ['joiner', 'active', 'disabled', 'leaver', 'deleted'] as const;

const SearchQuery = Type.Object(
  {
    attribute: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z_][A-Za-z0-9_.-]{0,127}$',
        description: 'A Vault attribute name; with value.',
      }),
    ),
    value: Type.Optional(Type.String({ maxLength: 2048, description: 'Exact value of the attribute.' })),
    ignoreCase: Type.Optional(Type.Enum(['true', 'false'])),
    state: Type.Optional(Type.Enum(identityStates)),
    classification: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
    limit: LimitQuery,
    after: AfterQuery,
  },
  { additionalProperties: false },
);

export const identitySearchRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/',
    { config: { scope: 'read', limit: 'search' }, schema: { querystring: SearchQuery } },
    async (request) => {
      const { attribute, value, state, classification } = request.query;
      if ((attribute === undefined) !== (value === undefined))
        throw new ValidationError(
          'querystring/attribute and querystring/value go together: give both or neither',
        );
      const size = pageSize(request.query.limit);
      const after = decodeCursor(request.query.after, 'uuid');
      const ignoreCase = request.query.ignoreCase === 'true';
      const conditions = [sql`tenant_id = ${request.principal.tenantId}`];
      if (attribute !== undefined && value !== undefined) {
        // An attribute a joining rule compares has a column and an index (src/engine/join-indexes.ts).
        const expression = (await hasJoinColumn(request.em, attribute))
          ? joinKeyExpression(attribute, ignoreCase)
          : attributeExpression(attribute, ignoreCase);
        conditions.push(sql`${expression} = ${ignoreCase ? value.toLowerCase() : value}`);
      }
      if (state !== undefined) conditions.push(sql`state = ${state}`);
      if (classification !== undefined)
        conditions.push(sql`snapshot->'context'->>'classification' = ${String(Number(classification))}`);
      if (after !== undefined) conditions.push(sql`id > ${after}`);
      const { rows } = await sql<{
        id: string;
        state: string;
        snapshot: PersistedIdentity;
        updated_at: Date;
      }>`
      select id, state, snapshot, updated_at from identity
      where ${sql.join(conditions, sql` and `)}
      order by id limit ${size + 1}`.execute(request.em.getKysely());
      return page(
        rows,
        size,
        (row) => row.id,
        (row) => ({
          id: row.id,
          state: row.state,
          classification: row.snapshot.context.classification ?? null,
          attributes: row.snapshot.context.attributes,
          updatedAt: new Date(row.updated_at).toISOString(),
        }),
      );
    },
  );
};
