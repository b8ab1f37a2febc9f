// The orchestrator: durable schedules per application (every N minutes, or cron) request import runs.
// A due schedule fires inside one transaction that locks its row, records the requested run and moves
// next_run_at on — so several engine processes, or a restart mid-way, never fire it twice. A requested
// run is an import_run row with status "requested": the application's connector (the agent gateway, or
// a cloud connector through the API) claims it and imports under that run id.
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { describeError } from '../../kernel/errors.ts';
import { nextCronRun } from '../plan/cron.ts';
import { whyRunCannotStart } from '../connectors/connector.ts';
import type { SyncPlan } from '../plan/plan.schema.ts';
import type { PlanCache } from './plan-cache.ts';
import { createPlanReconciliation, type ReconciliationTarget } from './plan-reconciliation.ts';
import { createRejoinSweep, type RefeedTarget } from './rejoin.ts';
import { logRow, type LogstreamTarget } from '../../streams/logstream.ts';
import { insertOutbox, type OutboxRow } from '../../streams/outbox.ts';

export interface ScheduleTiming {
  everyMinutes: number | null;
  cron: string | null;
}

/** When a schedule fires next, strictly after `after`. */
export function nextRun(schedule: ScheduleTiming, after: Date): Date {
  if (schedule.cron !== null) return nextCronRun(schedule.cron, after);
  return new Date(after.getTime() + (schedule.everyMinutes ?? 60) * 60_000);
}

/** Fires the due schedules (in one transaction, rows locked); returns the runs requested. */
export async function fireDueSchedules(
  em: EntityManager,
  now: Date,
  limit = 100,
  /** Where each run requested is told; not told when absent. */
  logstream?: LogstreamTarget,
): Promise<
  { scheduleId: string; runId: string; applicationId: string; tenantId: string; failed?: string }[]
> {
  return em.fork().transactional(async (tx) => {
    const k = tx.getKysely();
    const { rows } = await sql<{
      id: string;
      tenant_id: string;
      application_id: string;
      kind: string;
      every_minutes: number | null;
      cron: string | null;
      name: string;
      type: string;
      connector: string | null;
    }>`
      select s.id, s.tenant_id, s.application_id, s.kind, s.every_minutes, s.cron, a.name, a.type, a.connector
      from schedule s join application a on a.id = s.application_id
      where s.enabled and s.next_run_at <= ${now}
      order by s.next_run_at limit ${limit}
      for update of s skip locked`.execute(k);
    const fired = [];
    const told: OutboxRow[] = [];
    for (const row of rows) {
      const runId = randomUUID();
      // A run its connector cannot start fails at once, saying why (src/connectors/connector.ts).
      const cannot = whyRunCannotStart(row.type, row.name, row.connector);
      await sql`
        insert into import_run (run_id, tenant_id, application_id, kind, status, reason, object_count, seen, deletions,
          started_at, finished_at)
        values (${runId}, ${row.tenant_id}, ${row.application_id}, ${row.kind},
          ${cannot === undefined ? 'requested' : 'failed'}, ${cannot ?? null}, null, 0, 0, ${now},
          ${cannot === undefined ? null : now})`.execute(k);
      await sql`
        update schedule set last_run_at = ${now}, last_run_id = ${runId},
          next_run_at = ${nextRun({ everyMinutes: row.every_minutes, cron: row.cron }, now)}
        where id = ${row.id}`.execute(k);
      if (logstream !== undefined)
        told.push(
          logRow(logstream, `schedule/${row.id}/${runId}`, {
            tenantId: row.tenant_id,
            at: now.toISOString(),
            level: cannot === undefined ? 'info' : 'warn',
            category: 'schedule',
            stage: 'schedule',
            outcome: cannot === undefined ? 'succeeded' : 'failed',
            message:
              cannot === undefined
                ? `schedule fired: ${row.kind} import run of ${row.name} requested`
                : `schedule fired: ${row.kind} import run of ${row.name} failed, its connector cannot start it`,
            runId,
            applicationId: row.application_id,
            actor: { kind: 'engine' },
            decidedBy: { kind: 'plan', name: `schedule ${row.id}` },
            ...(cannot === undefined ? {} : { reason: cannot.slice(0, 4096) }),
          }),
        );
      fired.push({
        scheduleId: row.id,
        runId,
        applicationId: row.application_id,
        tenantId: row.tenant_id,
        ...(cannot === undefined ? {} : { failed: cannot }),
      });
    }
    await insertOutbox(tx, told);
    return fired;
  });
}

