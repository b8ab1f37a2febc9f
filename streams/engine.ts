// The engine runtime on Kafka: two consumer groups feed the identity actors — `identity` (bulk) in one,
// `pulses` and `schedules` (real time) in another, so a million-object load never delays a pulse — and
// an outbox relay and a timer scheduler run beside them. Processes with the same group id share the
// partitions; PostgreSQL holds every actor, so any of them can take over any partition.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { describeError, isRetriable } from '../src/errors.ts';
import type { IdentityEvent } from '../actors/identity.events.ts';
import { createIdentityHost, type IdentityHost, type IdentityWork } from './identity-host.ts';
import type { MessageData } from './messages.ts';
import { startOutboxRelay, type OutboxRelay } from './outbox.ts';
import {
  processPartitionBatch,
  type BatchOutcome,
  type ConsumedMessage,
  type DecodedMessage,
  type HandlerResult,
  type Rejection,
} from './partition-batch.ts';
import { startTimerScheduler, type TimerScheduler } from './timers.ts';
import { ensureTopics, topicName, type TopicId, type TopicSettings } from './topics.ts';

export interface EngineSettings {
  groupId: string;
  actorCacheSize: number;
  sessionTimeoutMs: number;
  maxBatchSize: number;
  topics: TopicSettings;
}

export interface EngineCounters {
  processed: number;
  skipped: number;
  deadLettered: number;
  retries: number;
  batches: number;
}

export interface Engine {
  readonly counters: EngineCounters;
  readonly host: IdentityHost;
  readonly timers: TimerScheduler;
  readonly relay: OutboxRelay;
  stop(): Promise<void>;
}

