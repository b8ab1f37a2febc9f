// Keeps one bus consumer of a group running. kafkajs restarts a consumer that failed for a retriable
// reason, and leaves one that did not stopped for good (e.g. "Failed to find group coordinator" while a
// restarted broker is still loading its groups): the engine would go on running and never consume again.
// Such a consumer is replaced here, as often as it takes, with a growing pause; PostgreSQL's offsets make
// the new one resume exactly.
import type { Logger } from 'pino';
import { describeError } from '../kernel/errors.ts';
import { backoffDelay, retryTransient, type BackoffPolicy } from '../kernel/retry.ts';
import type { Bus, BusBatchPayload, BusConsumer } from './bus.ts';
import { settleWithin } from './settle.ts';

export interface SupervisedConsumer {
  /** Leaves the group after the in-flight batches end; gives up waiting after STOP_TIMEOUT_MS. */
  stop(): Promise<void>;
}

/** How long stopping waits for the consumer to leave its group. */
const STOP_TIMEOUT_MS = 10_000;

// Equal jitter: the pause is what gives a restarted broker time to load its groups, so a new consumer
// never comes at once (full jitter could); the spread keeps consumers that crashed together out of step.
const restartBackoff: BackoffPolicy = { initialDelayMs: 500, maxDelayMs: 30_000, jitter: 'equal' };

export async function startSupervisedConsumer(options: {
  bus: Bus;
  log: Logger;
  groupId: string;
  /** Broker-side topic names. */
  topics: readonly string[];
  sessionTimeoutMs: number;
  /** Partitions in flight at once. */
  concurrency: number;
  eachBatch: (payload: BusBatchPayload) => Promise<void>;
  /** Where a partition without a committed offset starts; true (its first message) unless false (its end). */
  fromBeginning?: boolean;
  /** Called each time the consumer has its partitions (Kafka: joined its group; embedded: running). */
  onRunning?: () => void;
  /** Where the first consumer reads these partitions from (a consumer started again goes on where it was). */
  seekOnStart?: readonly { topic: string; partition: number; offset: string }[];
}): Promise<SupervisedConsumer> {
  const { bus, log } = options;
  let consumer: BusConsumer | undefined;
  let stopping = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let restarting: Promise<void> | undefined;
  let restarts = 0;
  let seeked = false;
  const start = async (): Promise<void> => {
    const created = bus.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: Math.min(3000, Math.floor(options.sessionTimeoutMs / 3)),
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
      if (created === consumer) options.onRunning?.();
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
    await retryTransient(() =>
      created.subscribe({ topics: [...options.topics], fromBeginning: options.fromBeginning ?? true }),
    );
    if (await stopped()) return;
    // Several partitions in flight: one batch's transaction commits while the next is computed.
    const running = created.run({
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.concurrency,
      eachBatch: options.eachBatch,
    });
    // Before the group is joined: the first fetch reads from there.
    if (!seeked) for (const position of options.seekOnStart ?? []) created.seek(position);
    seeked = true;
    await running;
    // The embedded bus has no group events: its run() returns once the partitions are assigned.
    if (created.on === undefined) options.onRunning?.();
    await stopped();
  };
  const isStopping = (): boolean => stopping;
  const scheduleRestart = (): void => {
    if (isStopping()) return;
    restarts++;
    const delay = backoffDelay(restartBackoff, restarts);
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
