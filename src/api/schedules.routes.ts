// Import schedules of the caller's tenant. Those the sync plan declares (origin "plan") are replaced when
// a plan version applies, so they are changed through the plan; those created here (origin "api") are
// kept across plan versions and deleted here.
import { randomUUID } from 'node:crypto';
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import { nextRun } from '../engine/orchestrator.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../kernel/errors.ts';
import { cronProblem } from '../plan/cron.ts';
import { IdParams } from './common.schemas.ts';
import { requireApplication } from './tenant-resources.ts';

const CreateSchedule = Type.Object(
  {
    applicationId: Type.String({ format: 'uuid' }),
    kind: Type.Enum(['full', 'delta']),
    everyMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 10080 })),
    cron: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);

interface ScheduleRow {
  id: string;
  application_id: string;
  kind: string;
  every_minutes: number | null;
  cron: string | null;
  origin: string;
  enabled: boolean;
  next_run_at: Date;
  last_run_at: Date | null;
  last_run_id: string | null;
  created_at: Date;
}

const columns = sql`id, application_id, kind, every_minutes, cron, origin, enabled, next_run_at, last_run_at,
  last_run_id, created_at`;

const iso = (value: Date | null) => (value === null ? null : new Date(value).toISOString());

function present(row: ScheduleRow) {
  return {
    id: row.id,
    applicationId: row.application_id,
    kind: row.kind,
    everyMinutes: row.every_minutes,
    cron: row.cron,
    origin: row.origin,
    enabled: row.enabled,
    nextRunAt: iso(row.next_run_at),
    lastRunAt: iso(row.last_run_at),
    lastRunId: row.last_run_id,
    createdAt: iso(row.created_at),
  };
}

export const scheduleRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/', { config: { scope: 'read' } }, async (request) => {
    const { rows } = await sql<ScheduleRow>`
      select ${columns} from schedule where tenant_id = ${request.principal.tenantId}
      order by application_id, kind, created_at, id`.execute(request.em.getKysely());
    return { items: rows.map(present) };
  });

  app.post('/', { config: { scope: 'write' }, schema: { body: CreateSchedule } }, async (request, reply) => {
    const { tenantId } = request.principal;
    const { applicationId, kind, everyMinutes, cron } = request.body;
    if ((everyMinutes === undefined) === (cron === undefined))
      throw new ValidationError('body must have exactly one of everyMinutes or cron');
    if (cron !== undefined) {
      const problem = cronProblem(cron);
      if (problem !== undefined) throw new ValidationError(`body/cron: ${problem}`, { details: { cron } });
    }
    await requireApplication(request.em, tenantId, applicationId);
    const now = new Date();
    const timing = { everyMinutes: everyMinutes ?? null, cron: cron ?? null };
    const { rows } = await sql<ScheduleRow>`
      insert into schedule (id, tenant_id, application_id, kind, every_minutes, cron, origin, enabled, next_run_at, created_at)
      values (${randomUUID()}, ${tenantId}, ${applicationId}, ${kind}, ${timing.everyMinutes}, ${timing.cron},
        'api', true, ${nextRun(timing, now)}, ${now})
      returning ${columns}`.execute(request.em.getKysely());
    const schedule = rows[0];
    if (schedule === undefined) throw new Error('insert into schedule returned no row');
    request.log.info({ scheduleId: schedule.id, applicationId, kind }, 'schedule created');
    return reply.status(201).send(present(schedule));
  });

  app.delete('/:id', { config: { scope: 'write' }, schema: { params: IdParams } }, async (request, reply) => {
    const { tenantId } = request.principal;
    const { id } = request.params;
    // Deletes only an API schedule; a plan schedule is found, refused, and named in the 409.
    const { rows } = await sql<{ origin: string; application_id: string; deleted: boolean }>`
      with target as (select id, origin, application_id from schedule where tenant_id = ${tenantId} and id = ${id}),
        removed as (delete from schedule s using target t where s.id = t.id and t.origin <> 'plan' returning s.id)
      select t.origin, t.application_id, exists (select 1 from removed) as deleted from target t`.execute(
      request.em.getKysely(),
    );
    const target = rows[0];
    if (target === undefined)
      throw new NotFoundError(`schedule ${id} not found`, { details: { scheduleId: id } });
    if (!target.deleted)
      throw new ConflictError(
        `schedule ${id} comes from the sync plan (application ${target.application_id}); change the plan's schedules for that application and apply it to remove it`,
        { details: { scheduleId: id, origin: target.origin } },
      );
    request.log.info({ scheduleId: id }, 'schedule deleted');
    return reply.status(204).send(null);
  });
};
