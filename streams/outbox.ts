// The transactional outbox: messages decided inside a processing transaction are written to the outbox
// table in that transaction, and a relay publishes them to Kafka after it commits. One relay runs at a
// time (a PostgreSQL advisory lock), so messages with the same key leave in the order they were decided.
import type { EntityManager } from '@mikro-orm/postgresql';
import type { IHeaders } from 'kafkajs';
import type { BusProducer } from './bus.ts';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { describeError, isRetriable } from '../src/errors.ts';

export interface OutboxRow {
  tenantId: string | null;
  topic: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** Writes rows in one statement, inside the caller's transaction (one JSON document, values base64). */
export async function insertOutbox(tx: EntityManager, rows: readonly OutboxRow[]): Promise<void> {
  if (rows.length === 0) return;
  const document = JSON.stringify(
    rows.map((row) => ({
      tenant_id: row.tenantId,
      topic: row.topic,
      key: row.key,
      value: row.value === null ? null : row.value.toString('base64'),
      headers: row.headers,
    })),
  );
  await sql`
    insert into outbox (tenant_id, topic, key, value, headers)
    select (e.row->>'tenant_id')::uuid, e.row->>'topic', e.row->>'key', decode(e.row->>'value', 'base64'), e.row->'headers'
    from jsonb_array_elements(${document}::jsonb) with ordinality as e(row, n)
    order by e.n`.execute(tx.getKysely());
  // The ids (hence the relay's publishing order) follow the order the effects were decided in.
}

/** Kafka headers as strings (binary header values are decoded as UTF-8). */
export function headersAsStrings(headers: IHeaders | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) result[name] = first.toString();
  }
  return result;
}

// Any constant: the key of the advisory lock only one relay holds at a time.
const RELAY_LOCK = 72_657_001;

/**
 * Every row of the outbox is inserted once and deleted once, so it is mostly dead tuples: a bulk load
 * leaves millions. Without a vacuum their heap and index entries are scanned by every relay batch and
 * inserts never reuse their space, and autovacuum may be off, or late (it waits for 20% of the table to be
 * dead, then sleeps between rounds). The relay therefore vacuums its own table after this many rows.
 */
const VACUUM_EVERY_ROWS = 50_000;

/** The most one produce request carries: half of Kafka's default max.message.bytes, headers included. */
const REQUEST_BYTES = 512 * 1024;

/** Consecutive runs of rows whose keys, values and headers add up to at most `budget` bytes (one row at least). */
export function byteBudgetChunks<
  R extends { key: string | null; value: Buffer | null; headers: Record<string, string> },
