// Parts of the engine in worker threads, each with its own event loop, Kafka client and PostgreSQL pool:
// the real-time consumer (pulses, schedules), so a pulse never waits for the bulk consumer's CPU work;
// the Import stage, whose decoding, hashing and joining would otherwise take turns with the identity
// actors on one thread (a bulk load keeps both busy); and the outbox relay, whose Kafka encoding would
// otherwise compete with the bulk consumer for the main thread. The main thread sees counters and
// latencies through messages; a thread that dies is restarted.
import type { LogFormat } from '../../kernel/logger.ts';
import { useModuleCompileCache } from '../config/compile-cache.ts';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { describeError } from '../../kernel/errors.ts';
import type { ConsumerCounters, EngineSettings } from '../../streams/partition-consumer.ts';
import { settleWithin } from '../../streams/settle.ts';
import type { LatencySummary } from '../../streams/latency.ts';
import type { TopicId } from '../../kernel/contracts/messages.ts';

export interface ThreadConnection {
  databaseUrl: string;
  poolSize: number;
  /** Kafka brokers; absent: the embedded bus in the same database. */
  brokers?: string[];
  clientId: string;
  logLevel: string;
  /** log.format: a thread writes its logs as the main thread does. */
  logFormat?: LogFormat;
  /**
   * The plugin directory (plugins.dir): a worker thread is an isolate of its own, so it loads the plugins
   * itself, once, and compiles plans with the same functions as the main thread.
   */
  pluginsDir?: string;
  /**
   * The master keyring (base64), for the Import stage's threads: they seal sensitive attributes with the
   * tenants' data keys. Passed in memory to a thread of the same process, never written anywhere.
   */
  masterKeys?: { current: string; previous: string[] };
}

export interface EngineThreadData {
  connection: ThreadConnection;
  settings: EngineSettings;
  groupId: string;
  topics: TopicId[];
  concurrency: number;
  cacheSize: number;
  /** Run the outbox relay in this thread. */
  relay: boolean;
  /** Run the Outbound stage in the consumer's transactions (with a plan cache of this thread's own). */
  outbound?: boolean;
  /**
   * The consumer is the Import stage (imports → Application Repository → identity events on
   * `identityTopic`), with a plan cache of this thread's own.
   */
  importStage?: { identityTopic: string; logstreamTopic: string; source: string };
  /** The consumer is the audit history's (logstream → audit_event, src/audit/audit-consumer.ts). */
  audit?: boolean;
  /** What the thread is, for logs and its Kafka client id: "realtime", "import-1", "import-2"... or "relay". */
  role: string;
}

export type EngineThreadMessage =
  | { type: 'started' }
  | { type: 'stats'; counters: ConsumerCounters; latency: LatencySummary }
  | { type: 'stopped'; counters: ConsumerCounters; latency: LatencySummary }
  | { type: 'failed'; error: string };

const emptyCounters = (): ConsumerCounters => ({
  processed: 0,
  skipped: 0,
  deadLettered: 0,
  retries: 0,
  batches: 0,
  actorCacheHits: 0,
  actorCacheMisses: 0,
});

export async function startEngineThread(
  options: Omit<EngineThreadData, never> & { logger: Logger },
): Promise<{ counters: ConsumerCounters; pulseLatency(): LatencySummary; stop(): Promise<void> }> {
  const { logger, ...data } = options;
  const log = logger.child({ component: 'engine', thread: data.role });
  const counters = emptyCounters();
  let latency: LatencySummary = { count: 0, p50: 0, p99: 0, max: 0 };
  let stopping = false;
  let worker: Worker;

  // Each thread loads the module graph again: compiled once, then from the cache.
  useModuleCompileCache();
  const spawn = (): Promise<void> =>
    new Promise((resolve, reject) => {
      worker = new Worker(new URL('./engine-worker.ts', import.meta.url), { workerData: data });
      worker.on('message', (message: EngineThreadMessage) => {
        if (message.type === 'started') resolve();
        else if (message.type === 'failed')
          reject(new Error(`the ${data.role} thread could not start: ${message.error}`));
        else {
          Object.assign(counters, message.counters);
          latency = message.latency;
        }
      });
      worker.on('error', (error) => {
        log.error({ err: error }, `${data.role} thread failed: ${describeError(error)}`);
      });
      worker.on('exit', (code) => {
        if (stopping) return;
        log.error({ code }, 'engine thread exited; restarting it');
        setTimeout(() => {
          if (!stopping)
            spawn().catch((error: unknown) => {
              log.error({ err: error }, describeError(error));
            });
        }, 1000);
      });
    });

  await spawn();
  return {
    counters,
    pulseLatency: () => latency,
    async stop() {
      stopping = true;
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.postMessage({ type: 'stop' });
      if (await settleWithin(exited, 15_000)) {
        log.warn('engine thread did not stop in time; terminating it');
        await worker.terminate();
      }
    },
  };
}
