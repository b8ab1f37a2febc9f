// Planner statistics for the tables a bulk load grows. The engine's batch queries look rows up by a set of
// keys (`identity_id = any($1)`); with statistics from when a table was small — or none, where autovacuum
// is off or has not come round yet — PostgreSQL reads the whole table for every batch instead of the index,
// and a million-record load turns quadratic (a 900,000-row outbound_object scanned for each batch of
// 2,000). So the engine analyzes its own tables as they grow, on the rule autovacuum's analyze uses, without
// waiting for its minute-long naps and whatever its settings are.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { describeError } from '../kernel/errors.ts';

/** The engine's tables that grow with the number of objects and identities. */
export const GROWING_TABLES = [
  'repository_object',
  'identity',
  'identity_source',
  'identity_join_key',
  'identity_timer',
  'outbound_object',
  'export_item',
] as const;

export interface StatisticsKeeperOptions {
  em: EntityManager;
  logger: Logger;
  tables?: readonly string[];
  /** How often the change counters are looked at; default 5 s. */
  intervalMs?: number;
  /** A table is analyzed once this many rows changed since its last analyze, plus `scaleFactor` of its size. */
  threshold?: number;
  scaleFactor?: number;
}

export interface StatisticsKeeper {
  /** Analyzes every table whose statistics are out of date now; resolves with their names. */
  check(): Promise<string[]>;
  stop(): Promise<void>;
}

export function startStatisticsKeeper(options: StatisticsKeeperOptions): StatisticsKeeper {
  const tables = options.tables ?? GROWING_TABLES;
  const intervalMs = options.intervalMs ?? 5000;
  const threshold = options.threshold ?? 5000;
  const scaleFactor = options.scaleFactor ?? 1;
  const log = options.logger.child({ component: 'table-statistics' });
  const k = options.em.getKysely();

  const check = async (): Promise<string[]> => {
    // reltuples is -1 until a table's first analyze (PostgreSQL 14+); n_mod_since_analyze counts the rows
    // inserted, updated and deleted since.
    const { rows } = await sql<{ table: string }>`
      select s.relname as table
      from pg_stat_user_tables s join pg_class c on c.oid = s.relid
      where s.schemaname = current_schema() and s.relname = any(${[...tables]}::text[])
        and s.n_mod_since_analyze > ${threshold} + ${scaleFactor} * greatest(c.reltuples, 0)`.execute(k);
    const analyzed: string[] = [];
    for (const { table } of rows) {
      const started = performance.now();
      // skip_locked: another engine instance (or autovacuum) analyzing the same table is as good.
      await sql`analyze (skip_locked) ${sql.id(table)}`.execute(k);
      analyzed.push(table);
      log.debug({ table, ms: Math.round(performance.now() - started) }, 'table analyzed');
    }
    return analyzed;
  };

  let running = true;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> = Promise.resolve();
  const tick = (): void => {
    current = check()
      .catch((error: unknown) => {
        log.warn(
          { err: error },
          `could not bring table statistics up to date (retried): ${describeError(error)}`,
        );
      })
      .finally(() => {
        if (running) timer = setTimeout(tick, intervalMs);
      });
  };
  timer = setTimeout(tick, intervalMs);

  return {
    check,
    async stop() {
      running = false;
      clearTimeout(timer);
      await current;
    },
  };
}
