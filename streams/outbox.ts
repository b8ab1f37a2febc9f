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
}): OutboxRelay {
  const batchSize = deps.batchSize ?? 2000;
  const idleMs = deps.idleMs ?? 50;
  const log = deps.logger.child({ component: 'outbox-relay' });
  let running = true;
  let wake: (() => void) | undefined;
  let failures = 0;

  /** One transaction: lock, read a batch in id order, publish it, delete it. Returns rows published. */
  const publishBatch = async (): Promise<number> =>
    deps.em.fork().transactional(async (tx) => {
      const k = tx.getKysely();
      const locked = await sql<{
        locked: boolean;
      }>`select pg_try_advisory_xact_lock(${RELAY_LOCK}) as locked`.execute(k);
      if (locked.rows[0]?.locked !== true) return 0;
      // Taken out in one statement; the deletion only commits once Kafka has acknowledged the batch.
      const { rows } = await sql<{
        id: string;
        topic: string;
        key: string | null;
        value: Buffer | null;
        headers: Record<string, string>;
      }>`
        delete from outbox where id in (select id from outbox order by id limit ${batchSize})
        returning id, topic, key, value, headers`.execute(k);
      rows.sort((a, b) => a.id.length - b.id.length || (a.id < b.id ? -1 : 1)); // numeric order of bigint ids
      if (rows.length === 0) return 0;
      const byTopic = new Map<
        string,
        { key: string | null; value: Buffer | null; headers: Record<string, string> }[]
      >();
      for (const row of rows) {
        const messages = byTopic.get(row.topic) ?? [];
        messages.push({ key: row.key, value: row.value, headers: row.headers });
        byTopic.set(row.topic, messages);
      }
      // Published before the deletion commits: a crash in between republishes (same ce_id), never loses.
      await deps.producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      return rows.length;
    });

  const loop = async (): Promise<void> => {
    while (running) {
      let published: number;
      try {
        published = await publishBatch();
        failures = 0;
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