export function startOrchestrator(deps: {
  em: EntityManager;
  logger: Logger;
  now?: () => Date;
  intervalMs?: number;
  /** Where the disconnector sweep re-feeds objects (src/engine/rejoin.ts); no sweep without it. */
  rejoin?: RefeedTarget;
  /**
   * Where plan reconciliation sends identities, and the plans its Vault groups are decided with
   * (src/engine/plan-reconciliation.ts); none without it.
   */
  reconcile?: ReconciliationTarget & { plans: PlanCache };
  /** Where the runs schedules request are told (the logstream). */
  logstream?: LogstreamTarget;
}): { stop(): Promise<void>; tick(): Promise<number> } {
  const log = deps.logger.child({ component: 'orchestrator' });
  const rejoin = deps.rejoin && createRejoinSweep({ ...deps.rejoin, em: deps.em, logger: log });
  const now = deps.now ?? (() => new Date());
  const reconcile =
    deps.reconcile &&
    createPlanReconciliation({
      ...(deps.logstream === undefined ? {} : { logstream: deps.logstream }),
      ...deps.reconcile,
      em: deps.em,
      logger: log,
      now,
    });
  let running: Promise<number> = Promise.resolve(0);
  const tick = (): Promise<number> => {
    running = running.then(async () => {
      const fired = await fireDueSchedules(deps.em, now(), 100, deps.logstream);
      for (const run of fired)
        if (run.failed === undefined) log.info(run, 'schedule fired: import run requested');
        else log.warn(run, 'schedule fired: import run failed, its connector cannot start it');
      await rejoin?.tick();
      await reconcile?.tick();
      return fired.length;
    });
    return running;
  };
  const timer = setInterval(() => {
    tick().catch((error: unknown) => {
      // PostgreSQL unreachable for a moment: the next tick tries again, nothing was half-fired.
      log.warn({ error: describeError(error) }, 'orchestrator tick failed; retrying');
      running = Promise.resolve(0);
    });
  }, deps.intervalMs ?? 5_000);
  timer.unref();
  return {
    tick,
    async stop() {
      clearInterval(timer);
      await running.catch(() => 0);
    },
  };
}

/**
 * Requested runs handed to a connector for some of its applications: each is claimed once (status moves
 * to running); the connector then imports under that run id, with its started/completed markers.
 */
export async function claimRequestedRuns(
  em: EntityManager,
  options: { tenantId: string; applicationIds: string[]; leaseMs: number; now?: Date },
): Promise<{ runId: string; applicationId: string; kind: 'full' | 'delta' }[]> {
  if (options.applicationIds.length === 0) return [];
  const now = options.now ?? new Date();
  const leaseUntil = new Date(now.getTime() + options.leaseMs);
  return em.fork().transactional(async (tx) => {
    const k = tx.getKysely();
    await requestLostRunsAgain(tx, options.tenantId, options.applicationIds, now);
    const { rows } = await sql<{ run_id: string; application_id: string; kind: 'full' | 'delta' }>`
      update import_run set status = 'running', lease_until = ${leaseUntil}
      where run_id in (
        select run_id from import_run
        where tenant_id = ${options.tenantId} and application_id = any(${options.applicationIds}::uuid[])
          and status = 'requested'
        order by started_at for update skip locked)
      returning run_id, application_id, kind`.execute(k);
    return rows.map((row) => ({ runId: row.run_id, applicationId: row.application_id, kind: row.kind }));
  });
}

