// Reading Kafka topics to their end: every message written before the call, in a consumer group of its own,
// with no guess at how long to wait for a late one — the ends (high watermarks) are read first, and the
// read stops once every partition has been consumed up to its end.
import type { Admin, IHeaders, Kafka } from 'kafkajs';
import { createKafkaClient } from '../../streams/kafka-client.ts';
import { silentLogger, uniqueName } from './factories.ts';
import { perObject } from './gathered-objects.ts';

/** A message as the tests look at it: where it was, its CloudEvents headers and its JSON value. */
export interface EndMessage {
  topic: string;
  partition: number;
  offset: string;
  id: string;
  type: string;
  source: string;
  data: Record<string, unknown>;
}

function headerOf(headers: IHeaders | undefined, name: string): string {
  const value = headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first?.toString() ?? '';
}

/**
 * A topic's partition ends (high watermarks). A topic created a moment ago may still be electing its
 * leaders: a retriable broker answer (not the leader, leader not available) is asked again, for 10 s.
 */
export async function topicOffsets(
  admin: Admin,
  topic: string,
): Promise<{ partition: number; high: string }[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (error) {
      const retriable = (error as { retriable?: unknown }).retriable === true;
      if (!retriable || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Everything on `topics` up to their ends as they are when called; fails after `timeoutMs`. */
export async function readTopicsToEnd(
  brokers: string[],
  topics: string[],
  timeoutMs = 30_000,
): Promise<EndMessage[]> {
  const kafka: Kafka = createKafkaClient({ brokers, clientId: 'joinery-test', logger: silentLogger });
  const admin = kafka.admin();
  await admin.connect();
  /** topic/partition → one past its last message; only the partitions that hold something. */
  const ends = new Map<string, bigint>();
  try {
    for (const topic of topics)
      for (const { partition, high } of await topicOffsets(admin, topic))
        if (BigInt(high) > 0n) ends.set(`${topic}/${String(partition)}`, BigInt(high));
  } finally {
    await admin.disconnect();
  }
  const read: EndMessage[] = [];
  if (ends.size === 0) return read;
  const reached = new Map<string, bigint>();
  const consumer = kafka.consumer({ groupId: uniqueName('to-end'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const behind = [...ends]
          .filter(([key, end]) => (reached.get(key) ?? 0n) < end)
          .map(([key, end]) => `${key} at ${String(reached.get(key) ?? 0n)} of ${String(end)}`);
        reject(new Error(`timed out after ${String(timeoutMs)} ms reading to the end: ${behind.join(', ')}`));
      }, timeoutMs);
      void consumer
        .run({
          eachBatch: ({ batch }) => {
            for (const message of batch.messages) {
              const value = message.value?.toString('utf8') ?? '{}';
              read.push(
                ...perObject({
                  topic: batch.topic,
                  partition: batch.partition,
                  offset: message.offset,
                  id: headerOf(message.headers, 'ce_id'),
                  type: headerOf(message.headers, 'ce_type'),
                  source: headerOf(message.headers, 'ce_source'),
                  data: JSON.parse(value) as Record<string, unknown>,
                }),
              );
              reached.set(`${batch.topic}/${String(batch.partition)}`, BigInt(message.offset) + 1n);
            }
            if ([...ends].every(([key, end]) => (reached.get(key) ?? 0n) >= end)) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  // Only what was there when called: a message written since is not part of the answer.
  return read.filter((message) => {
    const end = ends.get(`${message.topic}/${String(message.partition)}`);
    return end !== undefined && BigInt(message.offset) < end;
  });
}
