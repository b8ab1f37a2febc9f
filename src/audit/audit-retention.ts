// Keeping the audit history's partitions: the coming days' partitions exist before their events arrive,
// the days every tenant's retention has passed are dropped whole, and a tenant whose retention is shorter
// than the longest loses its older events in bounded batches (never one long delete). Each tenant's
// retention is its sync plan's audit.retentionDays, else the service's audit.retentionDays.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { describeError } from '../../kernel/errors.ts';
import { daysFrom, dropPartitionsBefore, ensurePartitions } from './audit-partitions.ts';

const DAY_MS = 86_400_000;
/** Rows deleted per statement (each its own transaction) when a tenant's retention is the shorter one. */
export const RETENTION_BATCH = 5_000;

/** Each tenant's retention in days (those without their own get the default). */
export async function tenantRetention(em: EntityManager, defaultDays: number): Promise<Map<string, number>> {
  const { rows } = await sql<{ id: string; days: number | null }>`
    select t.id, (p.document->'audit'->>'retentionDays')::int as days
    from tenant t
    left join lateral (
      select document from plan_version v where v.tenant_id = t.id order by v.version desc limit 1) p on true`.execute(
    em.getKysely(),
  );
  return new Map(rows.map((row) => [row.id, row.days ?? defaultDays]));
}

export interface RetentionOutcome {
  created: string[];
  dropped: string[];
  deleted: number;
}

/**
 * One pass: partitions for yesterday to `aheadDays` ahead, partitions older than the longest retention
 * dropped, the rest of each tenant's expired events deleted in batches.
 */
export async function keepAuditHistory(
  em: EntityManager,
  options: { retentionDays: number; now: Date; aheadDays?: number },
): Promise<RetentionOutcome> {
  const { now } = options;
  const created = await em
    .fork()
    .transactional((tx) =>
      ensurePartitions(tx, daysFrom(new Date(now.getTime() - DAY_MS), 2 + (options.aheadDays ?? 3))),
    );
  const retention = await tenantRetention(em.fork(), options.retentionDays);
  const longest = Math.max(options.retentionDays, ...retention.values());
  const dropped = await em
    .fork()
    .transactional((tx) => dropPartitionsBefore(tx, new Date(now.getTime() - longest * DAY_MS)));
  let deleted = 0;
  for (const [tenantId, days] of retention) {
    if (days >= longest) continue;
    const before = new Date(now.getTime() - days * DAY_MS);
    for (;;) {
      const result = await sql`
        delete from audit_event a using (
          select tenant_id, at, event_id from audit_event
          where tenant_id = ${tenantId} and at < ${before} limit ${RETENTION_BATCH}) d
        where a.tenant_id = d.tenant_id and a.at = d.at and a.event_id = d.event_id`.execute(em.getKysely());
      const count = Number(result.numAffectedRows ?? 0n);
      deleted += count;
      if (count < RETENTION_BATCH) break;
    }
  }
  return { created, dropped, deleted };
}

/** Runs keepAuditHistory at start and then every `intervalMs` (an hour by default). */
export function startAuditRetention(options: {
  em: EntityManager;
  logger: Logger;
  retentionDays: number;
  intervalMs?: number;
  now?: () => Date;
}): { stop(): Promise<void> } {
  const log = options.logger.child({ component: 'audit' });
  const now = options.now ?? (() => new Date());
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = keepAuditHistory(options.em, { retentionDays: options.retentionDays, now: now() })
      .then((outcome) => {
        if (outcome.dropped.length > 0 || outcome.deleted > 0)
          log.info(outcome, 'audit history: expired events removed');
      })
      .catch((error: unknown) => {
        log.warn(
          { err: error },
          `audit history retention failed, trying again later: ${describeError(error)}`,
        );
      });
  };
  tick();
  const timer = setInterval(tick, options.intervalMs ?? 3_600_000);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
