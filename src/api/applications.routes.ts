// Applications of the caller's tenant. Another tenant's application is simply not found (404).
import { randomUUID } from 'node:crypto';
import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { ConflictError, NotFoundError } from '../../kernel/errors.ts';
import { watchSettings, type CsvWatch } from '../connectors/csv/csv-settings.ts';
import { lookAtFolder } from '../connectors/csv/csv-watch.ts';
import { Application, applicationModes, applicationTypes } from '../storage/entities/application.entity.ts';
import { Tenant } from '../storage/entities/tenant.entity.ts';
import { ErrorBody, IdParams } from './common.schemas.ts';
import { joinStates } from './repository.routes.ts';

const ApplicationBody = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  type: Type.Enum(applicationTypes),
  mode: Type.Enum(applicationModes),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const CreateApplication = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    type: Type.Enum(applicationTypes),
    mode: Type.Optional(Type.Enum(applicationModes)),
  },
  { additionalProperties: false },
);

const UpdateApplication = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    mode: Type.Optional(Type.Enum(applicationModes)),
  },
  { additionalProperties: false, minProperties: 1 },
);

/**
 * An object's join state as the summary counts it: the states the Application Repository knows, and `none`
 * for an object no join was decided for (its object class is not joined by the plan, or the engine has not
 * looked at it yet).
 */
const countedJoinStates = [...joinStates, 'none'] as const;

const ObjectCountProperties = {
  /** Objects that are not deleted; joinStates splits them. */
  objects: Type.Integer({ minimum: 0 }),
  /** Every state above is present (0 when none); a state the repository holds beyond them is counted too. */
  joinStates: Type.Object(
    Object.fromEntries(countedJoinStates.map((state) => [state, Type.Integer({ minimum: 0 })])),
    { additionalProperties: Type.Integer({ minimum: 0 }) },
  ),
  /** Objects flagged deleted (a delete message, or a completed full run that did not see them). */
  deleted: Type.Integer({ minimum: 0 }),
};

