// The transactional outbox: messages decided inside a processing transaction are written to the outbox
// table in that transaction, and a relay publishes them to Kafka after it commits. One relay runs at a
// time (a PostgreSQL advisory lock), so messages with the same key leave in the order they were decided.
import type { EntityManager } from '@mikro-orm/postgresql';
import type { IHeaders } from 'kafkajs';
import type { Bus } from './bus.ts';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { describeError, isRetriable } from '../kernel/errors.ts';
import { backoffDelay, type BackoffPolicy } from '../kernel/retry.ts';
import { createOrderedProducer } from './ordered-producer.ts';
import { recordHeaders, recordKey, type Envelope } from './cloudevents.ts';
import { isMessageType, schemaUrl, type MessageType } from '../kernel/contracts/messages.ts';

export interface OutboxRow {
  tenantId: string | null;
  topic: string;
  key: string | null;
  /**
   * A JSON value (a CloudEvent's data, published as its JSON text in UTF-8), text (published as UTF-8) or
   * bytes (e.g. a dead letter's original value).
   */
  value: JsonValue | string | Buffer | null;
  headers: Record<string, string>;
}

/**
 * A value the outbox stores as JSON and the relay publishes as `JSON.stringify(json)`: serialised once, with
 * the rest of its outbox row, rather than once to text and again, escaped, as a string inside the row.
 */
export interface JsonValue {
  readonly json: unknown;
}

/** A message as the relay publishes it: the value as text or bytes. */
export interface PublishedRow extends Omit<OutboxRow, 'value'> {
  value: string | Buffer | null;
}

/**
 * Writes the rows as one outbox row, inside the caller's transaction: a JSON array in decision order. One
 * row per transaction, not per message: a batch of 2,000 identities leaves one tuple for the relay to read
 * and delete instead of 2,000 (with their index entries and dead tuples), which is what kept the relay
 * behind a million-record load.
 */
export async function insertOutbox(tx: EntityManager, rows: readonly OutboxRow[]): Promise<void> {
  if (rows.length === 0) return;
  const document = JSON.stringify(rows.map(toStored));
  await sql`insert into outbox (messages, message_count) values (${document}::json, ${rows.length})`.execute(
    tx.getKysely(),
  );
}

/**
 * A message decided in a transaction, as an outbox row: encoded as a CloudEvent, keyed by its contract (so
 * an object's or an identity's messages keep their order on one partition).
 */
export function outboxMessage<T extends MessageType>(topic: string, envelope: Envelope<T>): OutboxRow {
  const { tenantId, data } = envelope;
  return {
    tenantId,
    topic,
    key: recordKey(envelope),
    value: { json: data },
    headers: recordHeaders(envelope),
  };
}

/**
 * A message as the outbox stores it (the JSON shape the outbox_message view reads too): a JSON value as
 * JSON, a text value as it is, bytes in base64. The row is serialised once, so a CloudEvent's data costs
 * neither escaped quotes (as text) nor a third more (as base64), and the row's lz4 compression finds its
 * repeated keys. A CloudEvent's headers are stored as `ce`, its id, type, source and time (the rest follows
 * from them and the tenant): a third of a message's bytes otherwise, written, logged and parsed again.
 * Rows written before 2026-12-04 hold `text` or `value`, and `headers`; they are read the same.
 */
interface StoredMessage {
  tenantId: string | null;
  topic: string;
  key: string | null;
  json?: unknown;
  text?: string;
  value?: string | null;
  ce?: [id: string, type: MessageType, source: string, time: string];
  headers?: Record<string, string>;
}

const CLOUD_EVENT_HEADERS = 8;

