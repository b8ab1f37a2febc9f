// One consumer group feeding identity actors: it reads its topics' batches, runs them through the actor
// host in exactly-once partition transactions, retries what is transient, isolates and dead-letters what
// is not, and abandons a batch whose partition a rebalance took away.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Bus, BusBatchPayload, BusConsumer } from './bus.ts';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { describeError, isRetriable } from '../kernel/errors.ts';
import { retryTransient } from '../kernel/retry.ts';
import { settleWithin } from './settle.ts';
import type { IdentityEvent } from '../kernel/contracts/identity-events.ts';
import {
  createIdentityHost,
  type Classifier,
  type IdentityHost,
  type IdentityWork,
  type JoinKeys,
  type OutboundHook,
  type Rules,
} from './identity-host.ts';
import { createLatencyRecorder, type LatencySummary } from './latency.ts';
import type { MessageData } from '../kernel/contracts/messages.ts';
import {
  processPartitionBatch,
  type BatchOutcome,
  type ConsumedMessage,
  type BatchHandler,
  type DecodedMessage,
  type Rejection,
} from './partition-batch.ts';
import { topicName, type TopicSettings } from './topics.ts';
import type { TopicId } from '../kernel/contracts/messages.ts';

export interface EngineSettings {
  groupId: string;
  actorCacheSize: number;
  sessionTimeoutMs: number;
  maxBatchSize: number;
  /** Worker threads of the Import stage (when the engine runs with threads); 2 when absent. */
  importThreads?: number;
  topics: TopicSettings;
}

export interface ConsumerCounters {
  processed: number;
  skipped: number;
  deadLettered: number;
  retries: number;
  batches: number;
}

export interface PartitionConsumer {
  readonly counters: ConsumerCounters;
  readonly host: IdentityHost;
  /** From a pulse's ce_time (when its producer sent it) to the commit of its effects. */
  pulseLatency(): LatencySummary;
  /** Leaves the group after the in-flight batches commit. */
  stop(): Promise<void>;
}

