// Entry point of the real-time consumer's worker thread (see realtime-thread.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { describeError } from '../src/errors.ts';
import { createLogger } from '../src/logging/logger.ts';
import { openDatabase } from '../src/storage/database.ts';
import { startIdentityConsumer } from './identity-consumer.ts';
import { createKafkaClient } from './kafka-client.ts';
import type { RealtimeWorkerData, RealtimeWorkerMessage } from './realtime-thread.ts';

const port = parentPort;
if (port === null) throw new Error('realtime-worker.ts runs as a worker thread only');
const data = workerData as RealtimeWorkerData;
const post = (message: RealtimeWorkerMessage): void => {
  port.postMessage(message);
};
const logger = createLogger({ level: data.connection.logLevel }).child({ thread: 'realtime' });

try {
  const orm = await openDatabase({
    url: data.connection.databaseUrl,
    poolSize: data.connection.poolSize,
    logger,
  });
  const kafka = createKafkaClient({
    brokers: data.connection.brokers,
    clientId: `${data.connection.clientId}-realtime`,
    logger,
  });
  const consumer = await startIdentityConsumer({ kafka, orm, logger, ...data });
  const stats = setInterval(() => {
    post({ type: 'stats', counters: consumer.counters, latency: consumer.pulseLatency() });
  }, 500);
  port.on('message', (message: { type: string }) => {
    if (message.type !== 'stop') return;
    clearInterval(stats);
    void consumer
      .stop()
      .then(() => orm.close())
      .finally(() => {
        post({ type: 'stopped', counters: consumer.counters, latency: consumer.pulseLatency() });
        port.close();
      });
  });
  post({ type: 'started' });
} catch (error) {
  post({ type: 'failed', error: describeError(error) });
  port.close();
}
