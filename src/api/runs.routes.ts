// Sync runs (import runs) of the caller's tenant: the latest ones, one with its counters, and a run
// requested now. A requested run waits as status "requested" until the application's connector claims
// it (claimRequestedRuns) and imports under its id.
import { randomUUID } from 'node:crypto';
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import { NotFoundError } from '../../kernel/errors.ts';
import { LimitQuery, pageSize } from './pagination.ts';
import { requireApplication } from './tenant-resources.ts';

interface RunRow {
  run_id: string;
  application_id: string;
  kind: string | null;
  status: string;
  reason: string | null;
  object_count: number | null;
  seen: number;
  deletions: number;
  started_at: Date;
  finished_at: Date | null;
}

const columns = sql`run_id, application_id, kind, status, reason, object_count, seen, deletions, started_at, finished_at`;

function present(row: RunRow) {
  return {
    id: row.run_id,
    applicationId: row.application_id,
    kind: row.kind,
    status: row.status,
    // Why an incomplete run could not complete; null otherwise.
    reason: row.reason,
    objectCount: row.object_count,
    seen: row.seen,
    deletions: row.deletions,
    // For a requested run: when it was requested.
    startedAt: new Date(row.started_at).toISOString(),
    finishedAt: row.finished_at === null ? null : new Date(row.finished_at).toISOString(),
  };
}

export const runRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/runs',
    {
      schema: {
        querystring: Type.Object(
          { applicationId: Type.Optional(Type.String({ format: 'uuid' })), limit: LimitQuery },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const { applicationId } = request.query;
      const { rows } = await sql<RunRow>`
        select ${columns} from import_run
        where tenant_id = ${request.principal.tenantId}
          ${applicationId === undefined ? sql`` : sql`and application_id = ${applicationId}`}
        order by started_at desc, run_id limit ${pageSize(request.query.limit)}`.execute(
        request.em.getKysely(),
      );
      return { items: rows.map(present) };
    },
  );

  app.get(
    '/runs/:id',
    { schema: { params: Type.Object({ id: Type.String({ format: 'uuid' }) }) } },
    async (request) => {
      const { rows } = await sql<RunRow>`
        select ${columns} from import_run
        where tenant_id = ${request.principal.tenantId} and run_id = ${request.params.id}`.execute(
        request.em.getKysely(),
      );
      const row = rows[0];
      if (row === undefined)
        throw new NotFoundError(`sync run ${request.params.id} not found`, {
          details: { runId: request.params.id },
        });
      return present(row);
    },
  );

  app.post(
    '/applications/:applicationId/runs',
    {
      schema: {
        params: Type.Object({ applicationId: Type.String({ format: 'uuid' }) }),
        body: Type.Object({ kind: Type.Enum(['full', 'delta']) }, { additionalProperties: false }),
      },
    },
    async (request, reply) => {
      const { tenantId } = request.principal;
      const { applicationId } = request.params;
      await requireApplication(request.em, tenantId, applicationId);
      const { rows } = await sql<RunRow>`
        insert into import_run (run_id, tenant_id, application_id, kind, status, object_count, seen, deletions, started_at)
        values (${randomUUID()}, ${tenantId}, ${applicationId}, ${request.body.kind}, 'requested', null, 0, 0, now())
        returning ${columns}`.execute(request.em.getKysely());
      const run = rows[0];
      if (run === undefined) throw new Error('insert into import_run returned no row');
      request.log.info({ runId: run.run_id, applicationId, kind: run.kind }, 'sync run requested');
      return reply.status(201).send(present(run));
    },
  );
};
