// Exactly-once processing of one partition's batch: the messages' effects, their dead letters and the
// consumer group's next offset commit in one PostgreSQL transaction. The offset row is locked first, so a
// second consumer of the same partition (a zombie after a rebalance) waits, then skips what is done.
import type { ErrorCode } from '../kernel/errors.ts';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { IHeaders } from 'kafkajs';
import { sql } from 'kysely';
import { decodeMessage, type Envelope } from './cloudevents.ts';
import { headersAsStrings, insertOutbox, type OutboxRow } from './outbox.ts';
import type { TopicId } from '../kernel/contracts/messages.ts';

export interface ConsumedMessage {
  topic: TopicId;
  /** The broker-side topic name (with the prefix). */
  topicName: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
}

export interface DecodedMessage {
  message: ConsumedMessage;
  envelope: Envelope;
}

export interface Rejection {
  message: ConsumedMessage;
  reason: string;
  code: ErrorCode;
}

export interface HandlerResult {
  outbox: OutboxRow[];
  rejected: Rejection[];
  /** Runs once the transaction has committed (e.g. to update in-memory caches). */
  afterCommit?: () => void;
}

export type BatchHandler = (tx: EntityManager, messages: DecodedMessage[]) => Promise<HandlerResult>;

export interface BatchOutcome {
  /** The offset to commit to Kafka: one past the last message handled (now or before). */
  nextOffset: string;
  processed: number;
  skipped: number;
  deadLettered: number;
}

export async function processPartitionBatch(options: {
  em: EntityManager;
  groupId: string;
  deadletterTopic: string;
  messages: readonly ConsumedMessage[];
  handle: BatchHandler;
}): Promise<BatchOutcome> {
  const { groupId, messages } = options;
  const first = messages[0];
  if (first === undefined) throw new Error('processPartitionBatch needs at least one message');
  const { topicName, partition } = first;
  let afterCommit: (() => void) | undefined;
  const outcome = await options.em.fork().transactional(async (tx) => {
    const k = tx.getKysely();
    await sql`
      insert into stream_offset (group_id, topic, partition, next_offset, updated_at)
      values (${groupId}, ${topicName}, ${partition}, 0, now())
      on conflict do nothing`.execute(k);
    const stored = await sql<{ next_offset: string }>`
      select next_offset from stream_offset
      where group_id = ${groupId} and topic = ${topicName} and partition = ${partition}
      for update`.execute(k);
    const storedNext = BigInt(stored.rows[0]?.next_offset ?? '0');
    const fresh = messages.filter((message) => BigInt(message.offset) >= storedNext);
    const last = fresh.at(-1);
    if (last === undefined) {
      return { nextOffset: storedNext.toString(), processed: 0, skipped: messages.length, deadLettered: 0 };
    }

    const decoded: DecodedMessage[] = [];
    const rejected: Rejection[] = [];
    for (const [index, message] of fresh.entries()) {
      if (index > 0 && index % 250 === 0) await yieldToEventLoop();
      const result = decodeMessage(message.topic, message);
      if (result.ok) decoded.push({ message, envelope: result.envelope });
      else rejected.push({ message, reason: result.reason, code: result.code });
    }
    const handled = decoded.length > 0 ? await options.handle(tx, decoded) : { outbox: [], rejected: [] };
    afterCommit = handled.afterCommit;
    const deadLetters = [...rejected, ...handled.rejected].map((rejection) =>
      deadLetter(rejection, groupId, options.deadletterTopic),
    );
    await insertOutbox(tx, [...handled.outbox, ...deadLetters]);
    const nextOffset = (BigInt(last.offset) + 1n).toString();
    await sql`
      update stream_offset set next_offset = ${nextOffset}, updated_at = now()
      where group_id = ${groupId} and topic = ${topicName} and partition = ${partition}`.execute(k);
    return {
      nextOffset,
      processed: fresh.length - deadLetters.length,
      skipped: messages.length - fresh.length,
      deadLettered: deadLetters.length,
    };
  });
  afterCommit?.();
  return outcome;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The original bytes, key and headers, plus where they came from and why they were refused. */
export function deadLetter(rejection: Rejection, groupId: string, deadletterTopic: string): OutboxRow {
  const { message } = rejection;
  const headers = headersAsStrings(message.headers);
  const tenant = headers.ce_tenantid;
  return {
    tenantId: tenant !== undefined && uuidPattern.test(tenant) ? tenant : null,
    topic: deadletterTopic,
    key: message.key?.toString() ?? null,
    value: message.value,
    headers: {
      ...headers,
      joinery_dlq_reason: rejection.reason,
      joinery_dlq_code: rejection.code,
      joinery_dlq_topic: message.topicName,
      joinery_dlq_partition: String(message.partition),
      joinery_dlq_offset: message.offset,
      joinery_dlq_group: groupId,
    },
  };
}

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