export async function startEngine(deps: {
  kafka: Kafka;
  orm: MikroORM;
  logger: Logger;
  settings: EngineSettings;
  /** The timer scheduler's clock (tests move it forward). */
  now?: () => Date;
  timerIntervalMs?: number;
}): Promise<Engine> {
  const { kafka, orm, settings } = deps;
  const log = deps.logger.child({ component: 'engine' });
  const name = (id: TopicId) => topicName(settings.topics, id);
  const source = `/joinery/engine/${settings.groupId}`;

  const admin = kafka.admin();
  await admin.connect();
  try {
    const created = await ensureTopics(admin, settings.topics);
    if (created.length > 0) log.info({ topics: created }, 'created missing topics');
  } finally {
    await admin.disconnect();
  }

  const host = createIdentityHost({
    cacheSize: settings.actorCacheSize,
    topics: { outbound: name('outbound'), logstream: name('logstream') },
    source,
  });
  const counters: EngineCounters = { processed: 0, skipped: 0, deadLettered: 0, retries: 0, batches: 0 };

  const handle = (
    tx: Parameters<IdentityHost['run']>[0],
    messages: DecodedMessage[],
  ): Promise<HandlerResult> =>
    toIdentityWork(tx, messages).then(async ({ work, rejected }) => {
      const result = await host.run(tx, work);
      return { ...result, rejected: [...rejected, ...result.rejected] };
    });

  const topicIdOf = new Map<string, TopicId>(
    (['identity', 'pulses', 'schedules'] as const).map((id) => [name(id), id]),
  );

  const eachBatch = async (payload: EachBatchPayload): Promise<void> => {
    const { batch } = payload;
    const heartbeat = () => payload.heartbeat();
    const isRunning = () => payload.isRunning();
    const isStale = () => payload.isStale();
    const topic = topicIdOf.get(batch.topic);
    if (topic === undefined) return;
    const all: ConsumedMessage[] = batch.messages.map((message) => ({
      topic,
      topicName: batch.topic,
      partition: batch.partition,
      offset: message.offset,
      key: message.key,
      value: message.value,
      headers: message.headers,
    }));
    for (let start = 0; start < all.length; start += settings.maxBatchSize) {
      // A rebalance took the partition away: abandon the rest, its new owner resumes from PostgreSQL.
      if (!isRunning() || isStale()) return;
      const chunk = all.slice(start, start + settings.maxBatchSize);
      const retrying = {
        onRetry: async (error: unknown, attempt: number) => {
          counters.retries++;
          log.warn(
            { err: error, attempt, topic: batch.topic, partition: batch.partition },
            `batch failed, retrying: ${describeError(error)}`,
          );
          await heartbeat().catch(() => undefined);
        },
        shouldStop: () => !isRunning() || isStale(),
      };
      const nextOffset = await processChunk(chunk, retrying);
      if (nextOffset === undefined) return;
      // Kafka's committed offset only saves refetching; PostgreSQL's is the one that counts.
      payload.resolveOffset((BigInt(nextOffset) - 1n).toString());
      await payload.commitOffsetsIfNecessary();
      await heartbeat();
    }
  };

  const process = (messages: ConsumedMessage[]): Promise<BatchOutcome> =>
    processPartitionBatch({
      em: orm.em,
      groupId: settings.groupId,
      deadletterTopic: name('deadletter'),
      messages,
      handle,
    });

  const deadLetterAlone = (message: ConsumedMessage, reason: string): Promise<BatchOutcome> =>
    processPartitionBatch({
      em: orm.em,
      groupId: settings.groupId,
      deadletterTopic: name('deadletter'),
      messages: [message],
      handle: async () => ({ outbox: [], rejected: [{ message, reason, code: 'JNY_PROCESSING_FAILED' }] }),
    });

  /**
   * A chunk in one transaction; when it fails for a reason a retry cannot cure, message by message, so
   * that only the message that causes it goes to deadletter and its neighbours are processed. Returns
   * the next offset, or undefined when the partition was taken away meanwhile.
   */
  const processChunk = async (
    chunk: ConsumedMessage[],
    retrying: RetryOptions,
  ): Promise<string | undefined> => {
    try {
      const outcome = await withRetry(() => process(chunk), retrying);
      if (outcome !== undefined) count(outcome);
      return outcome?.nextOffset;
    } catch (error) {
      log.warn(
        { err: error, messages: chunk.length },
        `batch failed permanently, isolating the message: ${describeError(error)}`,
      );
    }
    let nextOffset: string | undefined;
    for (const message of chunk) {
      let outcome: BatchOutcome | undefined;
      try {
        outcome = await withRetry(() => process([message]), retrying);
      } catch (error) {
        outcome = await withRetry(
          () => deadLetterAlone(message, `processing failed: ${describeError(error)}`),
          retrying,
        );
      }
      if (outcome === undefined) return undefined;
      count(outcome);
      nextOffset = outcome.nextOffset;
    }
    return nextOffset;
  };

  const count = (outcome: BatchOutcome): void => {
    counters.batches++;
    counters.processed += outcome.processed;
    counters.skipped += outcome.skipped;
    counters.deadLettered += outcome.deadLettered;
  };

  const consumers: Consumer[] = [];
  const startConsumer = async (groupId: string, topics: TopicId[]): Promise<void> => {
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: Math.min(3000, Math.floor(settings.sessionTimeoutMs / 3)),
      maxBytesPerPartition: 4 * 1024 * 1024,
      maxWaitTimeInMs: 100,
    });
    consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: topics.map(name), fromBeginning: true });
    await consumer.run({ eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, eachBatch });
  };

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const relay = startOutboxRelay({ em: orm.em, producer, logger: deps.logger });
  const timers = startTimerScheduler({
    em: orm.em,
    schedulesTopic: name('schedules'),
    logger: deps.logger,
    source,
    ...(deps.now === undefined ? {} : { now: deps.now }),
    ...(deps.timerIntervalMs === undefined ? {} : { intervalMs: deps.timerIntervalMs }),
  });
  await startConsumer(settings.groupId, ['identity']);
  await startConsumer(`${settings.groupId}.realtime`, ['pulses', 'schedules']);
  log.info({ groupId: settings.groupId }, 'engine started');

  return {
    counters,
    host,
    timers,
    relay,
    async stop() {
      // Consumers first: their in-flight batches finish and commit; then the relay publishes what they left.
      await Promise.all(consumers.map((consumer) => consumer.disconnect()));
      await timers.stop();
      await relay.stop();
      await producer.disconnect();
      log.info(counters, 'engine stopped');
    },
  };
}

