// One consumer group's partitions, exactly once: each batch the (supervised) bus consumer delivers is cut
// into chunks, and each chunk goes through the given batch handler in one PostgreSQL transaction with the
// group's offset (partition-batch.ts). What is transient is retried; a chunk that fails for good is re-run
// message by message so that only the culprit is dead-lettered; a batch whose partition a rebalance took
// away is abandoned. What the messages mean is the handler's business (identity-batch-handler.ts, the
// Import stage).
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { describeError, isRetriable, JoineryError, type ErrorCode } from '../kernel/errors.ts';
import { backoffDelay, type BackoffPolicy } from '../kernel/retry.ts';
import type { TopicId } from '../kernel/contracts/messages.ts';
import type { ActorCacheStats } from './identity-host.ts';
import type { Bus, BusBatchPayload } from './bus.ts';
import { startSupervisedConsumer } from './consumer-supervisor.ts';
import { withKnownTenants } from './known-tenants.ts';
import { createLatencyRecorder, type LatencySummary } from './latency.ts';
import {
  processPartitionBatch,
  type BatchHandler,
  type BatchOutcome,
  type ConsumedMessage,
} from './partition-batch.ts';
import { topicName, type TopicSettings } from './topics.ts';

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
  /** Identity actors found in the actor cache, and read from PostgreSQL (identity consumers only). */
  actorCacheHits: number;
  actorCacheMisses: number;
}

export interface PartitionConsumer {
  readonly counters: ConsumerCounters;
  /** From a message's ce_time (when its producer sent it) to its commit, for the topics of `latencyOf`. */
  latency(): LatencySummary;
  /** Leaves the group after the in-flight batches commit. */
  stop(): Promise<void>;
}

// Equal jitter: a database or broker that refused a batch gets a pause before the retry, never none (full
// jitter could retry at once), and the partitions in flight, failing together, do not retry in step.
const transientBackoff: BackoffPolicy = { initialDelayMs: 100, maxDelayMs: 5_000, jitter: 'equal' };

export async function startPartitionConsumer(options: {
  bus: Bus;
  orm: MikroORM;
  logger: Logger;
  settings: EngineSettings;
  /** The Kafka consumer group; offsets in PostgreSQL are kept under settings.groupId. */
  groupId: string;
  topics: TopicId[];
  concurrency: number;
  /** Runs a chunk's decoded messages in its transaction: the identity actors, the Import stage. */
  handle: BatchHandler;
  /** Topics whose messages' latency (ce_time to commit) is recorded: the real-time group's pulses. */
  latencyOf?: readonly TopicId[];
  /** The actor cache's counts that `handle` keeps (identity consumers), reported with the counters. */
  actorCache?: ActorCacheStats;
}): Promise<PartitionConsumer> {
  const { orm, settings } = options;
  const log = options.logger.child({ component: 'engine', group: options.groupId });
  const name = (id: TopicId) => topicName(settings.topics, id);
  const counters: ConsumerCounters = {
    processed: 0,
    skipped: 0,
    deadLettered: 0,
    retries: 0,
    batches: 0,
    actorCacheHits: 0,
    actorCacheMisses: 0,
  };
  const latency = createLatencyRecorder();
  const timed = new Set(options.latencyOf);
  const handle = withKnownTenants(options.handle);
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
      if (timed.has(topic)) {
        const committedAt = Date.now();
        for (const message of chunk) {
          const sent = Date.parse(message.headers?.ce_time?.toString() ?? '');
          if (!Number.isNaN(sent)) latency.record(committedAt - sent);
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

  const deadLetterAlone = (
    message: ConsumedMessage,
    reason: string,
    code: ErrorCode,
  ): Promise<BatchOutcome> =>
    processPartitionBatch({
      em: orm.em,
      groupId: settings.groupId,
      deadletterTopic: name('deadletter'),
      messages: [message],
      handle: async () => ({ outbox: [], rejected: [{ message, reason, code }] }),
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
        // Joinery's own permanent errors keep their code (e.g. an expression over budget).
        const code = error instanceof JoineryError ? error.code : 'JNY_PROCESSING_FAILED';
        log.warn(
          {
            err: error,
            code,
            tenantId: message.headers?.ce_tenantid?.toString(),
            key: message.key?.toString(),
            topic: message.topicName,
            partition: message.partition,
            offset: message.offset,
          },
          `message dead-lettered: ${describeError(error)}`,
        );
        outcome = await withRetry(
          () => deadLetterAlone(message, `processing failed: ${describeError(error)}`, code),
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
    if (options.actorCache !== undefined) {
      counters.actorCacheHits = options.actorCache.hits;
      counters.actorCacheMisses = options.actorCache.misses;
    }
  };

  const consumer = await startSupervisedConsumer({
    bus: options.bus,
    log,
    groupId: options.groupId,
    topics: options.topics.map(name),
    sessionTimeoutMs: settings.sessionTimeoutMs,
    concurrency: options.concurrency,
    eachBatch,
  });

  return {
    counters,
    latency: () => latency.summary(),
    stop: () => consumer.stop(),
  };
}

interface RetryOptions {
  onRetry: (error: unknown, attempt: number) => Promise<void>;
  shouldStop: () => boolean;
}

/**
 * Retries transient failures (database or broker down, version conflicts) for as long as they last, with
 * a growing pause; permanent ones propagate. Returns undefined when told to stop (the partition was taken
 * away). Not `retryTransient`: this one has no last attempt, and stops on a rebalance.
 */
async function withRetry<T>(operation: () => Promise<T>, options: RetryOptions): Promise<T | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!isRetriable(error)) throw error;
      await options.onRetry(error, attempt);
      const delay = backoffDelay(transientBackoff, attempt);
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (options.shouldStop()) return undefined;
    }
  }
}
