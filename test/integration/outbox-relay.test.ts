// The outbox relay on the real PostgreSQL and Kafka: it publishes what transactions wrote, in order, and
// keeps its own table from filling with dead rows (every row is inserted once and deleted once).
import { connect, type Socket } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { Bus } from '../../streams/bus.ts';
import { recordHeaders } from '../../streams/cloudevents.ts';
import { headersAsStrings, insertOutbox, startOutboxRelay, type OutboxRow } from '../../streams/outbox.ts';
import { recordingLogger, silentLogger } from '../support/factories.ts';
import { createStreamsFixture, query, readTopic, waitFor, type StreamsFixture } from '../support/streams.ts';

describe('the outbox relay (real PostgreSQL and Kafka)', () => {
  let fixture: StreamsFixture;
  beforeAll(async () => {
    fixture = await createStreamsFixture({ partitions: 1 });
  }, 60_000);
  afterAll(async () => {
    await fixture.close();
  });

  const payload = (n: number) => ({ n, pad: 'x'.repeat(700), name: 'Zoë Ångström' });
  const storedAs = (form: number, data: object): OutboxRow['value'] =>
    form === 0 ? { json: data } : form === 1 ? JSON.stringify(data) : Buffer.from(JSON.stringify(data));

  const cloudEventHeaders = (n: number) =>
    recordHeaders({
      id: `row-${String(n)}`,
      type: 'joinery.log.v1',
      source: '/joinery/test',
      time: '2026-12-04T21:00:00.000Z',
      tenantId: fixture.tenantId,
    });

  it("publishes every row in order, even batches over Kafka's message size on one key, and vacuums the outbox as it goes", async () => {
    const topic = fixture.topic('logstream');
    const rows = (from: number, count: number): OutboxRow[] =>
      Array.from({ length: count }, (_, i) => ({
        tenantId: fixture.tenantId,
        topic,
        key: 'one-key',
        // 2,000 of these on one key are 1.5 MB: over Kafka's 1 MiB max.message.bytes in one request. JSON
        // values (every CloudEvent), text and bytes (a dead letter's original) are stored differently: all go
        // out, each as the same bytes.
        value: storedAs(i % 3, payload(from + i)),
        // A CloudEvent's headers are stored as its id, type, source and time; other headers as they are.
        headers: i % 2 === 0 ? cloudEventHeaders(from + i) : { ce_id: `row-${String(from + i)}` },
      }));
    for (let wave = 0; wave < 5; wave++) {
      await fixture.orm.em.fork().transactional((tx) => insertOutbox(tx, rows(wave * 1000, 1000)));
    }
    const statsBefore = await vacuums(fixture);

    const relay = startOutboxRelay({
      em: fixture.orm.em,
      bus: fixture.kafka,
      logger: silentLogger,
      batchSize: 2000,
      vacuumEveryMessages: 2000,
    });
    try {
      const read = await readTopic(fixture.bus, topic, (messages) => messages.length >= 5000);
      expect(read.map((message) => String(message.value))).toEqual(
        Array.from({ length: 5000 }, (_, n) => JSON.stringify(payload(n))),
      );
      expect(read.map((message) => headersAsStrings(message.headers))).toEqual(
        Array.from({ length: 5000 }, (_, n) =>
          n % 2 === 0 ? cloudEventHeaders(n) : { ce_id: `row-${String(n)}` },
        ),
      );
      const values = read.map((message) => JSON.parse(String(message.value)) as { n: number; name: string });
      expect(values.map((value) => value.n)).toEqual(Array.from({ length: 5000 }, (_, n) => n));
      expect(new Set(values.map((value) => value.name))).toEqual(new Set(['Zoë Ångström']));
      await waitFor('the outbox to be empty', async () =>
        (await query<{ n: string }>(fixture.database.url, 'select count(*) as n from outbox'))[0]?.n === '0'
          ? true
          : undefined,
      );
      // 5,000 rows at one vacuum every 2,000 messages: the relay ran VACUUM itself (autovacuum may be off).
      await waitFor('the relay to vacuum the outbox', async () =>
        (await vacuums(fixture)) >= statsBefore + 2 ? true : undefined,
      );
    } finally {
      await relay.stop();
    }
  });
  it('goes on publishing after a send whose answer was lost, though the next batch holds more messages', async () => {
    const topic = fixture.topic('outbound');
    const rows = (from: number, count: number): OutboxRow[] =>
      Array.from({ length: count }, (_, i) => ({
        tenantId: fixture.tenantId,
        topic,
        key: 'one-key',
        value: JSON.stringify({ n: from + i }),
        headers: { ce_id: `lost-${String(from + i)}` },
      }));
    // The broker writes the first produce request, then the connection drops before its answer arrives,
    // and every answer after it until the send gives up (as when the broker goes away); meanwhile more rows
    // reach the outbox, so the relay's next batch is larger.
    let losingAnswers = false;
    let produceWritten = false;
    const PRODUCE_API_KEY = 0; // a request: int32 size, then int16 api key
    const kafka = new Kafka({
      clientId: 'joinery-test-lossy',
      brokers: fixture.brokers,
      logLevel: logLevel.NOTHING,
      socketFactory: ({ host, port, onConnect }) => {
        const socket: Socket = connect({ host, port }, onConnect);
        const write = socket.write.bind(socket) as (chunk: unknown, ...args: unknown[]) => boolean;
        socket.write = (chunk: unknown, ...args: unknown[]) => {
          if (
            losingAnswers &&
            Buffer.isBuffer(chunk) &&
            chunk.length >= 6 &&
            chunk.readInt16BE(4) === PRODUCE_API_KEY
          )
            produceWritten = true;
          return write(chunk, ...args);
        };
        const emit = socket.emit.bind(socket) as (event: string, ...args: unknown[]) => boolean;
        socket.emit = ((event: string, ...args: unknown[]) => {
          if (event === 'data' && losingAnswers && produceWritten) {
            socket.destroy(new Error('connection lost before the answer'));
            return true;
          }
          return emit(event, ...args);
        }) as typeof socket.emit;
        return socket;
      },
    });
    let producers = 0;
    let failedOnce = false;
    const bus: Pick<Bus, 'producer'> = {
      producer: (options) => {
        producers++;
        const producer = kafka.producer({ ...options, retry: { retries: 1, initialRetryTime: 50 } });
        return {
          connect: () => producer.connect(),
          disconnect: () => producer.disconnect(),
          async sendBatch(batch) {
            if (failedOnce) return producer.sendBatch(batch);
            failedOnce = true;
            losingAnswers = true;
            try {
              return await producer.sendBatch(batch);
            } catch (error) {
              losingAnswers = false;
              expect(produceWritten).toBe(true);
              await fixture.orm.em.fork().transactional((tx) => insertOutbox(tx, rows(10, 10)));
              throw error;
            }
          },
        };
      },
    };
    await fixture.orm.em.fork().transactional((tx) => insertOutbox(tx, rows(0, 10)));
    const log = recordingLogger();
    onTestFailed(() => {
      console.log(`the relay's warnings and errors:\n${log.lines().join('\n')}`);
    });
    const relay = startOutboxRelay({ em: fixture.orm.em, bus, logger: log.logger });
    try {
      // Every message arrives, in order; the ten the lost request wrote arrive twice (same ce_id).
      const read = await readTopic(fixture.bus, topic, (messages) => messages.length >= 30, 20_000);
      const numbers = read.map((message) => (JSON.parse(String(message.value)) as { n: number }).n);
      expect(numbers).toEqual([...range(0, 10), ...range(0, 10), ...range(10, 10)]);
      expect(producers).toBe(2);
    } finally {
      await relay.stop();
    }
  });
});

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

/** How many times the outbox was vacuumed by hand (VACUUM), as PostgreSQL counts it. */
async function vacuums(fixture: StreamsFixture): Promise<number> {
  const [row] = await query<{ n: string }>(
    fixture.database.url,
    "select vacuum_count as n from pg_stat_user_tables where relname = 'outbox'",
  );
  return Number(row?.n ?? 0);
}