/**
 * Runs whose engine process stopped renewing their lease mid-read (it crashed or was killed): each is
 * aborted, saying why — nothing is deleted for an aborted run — and requested again as a new run of the same kind.
 */
async function requestLostRunsAgain(
  tx: EntityManager,
  tenantId: string,
  applicationIds: string[],
  now: Date,
): Promise<void> {
  await sql`
    with lost as (
      update import_run r set status = 'aborted', finished_at = ${now}, lease_until = null,
        reason = 'the engine process reading it stopped before it finished (its lease ran out at ' ||
          to_char(r.lease_until at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ', after ' || r.sent ||
          ' objects); nothing was deleted, and the run was requested again'
      where r.run_id in (
        select run_id from import_run
        where tenant_id = ${tenantId} and application_id = any(${applicationIds}::uuid[])
          and status = 'running' and lease_until < ${now}
        for update skip locked)
      returning r.tenant_id, r.application_id, r.kind)
    insert into import_run (run_id, tenant_id, application_id, kind, status, object_count, seen, deletions, started_at)
    select gen_random_uuid(), tenant_id, application_id, kind, 'requested', null, 0, 0, ${now} from lost`.execute(
    tx.getKysely(),
  );
}

/** Keeps a run's lease while its connector reads it; `null` once every object is sent (the engine completes it). */
export async function renewRunLease(
  em: EntityManager,
  runId: string,
  leaseMs: number | null,
  now: Date = new Date(),
): Promise<void> {
  await sql`update import_run set lease_until = ${leaseMs === null ? null : new Date(now.getTime() + leaseMs)}
    where run_id = ${runId} and status = 'running'`.execute(em.getKysely());
}

/**
 * Makes the plan's schedules the tenant's "plan" schedules: unchanged ones keep their next run, new ones
 * start counting from now, removed ones go. Schedules created through the API are left alone.
 */
export async function syncPlanSchedules(
  tx: EntityManager,
  tenantId: string,
  plan: SyncPlan,
  applicationIds: Map<string, string>,
  now: Date,
): Promise<void> {
  const k = tx.getKysely();
  const wanted = plan.applications.flatMap((application) =>
    (application.schedules ?? []).map((schedule) => ({
      application_id: applicationIds.get(application.name),
      kind: schedule.kind,
      every_minutes: schedule.everyMinutes ?? null,
      cron: schedule.cron ?? null,
    })),
  );
  const document = JSON.stringify(wanted.filter((row) => row.application_id !== undefined));
  await sql`
    delete from schedule s where s.tenant_id = ${tenantId} and s.origin = 'plan' and not exists (
      select 1 from jsonb_to_recordset(${document}::jsonb) as u(application_id uuid, kind text, every_minutes int, cron text)
      where u.application_id = s.application_id and u.kind = s.kind
        and u.every_minutes is not distinct from s.every_minutes and u.cron is not distinct from s.cron)`.execute(
    k,
  );
  const { rows: kept } = await sql<{
    application_id: string;
    kind: string;
    every_minutes: number | null;
    cron: string | null;
  }>`
    select application_id, kind, every_minutes, cron from schedule where tenant_id = ${tenantId} and origin = 'plan'`.execute(
    k,
  );
  const keyOf = (row: {
    application_id?: string;
    kind: string;
    every_minutes: number | null;
    cron: string | null;
  }) => `${row.application_id ?? ''}|${row.kind}|${String(row.every_minutes)}|${String(row.cron)}`;
  const existing = new Set(kept.map(keyOf));
  for (const row of wanted) {
    if (row.application_id === undefined || existing.has(keyOf(row))) continue;
    existing.add(keyOf(row));
    await sql`
      insert into schedule (id, tenant_id, application_id, kind, every_minutes, cron, origin, enabled, next_run_at, created_at)
      values (${randomUUID()}, ${tenantId}, ${row.application_id}, ${row.kind}, ${row.every_minutes}, ${row.cron},
        'plan', true, ${nextRun({ everyMinutes: row.every_minutes, cron: row.cron }, now)}, ${now})`.execute(
      k,
    );
  }
}