export async function startPartitionConsumer(options: {
  bus: Bus;
  orm: MikroORM;
  logger: Logger;
  settings: EngineSettings;
  /** The Kafka consumer group; offsets in PostgreSQL are kept under settings.groupId. */
  groupId: string;
  topics: TopicId[];
  concurrency: number;
  cacheSize?: number;
  /** Another stage's batch handler (e.g. the Import stage); default: the identity actors. */
  handle?: BatchHandler;
  /** Classifies changed identities with the plan in force. */
  classifier?: Classifier;
  /** Runs the plan's rules on changed identities. */
  rules?: Rules;
  /** Notes changes of the values the joining rules compare, for the disconnector sweep. */
  joinKeys?: JoinKeys;
  /** The Outbound stage, in the same transaction as the identities it looks at. */
  outbound?: OutboundHook;
}): Promise<PartitionConsumer> {
  const { bus, orm, settings } = options;
  const log = options.logger.child({ component: 'engine', group: options.groupId });
  const name = (id: TopicId) => topicName(settings.topics, id);
  const source = `/joinery/engine/${settings.groupId}`;

  const host = createIdentityHost({
    cacheSize: options.cacheSize ?? settings.actorCacheSize,
    ...(options.classifier === undefined ? {} : { classifier: options.classifier }),
    ...(options.rules === undefined ? {} : { rules: options.rules }),
    ...(options.joinKeys === undefined ? {} : { joinKeys: options.joinKeys }),
    ...(options.outbound === undefined ? {} : { outbound: options.outbound }),
    topics: { outbound: name('outbound'), logstream: name('logstream') },
    source,
  });
  const counters: ConsumerCounters = { processed: 0, skipped: 0, deadLettered: 0, retries: 0, batches: 0 };
  const pulseLatency = createLatencyRecorder();

  // Every handler (the actors, the Import stage) writes only for tenants that exist: the bulk tables have
  // no foreign key to tenant (src/storage/entities/tenant.entity.ts), so the check is here, once per batch.
  // Tenants are few and never reused: remember the ones seen, ask PostgreSQL about new ones only.
  const knownTenants = new Set<string>();
  const withKnownTenants =
    (inner: BatchHandler): BatchHandler =>
    async (tx, messages) => {
      const unseen = [...new Set(messages.map(({ envelope }) => envelope.tenantId))].filter(
        (id) => !knownTenants.has(id),
      );
      if (unseen.length > 0) {
        const { rows } = await sql<{
          id: string;
        }>`select id from tenant where id = any(${unseen}::uuid[])`.execute(tx.getKysely());
        for (const row of rows) knownTenants.add(row.id);
      }
      const rejected: Rejection[] = [];
      const accepted = messages.filter(({ message, envelope }) => {
        if (knownTenants.has(envelope.tenantId)) return true;
        rejected.push({ message, reason: `unknown tenant ${envelope.tenantId}`, code: 'JNY_UNKNOWN_TENANT' });
        return false;
      });
      const result = await inner(tx, accepted);
      return { ...result, rejected: [...rejected, ...result.rejected] };
    };

  const handle: BatchHandler = withKnownTenants(
    options.handle ??
      ((tx, messages) =>
        toIdentityWork(tx, messages).then(async ({ work, rejected }) => {
          const result = await host.run(tx, work);
          return { ...result, rejected: [...rejected, ...result.rejected] };
        })),
  );

  const topicIdOf = new Map<string, TopicId>(options.topics.map((id) => [name(id), id]));

  const eachBatch = async (payload: BusBatchPayload): Promise<void> => {
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
      if (topic === 'pulses') {
        const committedAt = Date.now();
        for (const message of chunk) {
          const sent = Date.parse(message.headers?.ce_time?.toString() ?? '');
          if (!Number.isNaN(sent)) pulseLatency.record(committedAt - sent);
        }
      }
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

  // kafkajs restarts a consumer that failed for a retriable reason, and leaves one that did not stopped
  // for good (e.g. "Failed to find group coordinator" while a restarted broker is still loading its
  // groups): the engine would go on running and never consume again. Such a consumer is replaced here, as
  // often as it takes, with a growing pause; PostgreSQL's offsets make the new one resume exactly.
  let consumer: BusConsumer | undefined;
  let stopping = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let restarting: Promise<void> | undefined;
  let restarts = 0;
  const start = async (): Promise<void> => {
    const created = bus.consumer({
      groupId: options.groupId,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: Math.min(3000, Math.floor(settings.sessionTimeoutMs / 3)),
      maxBytesPerPartition: 1024 * 1024,
      maxWaitTimeInMs: 100,
    });
    created.on?.('consumer.crash', ({ payload }) => {
      if (payload.restart || isStopping() || created !== consumer) return;
      log.error(
        { err: payload.error },
        `consumer stopped on an error the Kafka client does not retry; starting a new one: ${describeError(payload.error)}`,
      );
      scheduleRestart();
    });
    // Back in business only once it has joined its group: a start whose join fails crashes again.
    created.on?.('consumer.group_join', () => {
      if (created !== consumer || restarts === 0) return;
      log.info({ restarts }, 'consumer joined its group again');
      restarts = 0;
    });
    consumer = created;
    const stopped = async (): Promise<boolean> => {
      if (!isStopping()) return false;
      await settleWithin(created.disconnect(), STOP_TIMEOUT_MS);
      return true;
    };
    await created.connect();
    if (await stopped()) return;
    // kafkajs gives up at once when the broker does not list a topic created a moment ago: tried again.
    await retryTransient(() => created.subscribe({ topics: options.topics.map(name), fromBeginning: true }));
    if (await stopped()) return;
    // Several partitions in flight: one batch's transaction commits while the next is computed.
    await created.run({
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.concurrency,
      eachBatch,
    });
    await stopped();
  };
  const isStopping = (): boolean => stopping;
  const scheduleRestart = (): void => {
    if (isStopping()) return;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(restarts, 6));
    restarts++;
    clearTimeout(restartTimer);
    restartTimer = setTimeout(() => {
      restarting = restart().finally(() => {
        restarting = undefined;
      });
    }, delay);
  };
  const restart = async (): Promise<void> => {
    const failed = consumer;
    if (failed !== undefined) await settleWithin(failed.disconnect(), STOP_TIMEOUT_MS);
    if (isStopping()) return;
    try {
      log.info({ restarts }, 'starting a new consumer');
      await start();
    } catch (error) {
      log.error({ err: error }, `consumer could not start again, retrying: ${describeError(error)}`);
      scheduleRestart();
    }
  };
  try {
    await start();
  } catch (error) {
    stopping = true;
    if (consumer !== undefined) await settleWithin(consumer.disconnect(), STOP_TIMEOUT_MS);
    throw error;
  }

  return {
    counters,
    host,
    pulseLatency: () => pulseLatency.summary(),
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      if (restarting !== undefined) await settleWithin(restarting, STOP_TIMEOUT_MS);
      if (consumer === undefined) return;
      // In-flight batches commit or roll back as a whole, so a disconnect cut short loses nothing; it
      // only must not hold shutdown forever when the broker is gone.
      const gaveUp = await settleWithin(consumer.disconnect(), STOP_TIMEOUT_MS);
      if (gaveUp)
        log.warn({ timeoutMs: STOP_TIMEOUT_MS }, 'consumer did not leave its group in time; stopping anyway');
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
          ...(data.hardJoinRecorded === true ? { hardJoinRecorded: true } : {}),
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

/** How long stopping waits for the consumer to leave its group. */
const STOP_TIMEOUT_MS = 10_000;

interface RetryOptions {
  onRetry: (error: unknown, attempt: number) => Promise<void>;
  shouldStop: () => boolean;
}

/**
 * Retries transient failures (database or broker down, version conflicts) with exponential backoff and
 * jitter; permanent ones propagate. Returns undefined when told to stop (the partition was taken away).
 */
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
