// Finding Vault identities: by the value of one attribute, by lifecycle state, by classification, a page
// at a time. An attribute the tenant's joining rules compare is found through its join keys, by an index
// lookup (src/engine/join-keys.ts); another one by reading the identities' snapshots.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import type { PersistedIdentity } from '../../actors/identity.machine.ts';
import { ValidationError } from '../../kernel/errors.ts';
import { joinAttributes, joinKeyMatches } from '../engine/join-keys.ts';
import type { SyncPlan } from '../plan/plan.schema.ts';
import { AfterQuery, decodeCursor, LimitQuery, page, pageSize } from './pagination.ts';
import { maskSealed } from '../secrets/sensitive-values.ts';

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
        const { rows: plans } = await sql<{ document: SyncPlan }>`
        select document from plan_version where tenant_id = ${request.principal.tenantId}
        order by version desc limit 1`.execute(request.em.getKysely());
        if (joinAttributes(plans[0]?.document).includes(attribute)) {
          conditions.push(
            sql`id in (${joinKeyMatches(request.principal.tenantId, attribute, value, ignoreCase)})`,
          );
        } else {
          const stored = sql`(snapshot->'context'->'attributes'->>${sql.lit(attribute)})`;
          conditions.push(
            ignoreCase ? sql`lower${stored} = ${value.toLowerCase()}` : sql`${stored} = ${value}`,
          );
        }
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
          attributes: maskSealed(row.snapshot.context.attributes),
          updatedAt: new Date(row.updated_at).toISOString(),
        }),
      );
    },
  );
};
