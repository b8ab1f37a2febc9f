// A Kafka broker of its own, really stopped and started while the engine is busy.
import { afterAll, beforeAll, describe, it, onTestFailed } from 'vitest';
import { createKafka, type KafkaService } from '../../src/infra/kafka.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { newIdentities, produceWave, verifyLedger, waitUntilConsumed } from '../support/engine-process.ts';
import { recordingLogger } from '../support/factories.ts';
import { createStreamsFixture, startTestEngine, type StreamsFixture } from '../support/streams.ts';

describe('engine across a broker restart (real Kafka and PostgreSQL)', () => {
  const broker: KafkaService = createKafka({ name: 'kafka-restart', port: 29192, heapMb: 512 });
  let fixture: StreamsFixture;
  let engine: Engine;
  const log = recordingLogger();

  beforeAll(async () => {
    await broker.up();
    fixture = await createStreamsFixture({ brokers: broker.brokers, partitions: 6, logger: log.logger });
    engine = await startTestEngine(fixture, { logger: log.logger });
  }, 180_000);
  afterAll(async () => {
    await engine.stop();
    await fixture.close();
    await broker.down();
  });

  it('loses and doubles nothing when the broker restarts mid-stream', async () => {
    onTestFailed(() => {
      console.log(`the engine's warnings and errors:\n${log.lines().join('\n')}`);
    });
    const identities = newIdentities(200);
    await produceWave(fixture, identities, 1, 10);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await broker.down();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await broker.up();
    await fixture.producer.connect();
    await produceWave(fixture, identities, 11, 10);
    await waitUntilConsumed(fixture, 120_000);
    await verifyLedger(fixture, identities, 20);
  }, 300_000);
});
