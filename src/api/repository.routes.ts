// The Application Repository of one application: its objects with their join state — the disconnectors
// (unjoined), the ambiguous joins with their candidate identities, the join conflicts (their identity holds
// or is claimed by another object of the class) with the objects they conflict with, the joined and the
// excluded ones, each
// joined one with how it came to be joined (its join provenance). Its disconnectors can be looked at
// again on demand (POST …/rejoin), as the engine's sweep does when identities change.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import { topicName } from '../../streams/topics.ts';
import { requeueDisconnectors } from '../engine/rejoin.ts';
import { NotFoundError } from '../../kernel/errors.ts';
import { AfterQuery, decodeCursor, LimitQuery, page, pageSize } from './pagination.ts';
import { requireApplication } from './tenant-resources.ts';
import { maskSealed } from '../secrets/sensitive-values.ts';
import type { Attributes } from '../../kernel/contracts/identity-events.ts';

export const joinStates = ['joined', 'unjoined', 'ambiguous', 'conflict', 'excluded'] as const;

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
  join_candidates: { rule: string; identityIds: string[]; conflictsWith?: string[] } | null;
  last_run_id: string | null;
  updated_at: Date;
  join_provenance: string | null;
  joined_at: Date | null;
}

// The hard join (identity_source) is read by the object's primary key, beside the object.
const columns = sql`r.external_id, r.object_class, r.attributes, r.deleted, r.join_state, r.identity_id,
  r.join_candidates, r.last_run_id, r.updated_at, s.provenance as join_provenance, s.created_at as joined_at`;
const objects = sql`repository_object r left join identity_source s on s.tenant_id = r.tenant_id
  and s.application_id = r.application_id and s.external_id = r.external_id and s.identity_id = r.identity_id`;

function present(applicationId: string, row: ObjectRow) {
  return {
    applicationId,
    externalId: row.external_id,
    objectClass: row.object_class,
    joinState: row.join_state,
    identityId: row.identity_id,
    candidates: row.join_candidates,
    /** projected, provisioned, rule:<rule name> or manual:<service-account id>; null when not joined or not recorded. */
    joinProvenance: row.join_provenance,
    joinedAt: row.joined_at === null ? null : new Date(row.joined_at).toISOString(),
    deleted: row.deleted,
    attributes: maskSealed(row.attributes as Attributes),
    lastRunId: row.last_run_id,
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

export const repositoryRoutes: FastifyPluginAsyncTypebox<{ topicPrefix?: string }> = async (app, options) => {
  app.get(
    '/applications/:applicationId/objects',
    {
      config: { scope: 'read', limit: 'search' },
      schema: { params: ApplicationParams, querystring: ObjectsQuery },
    },
    async (request) => {
      const { tenantId } = request.principal;
      const { applicationId } = request.params;
      const k = request.em.getKysely();
      await requireApplication(request.em, tenantId, applicationId);
      const size = pageSize(request.query.limit);
      const after = decodeCursor(request.query.after);
      // The primary key (tenant, application, external id) serves the order and the cursor.
      const { rows } = await sql<ObjectRow>`
        select ${columns} from ${objects}
        where r.tenant_id = ${tenantId} and r.application_id = ${applicationId}
          ${request.query.joinState === undefined ? sql`` : sql`and r.join_state = ${request.query.joinState}`}
          ${after === undefined ? sql`` : sql`and r.external_id > ${after}`}
        order by r.external_id limit ${size + 1}`.execute(k);
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
      config: { scope: 'read' },
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
        select ${columns} from ${objects}
        where r.tenant_id = ${tenantId} and r.application_id = ${applicationId} and r.external_id = ${externalId}`.execute(
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

  // The application's disconnectors (unjoined, ambiguous and conflict; never the excluded) are re-fed to the engine
  // now, and the joining rules decide again: accepted, with how many objects were queued.
  app.post(
    '/applications/:applicationId/rejoin',
    { config: { scope: 'write', limit: 'syncRequests' }, schema: { params: ApplicationParams } },
    async (request, reply) => {
      const { tenantId } = request.principal;
      const { applicationId } = request.params;
      const queued = await request.em.transactional(async (tx) => {
        await requireApplication(tx, tenantId, applicationId);
        return requeueDisconnectors(tx, {
          tenantId,
          applicationIds: [applicationId],
          importsTopic: topicName({ topicPrefix: options.topicPrefix ?? 'joinery.' }, 'imports'),
          source: '/joinery/api',
        });
      });
      request.log.info({ applicationId, queued }, 'disconnectors re-fed for joining');
      return reply.status(202).send({ applicationId, queued });
    },
  );
};
