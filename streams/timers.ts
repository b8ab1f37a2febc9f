// Durable timers: identity_timer rows that came due are moved, in one transaction, into the outbox as
// `schedules` messages for their identity. A crash before the commit leaves the rows to fire later; the
// relay may resend a message after a crash, and the identity ignores a timer it no longer expects.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { describeError } from '../kernel/errors.ts';
import { insertOutbox, outboxMessage } from './outbox.ts';

export interface TimerScheduler {
  /** Fires every timer due at the scheduler's clock now; returns how many. */
  fireDue(): Promise<number>;
  stop(): Promise<void>;
}

export function startTimerScheduler(deps: {
  em: EntityManager;
  schedulesTopic: string;
  logger: Logger;
  source: string;
  /** The time timers are compared with; injectable so tests can move it forward. */
  now?: () => Date;
  intervalMs?: number;
  batchSize?: number;
}): TimerScheduler {
  const now = deps.now ?? (() => new Date());
  const batchSize = deps.batchSize ?? 1000;
  const log = deps.logger.child({ component: 'timers' });

  const fireBatch = (): Promise<number> =>
    deps.em.fork().transactional(async (tx) => {
      const { rows } = await sql<{
        tenant_id: string;
        identity_id: string;
        timer_id: string;
        kind: string;
        due_at: Date;
      }>`
        delete from identity_timer t using (
          select tenant_id, identity_id, timer_id from identity_timer
          where due_at <= ${now()} order by due_at limit ${batchSize} for update skip locked
        ) due
        where t.tenant_id = due.tenant_id and t.identity_id = due.identity_id and t.timer_id = due.timer_id
        returning t.tenant_id, t.identity_id, t.timer_id, t.kind, t.due_at`.execute(tx.getKysely());
      await insertOutbox(
        tx,
        rows.map((row) => {
          const dueAt = new Date(row.due_at).toISOString();
          return outboxMessage(deps.schedulesTopic, {
            id: `timer/${row.identity_id}/${row.timer_id}`,
            type: 'joinery.schedule.fired.v1',
            source: deps.source,
            time: dueAt,
            tenantId: row.tenant_id,
            data: {
              tenantId: row.tenant_id,
              identityId: row.identity_id,
              timerId: row.timer_id,
              kind: 'deletion',
              dueAt,
            },
          });
        }),
      );
      return rows.length;
    });

  const fireDue = async (): Promise<number> => {
    let total = 0;
    for (;;) {
      const fired = await fireBatch();
      total += fired;
      if (fired < batchSize) return total;
    }
  };

  let running = true;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> = Promise.resolve();
  const tick = (): void => {
    current = fireDue()
      .then((fired) => {
        if (fired > 0) log.info({ fired }, 'timers fired');
      })
      .catch((error: unknown) => {
        log.warn({ err: error }, `firing timers failed, will retry: ${describeError(error)}`);
      })
      .finally(() => {
        if (running) timer = setTimeout(tick, deps.intervalMs ?? 1000);
      });
  };
  tick();
  return {
    fireDue,
    async stop() {
      running = false;
      clearTimeout(timer);
      await current;
    },
  };
}
