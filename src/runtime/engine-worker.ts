// Entry point of an engine worker thread (see engine-threads.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { describeError } from '../../kernel/errors.ts';
import { createLogger } from '../../kernel/logger.ts';
import { openDatabase } from '../storage/database.ts';
import { startPartitionConsumer } from '../../streams/partition-consumer.ts';
import { createIdentityBatchHandler } from '../../streams/identity-batch-handler.ts';
import { createKafkaClient } from '../../streams/kafka-client.ts';
import { createEmbeddedBus } from '../../streams/embedded-bus.ts';
import { startOutboxRelay } from '../../streams/outbox.ts';
import { topicName } from '../../streams/topics.ts';
import type { EngineThreadData, EngineThreadMessage } from './engine-threads.ts';
import { createOutboundStage } from '../engine/outbound-stage.ts';
import { createPlanCache, createSensitiveLookup } from '../engine/plan-cache.ts';
import { loadPlugins } from '../plan/plugins.ts';
import { createEngineImportStage } from '../engine/import-stage.ts';
import { createSensitiveValues } from '../secrets/sensitive-values.ts';
import { createAuditBatchHandler } from '../audit/audit-consumer.ts';

const port = parentPort;
if (port === null) throw new Error('engine-worker.ts runs as a worker thread only');
const data = workerData as EngineThreadData;
const post = (message: EngineThreadMessage): void => {
  port.postMessage(message);
};
const logger = createLogger({ level: data.connection.logLevel, format: data.connection.logFormat }).child({
  thread: data.role,
});

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
      ? createPlanCache(await loadPlugins(data.connection.pluginsDir))
      : undefined;
  const keys = data.connection.masterKeys;
  const masterKeys =
    keys === undefined
      ? undefined
      : {
          current: Buffer.from(keys.current, 'base64'),
          previous: keys.previous.map((key) => Buffer.from(key, 'base64')),
        };
  const outbound =
    data.outbound === true && plans !== undefined
      ? createOutboundStage({
          plans,
          logstream: {
            topic: topicName(data.settings.topics, 'logstream'),
            source: `/joinery/engine/${data.settings.groupId}/outbound`,
          },
        }).decide
      : undefined;
  const actorCache = { hits: 0, misses: 0 };
  const consumer =
    data.topics.length === 0
      ? undefined
      : await startPartitionConsumer({
          bus,
          orm,
          logger,
          settings: data.settings,
          groupId: data.groupId,
          topics: data.topics,
          concurrency: data.concurrency,
          handle:
            data.audit === true
              ? createAuditBatchHandler()
              : data.importStage !== undefined && plans !== undefined
                ? createEngineImportStage({
                    plans,
                    ...data.importStage,
                    logger,
                    ...(masterKeys === undefined
                      ? {}
                      : { sensitiveValues: createSensitiveValues({ keyring: masterKeys, em: orm.em }) }),
                  })
                : createIdentityBatchHandler({
                    settings: data.settings,
                    cacheSize: data.cacheSize,
                    cacheStats: actorCache,
                    ...(outbound === undefined ? {} : { outbound }),
                    ...(plans === undefined ? {} : { sensitive: createSensitiveLookup(plans) }),
                  }),
          latencyOf: ['pulses'],
          actorCache,
        });
  const relay = data.relay ? startOutboxRelay({ em: orm.em, bus, logger }) : undefined;
  const stats = setInterval(() => {
    if (consumer !== undefined)
      post({ type: 'stats', counters: consumer.counters, latency: consumer.latency() });
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
          post({ type: 'stopped', counters: consumer.counters, latency: consumer.latency() });
        port.close();
      });
  });
  post({ type: 'started' });
} catch (error) {
  post({ type: 'failed', error: describeError(error) });
  port.close();
}