/** The headers as `ce`, when they are exactly the headers `recordHeaders` gives a CloudEvent of this tenant. */
function cloudEventOf(
  tenantId: string | null,
  headers: Record<string, string>,
): StoredMessage['ce'] | undefined {
  const { ce_id: id, ce_type: type, ce_source: source, ce_time: time } = headers;
  if (
    tenantId === null ||
    id === undefined ||
    type === undefined ||
    source === undefined ||
    time === undefined ||
    headers.ce_specversion !== '1.0' ||
    headers.ce_tenantid !== tenantId ||
    headers['content-type'] !== 'application/json' ||
    !isMessageType(type) ||
    headers.ce_dataschema !== schemaUrl(type)
  )
    return undefined;
  return Object.keys(headers).length === CLOUD_EVENT_HEADERS ? [id, type, source, time] : undefined;
}

function toStored(row: OutboxRow): StoredMessage {
  const { tenantId, topic, key, value } = row;
  const ce = cloudEventOf(tenantId, row.headers);
  const stored: StoredMessage =
    ce === undefined ? { tenantId, topic, key, headers: row.headers } : { tenantId, topic, key, ce };
  if (value === null) stored.value = null;
  else if (typeof value === 'string') stored.text = value;
  else if (Buffer.isBuffer(value)) stored.value = value.toString('base64');
  else stored.json = value.json;
  return stored;
}

/**
 * The stored JSON is the row's own serialisation, read back by the driver's `JSON.parse`: serialising it
 * again gives the bytes `JSON.stringify` gave the data (same key order, same numbers and strings).
 */
