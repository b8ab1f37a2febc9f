import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from 'kafkajs';
import { createKafka } from '../../src/infra/kafka.ts';
import { createKafkaClient } from '../../streams/kafka-client.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';
import { waitFor } from '../support/streams.ts';

describe('Kafka broker (real, KRaft)', () => {
  const kafka = createKafkaClient({
    brokers: createKafka().brokers,
    clientId: 'joinery-test',
    logger: silentLogger,
  });
  let admin: Admin;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.disconnect();
  });

  it('gives two deployments sharing a group id each every partition of its own topics', async () => {
    // Two deployments on one broker, same engine group id, different topic prefixes: kafkajs's own round
    // robin gave each member partitions of the other's topic, which it dropped — never read by anyone.
    const groupId = uniqueName('joinery-test-shared-group');
    const topics = [uniqueName('prod.imports'), uniqueName('staging.imports')];
    await admin.createTopics({
      topics: topics.map((topic) => ({ topic, numPartitions: 4 })),
      waitForLeaders: true,
    });
    const producer = kafka.producer();
    await producer.connect();
    for (const topic of topics)
      await producer.send({
        topic,
        messages: Array.from({ length: 4 }, (_, partition) => ({
          partition,
          value: `${topic}/${String(partition)}`,
        })),
      });
    await producer.disconnect();

    const consumers = topics.map(() => kafka.consumer({ groupId, sessionTimeout: 10_000 }));
    const seen = topics.map(() => new Set<string>());
    try {
      await Promise.all(
        consumers.map(async (consumer, index) => {
          await consumer.connect();
          await consumer.subscribe({ topic: topics[index] ?? '', fromBeginning: true });
          await consumer.run({
            eachMessage: async ({ message }) => {
              seen[index]?.add(message.value?.toString() ?? '');
            },
          });
        }),
      );
      await waitFor('both deployments to read all 4 partitions of their topic', async () =>
        seen.every((values) => values.size === 4) ? true : undefined,
      );
      topics.forEach((topic, index) => {
        expect([...(seen[index] ?? [])].sort()).toEqual(
          [0, 1, 2, 3].map((partition) => `${topic}/${String(partition)}`),
        );
      });
      // The other deployment goes away, its topic with it: this one reads on.
      await consumers[1]?.disconnect();
      await admin.deleteTopics({ topics: [topics[1] ?? ''] });
      const producerAgain = kafka.producer();
      await producerAgain.connect();
      await producerAgain.send({ topic: topics[0] ?? '', messages: [{ partition: 2, value: 'after' }] });
      await producerAgain.disconnect();
      await waitFor('the remaining deployment to read on', async () =>
        seen[0]?.has('after') === true ? true : undefined,
      );
    } finally {
      await Promise.all(consumers.map((consumer) => consumer.disconnect()));
    }
  });

  it('delivers produced messages in key order to a consumer group and keeps its committed offsets', async () => {
    const topic = uniqueName('joinery-test-roundtrip');
    const groupId = uniqueName('joinery-test-group');
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });

    const producer = kafka.producer();
    await producer.connect();
    const sent = Array.from({ length: 30 }, (_, index) => ({
      key: `identity-${index % 5}`,
      value: String(index),
    }));
    await producer.send({ topic, messages: sent });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: { key: string; value: number }[] = [];
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          received.push({ key: message.key?.toString() ?? '', value: Number(message.value?.toString()) });
          if (received.length === sent.length) resolve();
        },
      });
    });
    await consumer.disconnect();

    expect(received).toHaveLength(30);
    for (let key = 0; key < 5; key++) {
      const values = received
        .filter((message) => message.key === `identity-${key}`)
        .map((message) => message.value);
      expect(values).toEqual([...values].sort((a, b) => a - b));
    }
    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = offsets[0]?.partitions.reduce(
      (sum, partition) => sum + Math.max(0, Number(partition.offset)),
      0,
    );
    expect(committed).toBe(30);
  });
});
