// Sync runs (import runs) of the caller's tenant: the latest ones, one with its counters, and a run
// requested now. A requested run waits as status "requested" until the application's connector claims
// it (claimRequestedRuns) and imports under its id. A full run the deletion guard held (status "held",
// src/engine/deletion-guard.ts) shows its would-be deletions, with each object's attributes, and is released
// (its completed marker sent again through the outbox: the Import stage completes it, deleting exactly what
// it recorded) or discarded (nothing is deleted).
import { randomUUID } from 'node:crypto';
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { ConflictError, NotFoundError } from '../../kernel/errors.ts';
import { insertOutbox, outboxMessage } from '../../streams/outbox.ts';
import { topicName } from '../../streams/topics.ts';
import { AfterQuery, LimitQuery, decodeCursor, encodeCursor, page, pageSize } from './pagination.ts';
import { requireApplication } from './tenant-resources.ts';
import { adminRow, logstreamOf, tellAdminActions } from './admin-events.ts';
import { whyRunCannotStart } from '../connectors/connector.ts';
import { readExportCounts } from '../live/run-progress.ts';
import { runStreamUrl } from './streams.routes.ts';

interface RunRow {
  run_id: string;
  application_id: string;
  kind: string | null;
  status: string;
  reason: string | null;
  object_count: number | null;
  seen: number;
  deletions: number;
  rejected: number;
  sent: number;
  started_at: Date;
  finished_at: Date | null;
}

const columns = sql`run_id, application_id, kind, status, reason, object_count, seen, deletions, rejected, sent, started_at, finished_at`;

function present(row: RunRow) {
  return {
    id: row.run_id,
    applicationId: row.application_id,
    kind: row.kind,
    status: row.status,
    // Why an incomplete run could not complete, why the deletion guard held it (and who released or
    // discarded it); null otherwise.
    reason: row.reason,
    objectCount: row.object_count,
    seen: row.seen,
    deletions: row.deletions,
    // Rows of a file the run could not read (GET /v1/runs/:id/errors lists them).
    rejected: row.rejected,
    // Objects an in-engine connector has read and sent so far (its progress; `seen`: those recorded).
    sent: row.sent,
    // For a requested run: when it was requested.
    startedAt: new Date(row.started_at).toISOString(),
    finishedAt: row.finished_at === null ? null : new Date(row.finished_at).toISOString(),
    // Its live stream (docs/live.md): open it with a token from POST /v1/streams/tokens.
    streamUrl: runStreamUrl(row.run_id),
  };
}

const API_SOURCE = '/joinery/api';

/** The run, locked; 404 when the tenant has none of that id, 409 unless it is held. */
async function lockHeldRun(tx: EntityManager, tenantId: string, runId: string): Promise<RunRow> {
  const { rows } = await sql<RunRow>`
    select ${columns} from import_run where tenant_id = ${tenantId} and run_id = ${runId} for update`.execute(
    tx.getKysely(),
  );
  const row = rows[0];
  if (row === undefined) throw new NotFoundError(`sync run ${runId} not found`, { details: { runId } });
  if (row.status !== 'held')
    throw new ConflictError(`sync run ${runId} is ${row.status}, not held by the deletion guard`, {
      details: { runId, status: row.status },
    });
  return row;
}