function fromStored(stored: StoredMessage): PublishedRow {
  const { tenantId, topic, key, ce } = stored;
  const headers =
    ce === undefined || tenantId === null
      ? (stored.headers ?? {})
      : recordHeaders({ id: ce[0], type: ce[1], source: ce[2], time: ce[3], tenantId });
  if (stored.json !== undefined) return { tenantId, topic, key, value: JSON.stringify(stored.json), headers };
  if (stored.text !== undefined) return { tenantId, topic, key, value: stored.text, headers };
  const value =
    stored.value === undefined || stored.value === null ? null : Buffer.from(stored.value, 'base64');
  return { tenantId, topic, key, value, headers };
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
 * Every row of the outbox is inserted once and deleted once, so it is mostly dead tuples (and dead TOAST
 * chunks: a row of 2,000 messages is stored out of line). Without a vacuum they are scanned by every relay
 * batch and inserts never reuse their space, and autovacuum may be off, or late (it waits for 20% of the
 * table to be dead, then sleeps between rounds). The relay therefore vacuums its own table after this many
 * messages.
 */
const VACUUM_EVERY_MESSAGES = 50_000;

/** The most one produce request carries: half of Kafka's default max.message.bytes, headers included. */
const REQUEST_BYTES = 512 * 1024;

/** At most this many outbox rows per relay transaction, however few messages they hold. */
const MAX_ROWS_PER_BATCH = 256;

function valueBytes(value: string | Buffer | null): number {
  if (value === null) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}

/** Consecutive runs of rows whose keys, values and headers add up to at most `budget` bytes (one row at least). */
export function byteBudgetChunks<
  R extends { key: string | null; value: string | Buffer | null; headers: Record<string, string> },
>(rows: readonly R[], budget: number): R[][] {
  const chunks: R[][] = [];
  let current: R[] = [];
  let bytes = 0;
  for (const row of rows) {
    let size = valueBytes(row.value) + (row.key?.length ?? 0) + 70; // 70: a record's own overhead
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

// Equal jitter: a database or broker that failed the relay gets a pause before it tries again, never none
// (full jitter could); one relay runs at a time, so there is no crowd of retries to spread out.
const relayBackoff: BackoffPolicy = { initialDelayMs: 200, maxDelayMs: 5_000, jitter: 'equal' };

/**
 * Publishes the outbox, with a producer of its own that keeps a partition's messages in order and is
 * replaced after a failed send (streams/ordered-producer.ts).
 */
export function startOutboxRelay(deps: {
  em: EntityManager;
  bus: Pick<Bus, 'producer'>;
  logger: Logger;
  /** Messages per transaction (whole outbox rows: at least one row, then rows until this many). */
  batchSize?: number;
  idleMs?: number;
  vacuumEveryMessages?: number;
}): OutboxRelay {
  const batchSize = deps.batchSize ?? 5000;
  const idleMs = deps.idleMs ?? 50;
  const vacuumEveryMessages = deps.vacuumEveryMessages ?? VACUUM_EVERY_MESSAGES;
  const log = deps.logger.child({ component: 'outbox-relay' });
  let running = true;
  let wake: (() => void) | undefined;
  let failures = 0;
  let sinceVacuum = 0;
  const producer = createOrderedProducer(deps.bus);

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

  /** One transaction: lock, read a batch in id order, publish it, delete it. Returns the messages published. */
  const publishBatch = async (): Promise<number> => {
    await producer.connect();
    return deps.em.fork().transactional(async (tx) => {
      const k = tx.getKysely();
      const locked = await sql<{
        locked: boolean;
      }>`select pg_try_advisory_xact_lock(${RELAY_LOCK}) as locked`.execute(k);
      if (locked.rows[0]?.locked !== true) return 0;
      // Taken out in one statement, as a range of the primary key (the first rows visible to this statement
      // are exactly those up to the batch's last id; `id in (subquery)` became a nested loop per row when the
      // statistics were out of date): the oldest rows until they hold `batchSize` messages, one row at least.
      // The deletion only commits once Kafka has acknowledged every message.
      const { rows: taken } = await sql<{ id: string; messages: StoredMessage[] }>`
        delete from outbox where id <= (
          select max(id) from (
            select id, sum(message_count) over (order by id) - message_count as before
            from outbox order by id limit ${MAX_ROWS_PER_BATCH}) oldest
          where before < ${batchSize})
        returning id, messages`.execute(k);
      if (taken.length === 0) return 0;
      taken.sort((a, b) => a.id.length - b.id.length || (a.id < b.id ? -1 : 1)); // numeric order of bigint ids
      const rows = taken.flatMap((row) =>
        row.messages.map((message, index) => ({ ...fromStored(message), id: `${row.id}.${String(index)}` })),
      );
      // Published before the deletion commits: a crash in between republishes (same ce_id), never loses.
      // In requests of bounded size, one after the other (so in order): Kafka refuses a partition's batch
      // over max.message.bytes (1 MiB by default), and a batch of small rows that all share a key (the
      // logstream is keyed by tenant) would otherwise stop the relay for good.
      for (const chunk of byteBudgetChunks(rows, REQUEST_BYTES)) {
        const byTopic = new Map<
          string,
          { key: string | null; value: string | Buffer | null; headers: Record<string, string> }[]
        >();
        for (const row of chunk) {
          const messages = byTopic.get(row.topic) ?? [];
          messages.push({ key: row.key, value: row.value, headers: row.headers });
          byTopic.set(row.topic, messages);
        }
        try {
          await producer.send([...byTopic].map(([topic, messages]) => ({ topic, messages })));
        } catch (error) {
          const [only] = chunk;
          if (chunk.length !== 1 || only === undefined) throw error;
          // One message Kafka refuses stops the relay (nothing after it may overtake it): say which.
          throw new Error(
            `outbox message ${only.id} (topic ${only.topic}, key ${String(only.key)}, ${String(valueBytes(only.value))} bytes) could not be published: ${describeError(error)}`,
            { cause: error },
          );
        }
      }
      return rows.length;
    });
  };

  const loop = async (): Promise<void> => {
    while (running) {
      let published: number;
      try {
        published = await publishBatch();
        failures = 0;
        sinceVacuum += published;
        if (sinceVacuum >= vacuumEveryMessages) await vacuum();
      } catch (error) {
        failures++;
        const level = isRetriable(error) ? 'warn' : 'error';
        log[level]({ err: error, failures }, `outbox relay failed, retrying: ${describeError(error)}`);
        await pause(backoffDelay(relayBackoff, failures));
        continue;
      }
      if (published === 0) await pause(idleMs);
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
      await producer.close();
    },
  };
}