>(rows: readonly R[], budget: number): R[][] {
  const chunks: R[][] = [];
  let current: R[] = [];
  let bytes = 0;
  for (const row of rows) {
    let size = (row.value?.length ?? 0) + (row.key?.length ?? 0) + 70; // 70: a record's own overhead
    for (const [name, value] of Object.entries(row.headers)) size += name.length + value.length + 4;
    if (current.length > 0 && bytes + size > budget) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(row);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

export interface OutboxRelay {
  stop(): Promise<void>;
  /** Publishes what is in the outbox now; resolves when it is empty or another relay holds the lock. */
  drain(): Promise<number>;
}

export function startOutboxRelay(deps: {
  em: EntityManager;
  producer: BusProducer;
  logger: Logger;
  batchSize?: number;
  idleMs?: number;
  vacuumEveryRows?: number;
}): OutboxRelay {
  const batchSize = deps.batchSize ?? 2000;
  const idleMs = deps.idleMs ?? 50;
  const vacuumEveryRows = deps.vacuumEveryRows ?? VACUUM_EVERY_ROWS;
  const log = deps.logger.child({ component: 'outbox-relay' });
  let running = true;
  let wake: (() => void) | undefined;
  let failures = 0;
  let sinceVacuum = 0;

  /** VACUUM cannot run in a transaction: on a pooled connection of its own; a failure is only logged. */
  const vacuum = async (): Promise<void> => {
    sinceVacuum = 0;
    const started = performance.now();
    try {
      await sql`vacuum (analyze, skip_locked) outbox`.execute(deps.em.getKysely());
      log.debug({ ms: Math.round(performance.now() - started) }, 'outbox vacuumed');
    } catch (error) {
      log.warn({ err: error }, `outbox vacuum failed (the relay goes on): ${describeError(error)}`);
    }
  };

  /** One transaction: lock, read a batch in id order, publish it, delete it. Returns rows published. */
  const publishBatch = async (): Promise<number> =>
    deps.em.fork().transactional(async (tx) => {
      const k = tx.getKysely();
      const locked = await sql<{
        locked: boolean;
      }>`select pg_try_advisory_xact_lock(${RELAY_LOCK}) as locked`.execute(k);
      if (locked.rows[0]?.locked !== true) return 0;
      // Taken out in one statement; the deletion only commits once Kafka has acknowledged the batch. A range
      // of the primary key (the first rows visible to this statement are exactly those up to the batch's
      // last id): with `id in (subquery)` and the outbox's statistics out of date, PostgreSQL chose a nested
      // loop that rescanned the batch for every row — 8 s per batch with a backlog of 70,000 rows.
      const { rows } = await sql<{
        id: string;
        topic: string;
        key: string | null;
        value: Buffer | null;
        headers: Record<string, string>;
      }>`
        delete from outbox where id <= (select max(id) from (select id from outbox order by id limit ${batchSize}) picked)
        returning id, topic, key, value, headers`.execute(k);
      rows.sort((a, b) => a.id.length - b.id.length || (a.id < b.id ? -1 : 1)); // numeric order of bigint ids
      if (rows.length === 0) return 0;
      // Published before the deletion commits: a crash in between republishes (same ce_id), never loses.
      // In requests of bounded size, one after the other (so in order): Kafka refuses a partition's batch
      // over max.message.bytes (1 MiB by default), and a batch of small rows that all share a key (the
      // logstream is keyed by tenant) would otherwise stop the relay for good.
      for (const chunk of byteBudgetChunks(rows, REQUEST_BYTES)) {
        const byTopic = new Map<
          string,
          { key: string | null; value: Buffer | null; headers: Record<string, string> }[]
        >();
        for (const row of chunk) {
          const messages = byTopic.get(row.topic) ?? [];
          messages.push({ key: row.key, value: row.value, headers: row.headers });
          byTopic.set(row.topic, messages);
        }
        try {
          await deps.producer.sendBatch({
            acks: -1,
            topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
          });
        } catch (error) {
          const [only] = chunk;
          if (chunk.length !== 1 || only === undefined) throw error;
          // One message Kafka refuses stops the relay (nothing after it may overtake it): say which.
          throw new Error(
            `outbox row ${only.id} (topic ${only.topic}, key ${String(only.key)}, ${String(only.value?.length ?? 0)} bytes) could not be published: ${describeError(error)}`,
            { cause: error },
          );
        }
      }
      return rows.length;
    });

  const loop = async (): Promise<void> => {
    while (running) {
      let published: number;
      try {
        published = await publishBatch();
        failures = 0;
        sinceVacuum += published;
        if (sinceVacuum >= vacuumEveryRows) await vacuum();
      } catch (error) {
        failures++;
        const level = isRetriable(error) ? 'warn' : 'error';
        log[level]({ err: error, failures }, `outbox relay failed, retrying: ${describeError(error)}`);
        await pause(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
        continue;
      }
      if (published < batchSize) await pause(idleMs);
    }
  };

  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const done = loop();
  return {
    async drain() {
      let total = 0;
      for (;;) {
        const published = await publishBatch();
        total += published;
        if (published === 0) return total;
      }
    },
    async stop() {
      running = false;
      wake?.();
      await done;
    },
  };
}