/** Maps decoded messages to identity events; pulses naming only an application object are resolved here. */
async function toIdentityWork(
  tx: Parameters<IdentityHost['run']>[0],
  messages: DecodedMessage[],
): Promise<{ work: IdentityWork[]; rejected: Rejection[] }> {
  const work: IdentityWork[] = [];
  const rejected: Rejection[] = [];
  const unresolved: { index: number; message: ConsumedMessage; data: MessageData<'joinery.pulse.v1'> }[] = [];
  for (const { message, envelope } of messages) {
    switch (envelope.type) {
      case 'joinery.identity.event.v1': {
        const data = envelope.data as MessageData<'joinery.identity.event.v1'>;
        work.push({
          tenantId: data.tenantId,
          identityId: data.identityId,
          event: data.event,
          origin: message,
          ...(data.deletionDelayDays === undefined ? {} : { deletionDelayDays: data.deletionDelayDays }),
        });
        break;
      }
      case 'joinery.schedule.fired.v1': {
        const data = envelope.data as MessageData<'joinery.schedule.fired.v1'>;
        const event: IdentityEvent = {
          type: 'timer.fired',
          at: data.dueAt,
          timerId: data.timerId,
          kind: data.kind,
        };
        work.push({ tenantId: data.tenantId, identityId: data.identityId, event, origin: message });
        break;
      }
      case 'joinery.pulse.v1': {
        const data = envelope.data as MessageData<'joinery.pulse.v1'>;
        if (data.identityId === undefined) {
          unresolved.push({ index: work.length, message, data });
          work.push({ tenantId: data.tenantId, identityId: '', event: data.event, origin: message });
        } else {
          work.push({
            tenantId: data.tenantId,
            identityId: data.identityId,
            event: data.event,
            origin: message,
          });
        }
        break;
      }
      default:
        rejected.push({
          message,
          reason: `${envelope.type} is not an identity message`,
          code: 'JNY_MESSAGE_INVALID',
        });
    }
  }
  if (unresolved.length > 0) {
    const { rows } = await sql<{
      tenant_id: string;
      application_id: string;
      external_id: string;
      identity_id: string;
    }>`
      select s.tenant_id, s.application_id, s.external_id, s.identity_id
      from identity_source s
      join unnest(${unresolved.map((u) => u.data.tenantId)}::uuid[], ${unresolved.map((u) => u.data.event.source.applicationId)}::uuid[],
        ${unresolved.map((u) => u.data.event.source.externalId)}::text[]) as u(tenant_id, application_id, external_id)
      on s.tenant_id = u.tenant_id and s.application_id = u.application_id and s.external_id = u.external_id`.execute(
      tx.getKysely(),
    );
    const joined = new Map(
      rows.map((row) => [`${row.tenant_id}|${row.application_id}|${row.external_id}`, row.identity_id]),
    );
    for (const { index, message, data } of unresolved) {
      const { applicationId, externalId } = data.event.source;
      const identityId = joined.get(`${data.tenantId}|${applicationId}|${externalId}`);
      const item = work[index];
      if (item === undefined) continue;
      if (identityId === undefined) {
        rejected.push({
          message,
          reason: `no identity is joined to object ${externalId} of application ${applicationId}`,
          code: 'JNY_NOT_JOINED',
        });
        item.identityId = '';
      } else {
        item.identityId = identityId;
      }
    }
  }
  return { work: work.filter((item) => item.identityId !== ''), rejected };
}

/**
 * Retries transient failures (database or broker down, version conflicts) with exponential backoff and
 * jitter; permanent ones propagate. Returns undefined when told to stop (the partition was taken away).
 */
interface RetryOptions {
  onRetry: (error: unknown, attempt: number) => Promise<void>;
  shouldStop: () => boolean;
}

async function withRetry<T>(operation: () => Promise<T>, options: RetryOptions): Promise<T | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!isRetriable(error)) throw error;
      await options.onRetry(error, attempt);
      const delay = Math.min(5000, 50 * 2 ** Math.min(attempt, 7)) * (0.5 + Math.random() / 2);
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (options.shouldStop()) return undefined;
    }
  }
}
