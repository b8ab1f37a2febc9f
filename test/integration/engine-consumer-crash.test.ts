// kafkajs restarts a consumer only after errors it deems retriable; after any other it leaves the consumer
// stopped. The engine must notice and start a new one (real Kafka and PostgreSQL; the failure is injected
// into the first batch, then kafkajs's own crash handling runs).
import { KafkaJSNonRetriableError } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { Bus, BusConsumer } from '../../streams/bus.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { newIdentities, produceWave, verifyLedger, waitUntilConsumed } from '../support/engine-process.ts';
import { recordingLogger } from '../support/factories.ts';
import { createStreamsFixture, startTestEngine, type StreamsFixture } from '../support/streams.ts';

describe('engine when the Kafka client gives up on a consumer (real Kafka and PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine | undefined;
  const log = recordingLogger('info');

  beforeAll(async () => {
    fixture = await createStreamsFixture({ partitions: 3 });
  }, 60_000);
  afterAll(async () => {
    await engine?.stop();
    await fixture.close();
  });

  it('starts a new consumer and applies every event exactly once', async () => {
    onTestFailed(() => {
      console.log(`the engine's log:\n${log.lines().join('\n')}`);
    });
    let injected = 0;
    // The bulk group's first consumer fails its first batch with an error kafkajs does not retry.
    const bus: Bus = {
      admin: () => fixture.kafka.admin(),
      producer: (options) => fixture.kafka.producer(options),
      consumer: (config): BusConsumer => {
        const consumer = fixture.kafka.consumer(config);
        if (config.groupId !== fixture.groupId || injected > 0) return consumer;
        const run = consumer.run.bind(consumer);
        return Object.assign(consumer, {
          run: (options: Parameters<BusConsumer['run']>[0]) =>
            run({
              ...options,
              eachBatch: async (payload) => {
                if (injected === 0) {
                  injected++;
                  throw new KafkaJSNonRetriableError('injected: a failure the client does not retry');
                }
                await options.eachBatch(payload);
              },
            }),
        });
      },
    };
    const identities = newIdentities(100);
    await produceWave(fixture, identities, 1, 10);
    engine = await startTestEngine(fixture, { bus, logger: log.logger });
    await waitUntilConsumed(fixture, 60_000);
    await verifyLedger(fixture, identities, 10);
    expect(injected).toBe(1);
    const lines = log.lines().join('\n');
    expect(lines).toContain(
      'consumer stopped on an error the Kafka client does not retry; starting a new one',
    );
    expect(lines).toContain('consumer joined its group again');
  }, 120_000);
});