export const runRoutes: FastifyPluginAsyncTypebox<{ topicPrefix?: string }> = async (app, options) => {
  const importsTopic = topicName({ topicPrefix: options.topicPrefix ?? 'joinery.' }, 'imports');
  const logstream = logstreamOf(options.topicPrefix ?? 'joinery.');
  app.get(
    '/runs',
    {
      config: { scope: 'read' },
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
    { config: { scope: 'read' }, schema: { params: Type.Object({ id: Type.String({ format: 'uuid' }) }) } },
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
      // The exports the run caused, by status (docs/live.md).
      const exports = await readExportCounts(request.em, {
        tenantId: request.principal.tenantId,
        runId: row.run_id,
      });
      return { ...present(row), exports };
    },
  );

  app.post(
    '/applications/:applicationId/runs',
    {
      config: { scope: 'write', limit: 'syncRequests' },
      schema: {
        params: Type.Object({ applicationId: Type.String({ format: 'uuid' }) }),
        body: Type.Object({ kind: Type.Enum(['full', 'delta']) }, { additionalProperties: false }),
      },
    },
    async (request, reply) => {
      const { tenantId } = request.principal;
      const { applicationId } = request.params;
      const application = await requireApplication(request.em, tenantId, applicationId);
      // A run its connector cannot start (a file import, a connector not built yet) fails at once, saying why.
      const cannot = whyRunCannotStart(application.type, application.name, application.connector);
      const { rows } = await sql<RunRow>`
        insert into import_run (run_id, tenant_id, application_id, kind, status, reason, object_count, seen, deletions,
          started_at, finished_at)
        values (${randomUUID()}, ${tenantId}, ${applicationId}, ${request.body.kind},
          ${cannot === undefined ? 'requested' : 'failed'}, ${cannot ?? null}, null, 0, 0, now(),
          ${cannot === undefined ? null : sql`now()`})
        returning ${columns}`.execute(request.em.getKysely());
      const run = rows[0];
      if (run === undefined) throw new Error('insert into import_run returned no row');
      await tellAdminActions(request.em, [
        adminRow(logstream, request.principal, `run/${run.run_id}/requested`, new Date().toISOString(), {
          category: 'import',
          outcome: cannot === undefined ? 'succeeded' : 'failed',
          message: `${request.body.kind} import run of ${application.name} requested${cannot === undefined ? '' : ', and failed'}`,
          runId: run.run_id,
          applicationId,
          ...(cannot === undefined ? {} : { reason: cannot.slice(0, 4096) }),
        }),
      ]);
      if (cannot === undefined)
        request.log.info({ runId: run.run_id, applicationId, kind: run.kind }, 'sync run requested');
      else request.log.warn({ runId: run.run_id, applicationId, reason: cannot }, 'sync run failed');
      return reply.status(201).send(present(run));
    },
  );

  // The rows of a file import that could not be read, by line, with why (the first 1,000 of them).
  app.get(
    '/runs/:id/errors',
    {
      config: { scope: 'read' },
      schema: {
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        querystring: Type.Object({ limit: LimitQuery, after: AfterQuery }, { additionalProperties: false }),
      },
    },
    async (request) => {
      const { tenantId } = request.principal;
      const k = request.em.getKysely();
      const { rows: runs } = await sql<{ rejected: number }>`
        select rejected from import_run where tenant_id = ${tenantId} and run_id = ${request.params.id}`.execute(
        k,
      );
      const run = runs[0];
      if (run === undefined)
        throw new NotFoundError(`sync run ${request.params.id} not found`, {
          details: { runId: request.params.id },
        });
      const limit = pageSize(request.query.limit);
      const after = decodeCursor(request.query.after, 'bigint');
      const { rows } = await sql<{ line: number; reason: string }>`
        select line, reason from import_run_error
        where run_id = ${request.params.id} ${after === undefined ? sql`` : sql`and line > ${after}`}
        order by line limit ${limit + 1}`.execute(k);
      return {
        rejected: run.rejected,
        ...page(
          rows,
          limit,
          (row) => String(row.line),
          (row) => row,
        ),
      };
    },
  );

  app.get(
    '/runs/:id/deletions',
    {
      config: { scope: 'read' },
      schema: {
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        querystring: Type.Object({ limit: LimitQuery, after: AfterQuery }, { additionalProperties: false }),
      },
    },
    async (request) => {
      const { tenantId } = request.principal;
      const k = request.em.getKysely();
      const { rows: runs } = await sql<{ status: string }>`
        select status from import_run where tenant_id = ${tenantId} and run_id = ${request.params.id}`.execute(
        k,
      );
      if (runs[0] === undefined)
        throw new NotFoundError(`sync run ${request.params.id} not found`, {
          details: { runId: request.params.id },
        });
      const limit = pageSize(request.query.limit);
      const after = decodeCursor(request.query.after);
      const { rows } = await sql<{
        external_id: string;
        object_class: string;
        attributes: Record<string, unknown> | null;
        identity_id: string | null;
        deleted: boolean | null;
      }>`
        select h.external_id, h.object_class, r.attributes, r.identity_id, r.deleted
        from import_run_held_deletion h
        left join repository_object r on r.tenant_id = h.tenant_id and r.application_id = h.application_id
          and r.external_id = h.external_id
        where h.tenant_id = ${tenantId} and h.run_id = ${request.params.id}
          ${after === undefined ? sql`` : sql`and h.external_id > ${after}`}
        order by h.external_id limit ${limit + 1}`.execute(k);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        runStatus: runs[0].status,
        items: page.map((row) => ({
          externalId: row.external_id,
          objectClass: row.object_class,
          attributes: row.attributes ?? {},
          identityId: row.identity_id,
          // Deleted since (by a delete message, or a later run): a release leaves it as it is.
          deleted: row.deleted ?? true,
        })),
        nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last.external_id) : null,
      };
    },
  );

  app.post(
    '/runs/:id/release',
    {
      config: { scope: 'approve' },
      schema: { params: Type.Object({ id: Type.String({ format: 'uuid' }) }) },
    },
    async (request) => {
      const { tenantId, serviceAccountId } = request.principal;
      const runId = request.params.id;
      const run = await request.em.transactional(async (tx) => {
        const held = await lockHeldRun(tx, tenantId, runId);
        const { rows } = await sql<RunRow>`
          update import_run set status = 'completing', released = true, finished_at = null,
            reason = ${`released by ${serviceAccountId}: ${held.reason ?? ''}`}
          where run_id = ${runId} returning ${columns}`.execute(tx.getKysely());
        // Its completed marker again: the Import stage completes the run in one transaction, deleting what it
        // recorded, through the same path as any completion (leavers and their timers included).
        const at = new Date().toISOString();
        const data: MessageData<'joinery.import.run.v1'> = {
          tenantId,
          applicationId: held.application_id,
          runId,
          kind: 'full',
          phase: 'completed',
          at,
          ...(held.object_count === null ? {} : { objectCount: held.object_count }),
        };
        await insertOutbox(tx, [
          adminRow(logstream, request.principal, `run/${runId}/released`, at, {
            category: 'import',
            outcome: 'succeeded',
            message: 'held sync run released: its recorded deletions go ahead',
            runId,
            applicationId: held.application_id,
            decidedBy: { kind: 'manual', name: `service-account:${serviceAccountId}` },
          }),
          outboxMessage(importsTopic, {
            id: `release/${runId}`,
            type: 'joinery.import.run.v1',
            source: API_SOURCE,
            time: at,
            tenantId,
            data,
          }),
        ]);
        return rows[0] ?? held;
      });
      request.log.info({ runId, applicationId: run.application_id }, 'held sync run released');
      return present(run);
    },
  );

  app.post(
    '/runs/:id/discard',
    {
      config: { scope: 'approve' },
      schema: { params: Type.Object({ id: Type.String({ format: 'uuid' }) }) },
    },
    async (request) => {
      const { tenantId, serviceAccountId } = request.principal;
      const runId = request.params.id;
      const run = await request.em.transactional(async (tx) => {
        const held = await lockHeldRun(tx, tenantId, runId);
        const k = tx.getKysely();
        await sql`delete from import_run_held_deletion where run_id = ${runId}`.execute(k);
        const { rows } = await sql<RunRow>`
          update import_run set status = 'discarded',
            reason = ${`discarded by ${serviceAccountId}: ${held.reason ?? ''}`}
          where run_id = ${runId} returning ${columns}`.execute(k);
        await tellAdminActions(tx, [
          adminRow(logstream, request.principal, `run/${runId}/discarded`, new Date().toISOString(), {
            category: 'import',
            outcome: 'skipped',
            message: 'held sync run discarded: nothing deleted',
            runId,
            applicationId: held.application_id,
            decidedBy: { kind: 'manual', name: `service-account:${serviceAccountId}` },
          }),
        ]);
        return rows[0] ?? held;
      });
      request.log.info({ runId, applicationId: run.application_id }, 'held sync run discarded');
      return present(run);
    },
  );
};