const SummaryRun = Type.Object({
  id: Type.String({ format: 'uuid' }),
  /** full or delta; null until the run's first marker says which. */
  kind: Type.Union([Type.String(), Type.Null()]),
  status: Type.String(),
  reason: Type.Union([Type.String(), Type.Null()]),
  objectCount: Type.Union([Type.Integer(), Type.Null()]),
  seen: Type.Integer(),
  deletions: Type.Integer(),
  startedAt: Type.String({ format: 'date-time' }),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

const ApplicationSummary = Type.Object({
  applicationId: Type.String({ format: 'uuid' }),
  name: Type.String(),
  /** Every object class together. */
  objects: Type.Object(ObjectCountProperties),
  /** Per object class, ordered by its name. */
  objectClasses: Type.Array(Type.Object({ objectClass: Type.String(), ...ObjectCountProperties })),
  /** The last runs, newest first. */
  runs: Type.Array(SummaryRun),
  /**
   * A csv application's watched folder (csv.watch) as the service answering sees it now: `problem` when the
   * engine cannot read or write it (missing, not allowed), and the files waiting there; null without one.
   */
  watch: Type.Union([
    Type.Object({
      directory: Type.String(),
      pattern: Type.String(),
      pollSeconds: Type.Integer(),
      problem: Type.Union([Type.String(), Type.Null()]),
      waiting: Type.Integer({ minimum: 0 }),
    }),
    Type.Null(),
  ]),
});

interface ObjectCounts {
  objects: number;
  joinStates: Record<string, number>;
  deleted: number;
}

/** How many of the last runs the summary shows. */
const summaryRuns = 5;

interface CountRow {
  name: string;
  object_class: string | null;
  join_state: string | null;
  deleted: boolean | null;
  count: string;
}

interface SummaryRunRow {
  run_id: string;
  kind: string | null;
  status: string;
  reason: string | null;
  object_count: number | null;
  seen: number;
  deletions: number;
  started_at: Date;
  finished_at: Date | null;
}

function emptyCounts(): ObjectCounts {
  return {
    objects: 0,
    joinStates: Object.fromEntries(countedJoinStates.map((state) => [state, 0])),
    deleted: 0,
  };
}

function add(counts: ObjectCounts, row: CountRow): void {
  const count = Number(row.count);
  if (row.deleted === true) {
    counts.deleted += count;
    return;
  }
  const state = row.join_state ?? 'none';
  counts.objects += count;
  counts.joinStates[state] = (counts.joinStates[state] ?? 0) + count;
}

/**
 * The application's objects counted by object class, join state and deletion, and its last runs: two
 * statements. The first also answers whether the application is the caller's tenant's (no row: 404); the
 * primary key (tenant, application, external id) bounds its scan to the application's objects.
 */
async function summarize(
  em: EntityManager,
  tenantId: string,
  applicationId: string,
): Promise<Static<typeof ApplicationSummary>> {
  const k = em.getKysely();
  const { rows } = await sql<CountRow>`
    select a.name, o.object_class, o.join_state, o.deleted, count(o.external_id) as count
    from application a
    left join repository_object o on o.tenant_id = a.tenant_id and o.application_id = a.id
    where a.tenant_id = ${tenantId} and a.id = ${applicationId}
    group by a.name, o.object_class, o.join_state, o.deleted`.execute(k);
  const first = rows[0];
  if (first === undefined)
    throw new NotFoundError(`application ${applicationId} not found`, { details: { applicationId } });
  const total = emptyCounts();
  const byClass = new Map<string, ObjectCounts>();
  // An application without objects is one row whose object class is null.
  for (const row of rows) {
    if (row.object_class === null) continue;
    add(total, row);
    let counts = byClass.get(row.object_class);
    if (counts === undefined) byClass.set(row.object_class, (counts = emptyCounts()));
    add(counts, row);
  }
  const { rows: runs } = await sql<SummaryRunRow>`
    select run_id, kind, status, reason, object_count, seen, deletions, started_at, finished_at
    from import_run
    where tenant_id = ${tenantId} and application_id = ${applicationId}
    order by started_at desc, run_id limit ${summaryRuns}`.execute(k);
  const { rows: watched } = await sql<{ watch: CsvWatch | null }>`
    select e.application->'csv'->'watch' as watch
    from plan_version p, jsonb_array_elements(p.document->'applications') as e(application)
    where p.tenant_id = ${tenantId}
      and p.version = (select max(version) from plan_version where tenant_id = ${tenantId})
      and e.application->>'name' = ${first.name}`.execute(k);
  const watch = watched[0]?.watch ?? null;
  const look = watch === null ? undefined : await lookAtFolder(watch);
  return {
    applicationId,
    name: first.name,
    objects: total,
    objectClasses: [...byClass]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([objectClass, counts]) => ({ objectClass, ...counts })),
    runs: runs.map((run) => ({
      id: run.run_id,
      kind: run.kind,
      status: run.status,
      reason: run.reason,
      objectCount: run.object_count,
      seen: run.seen,
      deletions: run.deletions,
      startedAt: new Date(run.started_at).toISOString(),
      finishedAt: run.finished_at === null ? null : new Date(run.finished_at).toISOString(),
    })),
    watch:
      watch === null || look === undefined
        ? null
        : { ...watchSettings(watch), problem: look.problem, waiting: look.files.length },
  };
}

function present(application: Application): Static<typeof ApplicationBody> {
  return {
    id: application.id,
    name: application.name,
    type: application.type,
    mode: application.mode,
    createdAt: application.createdAt.toISOString(),
    updatedAt: application.updatedAt.toISOString(),
  };
}

/**
 * The version of the plan in force when it names the application: the engine takes such an application's
 * mode from the plan, and finds it by its name there.
 */
async function planNaming(em: EntityManager, tenantId: string, name: string): Promise<number | undefined> {
  const { rows } = await sql<{ version: number }>`
    select p.version from plan_version p
    where p.tenant_id = ${tenantId}
      and p.version = (select max(version) from plan_version where tenant_id = ${tenantId})
      and exists (select 1 from jsonb_array_elements(p.document->'applications') as a(application)
                  where a.application->>'name' = ${name})`.execute(em.getKysely());
  return rows[0]?.version;
}

export const applicationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/',
    {
      config: { scope: 'read' },
      schema: { response: { 200: Type.Object({ items: Type.Array(ApplicationBody) }) } },
    },
    async (request) => {
      const applications = await request.em.find(Application, {}, { orderBy: { name: 'asc' } });
      return { items: applications.map(present) };
    },
  );

  app.post(
    '/',
    {
      config: { scope: 'write' },
      schema: { body: CreateApplication, response: { 201: ApplicationBody, 409: ErrorBody } },
    },
    async (request, reply) => {
      const now = new Date();
      const application = request.em.create(Application, {
        id: randomUUID(),
        tenant: request.em.getReference(Tenant, request.principal.tenantId),
        name: request.body.name,
        type: request.body.type,
        mode: request.body.mode ?? 'sandbox',
        createdAt: now,
        updatedAt: now,
      });
      await flushUnique(request.em, `an application named "${request.body.name}" already exists`);
      return reply.status(201).send(present(application));
    },
  );

  app.get(
    '/:id',
    {
      config: { scope: 'read' },
      schema: { params: IdParams, response: { 200: ApplicationBody, 404: ErrorBody } },
    },
    async (request) => present(await findApplication(request.em, request.params.id)),
  );

  app.get(
    '/:id/summary',
    {
      config: { scope: 'read' },
      schema: { params: IdParams, response: { 200: ApplicationSummary, 404: ErrorBody } },
    },
    async (request) => summarize(request.em, request.principal.tenantId, request.params.id),
  );

  app.patch(
    '/:id',
    {
      config: { scope: 'write' },
      schema: {
        params: IdParams,
        body: UpdateApplication,
        response: { 200: ApplicationBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const application = await findApplication(request.em, request.params.id);
      const plan = await planNaming(request.em, request.principal.tenantId, application.name);
      if (plan !== undefined)
        throw new ConflictError(
          `application "${application.name}" is defined by the sync plan (version ${String(plan)}): change its name or mode there and apply it`,
          { details: { planVersion: plan } },
        );
      request.em.assign(application, request.body);
      await flushUnique(request.em, `an application named "${request.body.name ?? ''}" already exists`);
      return present(application);
    },
  );

  app.delete(
    '/:id',
    {
      config: { scope: 'write' },
      schema: { params: IdParams, response: { 204: Type.Null(), 404: ErrorBody, 409: ErrorBody } },
    },
    async (request, reply) => {
      const application = await findApplication(request.em, request.params.id);
      // An application of the plan in force would come back with a new id at the next apply, its repository
      // and joins left behind under the old one: it is removed from the plan, not here.
      const plan = await planNaming(request.em, request.principal.tenantId, application.name);
      if (plan !== undefined)
        throw new ConflictError(
          `application "${application.name}" is defined by the sync plan (version ${String(plan)}): remove it from the plan and apply it`,
          { details: { planVersion: plan } },
        );
      await request.em.remove(application).flush();
      return reply.status(204).send(null);
    },
  );
};

async function findApplication(em: EntityManager, id: string): Promise<Application> {
  // The tenant filter on em makes another tenant's application indistinguishable from a missing one.
  const application = await em.findOne(Application, { id });
  if (application === null)
    throw new NotFoundError(`application ${id} not found`, { details: { applicationId: id } });
  return application;
}

async function flushUnique(em: EntityManager, message: string): Promise<void> {
  try {
    await em.flush();
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException)
      throw new ConflictError(message, { cause: error });
    throw error;
  }
}
