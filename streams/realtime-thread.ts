// The real-time consumer (pulses, schedules) in a worker thread: its own event loop, Kafka client and
// PostgreSQL pool, so a pulse never waits for the bulk consumer's CPU work in the main thread. The main
// thread sees its counters and latencies through messages; a thread that dies is restarted.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { describeError } from '../src/errors.ts';
import { settleWithin, type ConsumerCounters, type EngineSettings } from './identity-consumer.ts';
import type { LatencySummary } from './latency.ts';
import type { TopicId } from './topics.ts';

export interface RealtimeConnection {
  databaseUrl: string;
  poolSize: number;
  brokers: string[];
  clientId: string;
  logLevel: string;
}

export interface RealtimeWorkerData {
  connection: RealtimeConnection;
  settings: EngineSettings;
  groupId: string;
  topics: TopicId[];
  concurrency: number;
  cacheSize: number;
}

export type RealtimeWorkerMessage =
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
});

export async function startRealtimeWorker(
  options: Omit<RealtimeWorkerData, never> & { logger: Logger },
): Promise<{ counters: ConsumerCounters; pulseLatency(): LatencySummary; stop(): Promise<void> }> {
  const { logger, ...data } = options;
  const log = logger.child({ component: 'engine', thread: 'realtime' });
  const counters = emptyCounters();
  let latency: LatencySummary = { count: 0, p50: 0, p99: 0, max: 0 };
  let stopping = false;
  let worker: Worker;

  const spawn = (): Promise<void> =>
    new Promise((resolve, reject) => {
      worker = new Worker(new URL('./realtime-worker.ts', import.meta.url), { workerData: data });
      worker.on('message', (message: RealtimeWorkerMessage) => {
        if (message.type === 'started') resolve();
        else if (message.type === 'failed')
          reject(new Error(`the real-time consumer could not start: ${message.error}`));
        else {
          Object.assign(counters, message.counters);
          latency = message.latency;
        }
      });
      worker.on('error', (error) => {
        log.error({ err: error }, `real-time consumer thread failed: ${describeError(error)}`);
      });
      worker.on('exit', (code) => {
        if (stopping) return;
        log.error({ code }, 'real-time consumer thread exited; restarting it');
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
        log.warn('real-time consumer thread did not stop in time; terminating it');
        await worker.terminate();
      }
    },
  };
}
