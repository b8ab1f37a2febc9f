// The Application Repository of one application: its objects with their join state — the disconnectors
// (unjoined), the ambiguous joins with their candidate identities, the joined and the excluded ones.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import { NotFoundError } from '../errors.ts';
import { AfterQuery, decodeCursor, LimitQuery, page, pageSize } from './pagination.ts';
import { requireApplication } from './tenant-resources.ts';

export const joinStates = ['joined', 'unjoined', 'ambiguous', 'excluded'] as const;

const ApplicationParams = Type.Object({ applicationId: Type.String({ format: 'uuid' }) });

const ObjectsQuery = Type.Object(
  { joinState: Type.Optional(Type.Enum(joinStates)), limit: LimitQuery, after: AfterQuery },
  { additionalProperties: false },
);

interface ObjectRow {
  external_id: string;
  object_class: string;
  attributes: Record<string, unknown>;
  deleted: boolean;
  join_state: string | null;
  identity_id: string | null;
  join_candidates: { rule: string; identityIds: string[] } | null;
  last_run_id: string | null;
  updated_at: Date;
}

const columns = sql`external_id, object_class, attributes, deleted, join_state, identity_id, join_candidates,
  last_run_id, updated_at`;

function present(applicationId: string, row: ObjectRow) {
  return {
    applicationId,
    externalId: row.external_id,
    objectClass: row.object_class,
    joinState: row.join_state,
    identityId: row.identity_id,
    candidates: row.join_candidates,
    deleted: row.deleted,
    attributes: row.attributes,
    lastRunId: row.last_run_id,
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

export const repositoryRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/applications/:applicationId/objects',
    { schema: { params: ApplicationParams, querystring: ObjectsQuery } },
    async (request) => {
      const { tenantId } = request.principal;
      const { applicationId } = request.params;
      const k = request.em.getKysely();
      await requireApplication(request.em, tenantId, applicationId);
      const size = pageSize(request.query.limit);
      const after = decodeCursor(request.query.after);
      // The primary key (tenant, application, external id) serves the order and the cursor.
      const { rows } = await sql<ObjectRow>`
        select ${columns} from repository_object
        where tenant_id = ${tenantId} and application_id = ${applicationId}
          ${request.query.joinState === undefined ? sql`` : sql`and join_state = ${request.query.joinState}`}
          ${after === undefined ? sql`` : sql`and external_id > ${after}`}
        order by external_id limit ${size + 1}`.execute(k);
      return page(
        rows,
        size,
        (row) => row.external_id,
        (row) => present(applicationId, row),
      );
    },
  );

  app.get(
    '/applications/:applicationId/objects/:externalId',
    {
      schema: {
        params: Type.Object({
          applicationId: Type.String({ format: 'uuid' }),
          externalId: Type.String({ minLength: 1, maxLength: 1024 }),
        }),
      },
    },
    async (request) => {
      const { tenantId } = request.principal;
      const { applicationId, externalId } = request.params;
      await requireApplication(request.em, tenantId, applicationId);
      const { rows } = await sql<ObjectRow>`
        select ${columns} from repository_object
        where tenant_id = ${tenantId} and application_id = ${applicationId} and external_id = ${externalId}`.execute(
        request.em.getKysely(),
      );
      const row = rows[0];
      if (row === undefined)
        throw new NotFoundError(
          `application object ${externalId} not found in application ${applicationId}`,
          {
            details: { applicationId, externalId },
          },
        );
      return present(applicationId, row);
    },
  );
};
