// Entry point of an engine worker thread (see engine-thread.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { describeError } from '../src/errors.ts';
import { createLogger } from '../src/logging/logger.ts';
import { openDatabase } from '../src/storage/database.ts';
import { startIdentityConsumer } from './identity-consumer.ts';
import { createKafkaClient } from './kafka-client.ts';
import { createEmbeddedBus } from './embedded-bus.ts';
import { startOutboxRelay } from './outbox.ts';
import type { EngineThreadData, EngineThreadMessage } from './engine-thread.ts';
import { createOutboundStage } from '../src/engine/outbound-stage.ts';
import { createPlanCache } from '../src/engine/plan-cache.ts';
import { loadPlugins } from '../src/plan/plugins.ts';
import { createEngineImportStage } from '../src/engine/import-stage.ts';

const port = parentPort;
if (port === null) throw new Error('engine-worker.ts runs as a worker thread only');
const data = workerData as EngineThreadData;
const post = (message: EngineThreadMessage): void => {
  port.postMessage(message);
};
const logger = createLogger({ level: data.connection.logLevel }).child({ thread: data.role });

try {
  const orm = await openDatabase({
    url: data.connection.databaseUrl,
    poolSize: data.connection.poolSize,
    logger,
  });
  const { brokers } = data.connection;
  const bus =
    brokers === undefined
      ? createEmbeddedBus({ em: orm.em, logger })
      : createKafkaClient({ brokers, clientId: `${data.connection.clientId}-${data.role}`, logger });
  const plans =
    data.outbound === true || data.importStage !== undefined
      ? createPlanCache(await loadPlugins(data.settings.pluginsDir))
      : undefined;
  const outbound =
    data.outbound === true && plans !== undefined ? createOutboundStage({ plans }).decide : undefined;
  const handle =
    data.importStage !== undefined && plans !== undefined
      ? createEngineImportStage({ plans, ...data.importStage })
      : undefined;
  const consumer =
    data.topics.length === 0
      ? undefined
      : await startIdentityConsumer({
          bus,
          orm,
          logger,
          settings: data.settings,
          groupId: data.groupId,
          topics: data.topics,
          concurrency: data.concurrency,
          cacheSize: data.cacheSize,
          ...(outbound === undefined ? {} : { outbound }),
          ...(handle === undefined ? {} : { handle }),
        });
  const relay = data.relay ? startOutboxRelay({ em: orm.em, bus, logger }) : undefined;
  const stats = setInterval(() => {
    if (consumer !== undefined)
      post({ type: 'stats', counters: consumer.counters, latency: consumer.pulseLatency() });
  }, 500);
  port.on('message', (message: { type: string }) => {
    if (message.type !== 'stop') return;
    clearInterval(stats);
    void (consumer?.stop() ?? Promise.resolve())
      .then(async () => {
        // The relay last: it publishes what the consumers committed before they stopped.
        await relay?.stop();
        await orm.close();
      })
      .finally(() => {
        if (consumer !== undefined)
          post({ type: 'stopped', counters: consumer.counters, latency: consumer.pulseLatency() });
        port.close();
      });
  });
  post({ type: 'started' });
} catch (error) {
  post({ type: 'failed', error: describeError(error) });
  port.close();
}
