// The embedded bus: Kafka's topics, partitions, offsets and consumer groups kept in PostgreSQL, so
// `npm start` with no KAFKA_BROKERS runs the same engine on one machine and loses nothing on kill -9.
// Producers take offsets under the partition's row lock (commits therefore land in offset order);
// consumers in a group share the partitions round-robin by member id, heartbeat into bus_member, and a
// member silent for longer than its session timeout is dropped and its partitions reassigned.
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { ITopicConfig } from 'kafkajs';
import { JavaCompatiblePartitioner } from './partitioner.ts';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { describeError } from '../kernel/errors.ts';
import { backoffDelay, type BackoffPolicy } from '../kernel/retry.ts';
import type { Bus, BusAdmin, BusBatchPayload, BusConsumer, BusMessage, BusProducer } from './bus.ts';
import { headersAsStrings } from './outbox.ts';

export interface EmbeddedBusOptions {
  em: EntityManager;
  logger: Logger;
  /** How often an idle consumer looks for new messages. */
  pollIntervalMs?: number;
  /** Most messages handed to one eachBatch call. */
  fetchSize?: number;
}

const DEFAULT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

// Equal jitter: PostgreSQL, which failed a consumer's round, gets a pause before the next, never none (full
// jitter could); the spread keeps the consumers of every group, failing together, out of step.
const consumerBackoff: BackoffPolicy = { initialDelayMs: 200, maxDelayMs: 5_000, jitter: 'equal' };

export function createEmbeddedBus(options: EmbeddedBusOptions): Bus {
  const em = () => options.em.fork();
  const partitionCounts = new Map<string, number>();

  const partitionsOf = async (topic: string): Promise<number> => {
    let count = partitionCounts.get(topic);
    if (count === undefined) {
      const { rows } = await sql<{
        partitions: number;
      }>`select partitions from bus_topic where name = ${topic}`.execute(em().getKysely());
      count = rows[0]?.partitions;
      if (count === undefined) throw new Error(`the embedded bus has no topic ${topic}`);
      partitionCounts.set(topic, count);
    }
    return count;
  };

  return {
    admin: () => createAdmin(em),
    producer: () => createProducer(em, partitionsOf),
    consumer: (config) =>
      createConsumer({
        em,
        logger: options.logger,
        groupId: config.groupId,
        sessionTimeoutMs: config.sessionTimeout ?? 30_000,
        heartbeatIntervalMs: config.heartbeatInterval ?? 3000,
        pollIntervalMs: options.pollIntervalMs ?? 50,
        fetchSize: options.fetchSize ?? 2000,
      }),
  };
}

function createAdmin(em: () => EntityManager): BusAdmin {
  return {
    async connect() {},
    async disconnect() {},
    async listTopics() {
      const { rows } = await sql<{ name: string }>`select name from bus_topic`.execute(em().getKysely());
      return rows.map((row) => row.name);
    },
    async fetchTopicMetadata({ topics }: { topics: string[] }) {
      const { rows } = await sql<{ name: string; partitions: number }>`
        select name, partitions from bus_topic where name = any(${topics})`.execute(em().getKysely());
      const found = new Map(rows.map((row) => [row.name, row.partitions]));
      return {
        topics: topics.map((name) => {
          const partitions = found.get(name);
          if (partitions === undefined) throw new Error(`the embedded bus has no topic ${name}`);
          return {
            name,
            partitions: Array.from({ length: partitions }, (_, partitionId) => ({ partitionId })),
          };
        }),
      };
    },
    async createTopics({ topics }: { topics: ITopicConfig[] }) {
      await em().transactional(async (tx) => {
        for (const topic of topics) {
          const retention = topic.configEntries?.find((entry) => entry.name === 'retention.ms')?.value;
          const partitions = topic.numPartitions ?? 1;
          await sql`
            insert into bus_topic (name, partitions, retention_ms, created_at)
            values (${topic.topic}, ${partitions}, ${Number(retention ?? DEFAULT_RETENTION_MS)}, now())
            on conflict do nothing`.execute(tx.getKysely());
          await sql`
            insert into bus_partition (topic, partition, next_offset)
            select ${topic.topic}, p, 0 from generate_series(0, ${partitions - 1}) as p
            on conflict do nothing`.execute(tx.getKysely());
        }
      });
      return true;
    },
    async fetchTopicOffsets(topic: string) {
      const { rows } = await sql<{ partition: number; low: string; high: string }>`
        select p.partition, p.next_offset::text as high,
          coalesce((select min(m."offset") from bus_message m where m.topic = p.topic and m.partition = p.partition),
            p.next_offset)::text as low
        from bus_partition p where p.topic = ${topic} order by p.partition`.execute(em().getKysely());
      if (rows.length === 0) throw new Error(`the embedded bus has no topic ${topic}`);
      return rows;
    },
    async deleteGroups(groupIds: string[]) {
      await em().transactional(async (tx) => {
        await sql`delete from bus_group_offset where group_id = any(${groupIds}::text[])`.execute(
          tx.getKysely(),
        );
        await sql`delete from bus_member where group_id = any(${groupIds}::text[])`.execute(tx.getKysely());
      });
    },
  };
}

function createProducer(
  em: () => EntityManager,
  partitionsOf: (topic: string) => Promise<number>,
): BusProducer {
  // Kafka's own default partitioning (murmur2 of the key), so keys land on the same partitions as on Kafka.
  const partitioner = JavaCompatiblePartitioner();
  return {
    async connect() {},
    async disconnect() {},
    async sendBatch({ topicMessages }) {
      const rows: {
        topic: string;
        partition: number;
        key: string | null;
        value: string | null;
        headers: Record<string, string>;
      }[] = [];
      for (const { topic, messages } of topicMessages) {
        const count = await partitionsOf(topic);
        const partitionMetadata = Array.from({ length: count }, (_, partitionId) => ({
          partitionId,
          leader: 0,
          partitionErrorCode: 0,
          replicas: [0],
          isr: [0],
        }));
        for (const message of messages) {
          const key = message.key === undefined || message.key === null ? null : message.key.toString();
          const partition = partitioner({ topic, partitionMetadata, message: { key, value: null } });
          rows.push({
            topic,
            partition,
            key,
            value: message.value === null ? null : Buffer.from(message.value).toString('base64'),
            headers: headersAsStrings(message.headers),
          });
        }
      }
      if (rows.length === 0) return [];
      await em().transactional(async (tx) => {
        const k = tx.getKysely();
        // Offsets are reserved partition by partition, in one order, under each partition's row lock.
        const counts = new Map<string, number>();
        for (const row of rows)
          counts.set(
            `${row.topic}\u0000${String(row.partition)}`,
            (counts.get(`${row.topic}\u0000${String(row.partition)}`) ?? 0) + 1,
          );
        const first = new Map<string, bigint>();
        for (const slot of [...counts.keys()].sort()) {
          const [topic = '', partition = '0'] = slot.split('\u0000');
          const { rows: reserved } = await sql<{ first: string }>`
            update bus_partition set next_offset = next_offset + ${counts.get(slot) ?? 0}
            where topic = ${topic} and partition = ${Number(partition)}
            returning next_offset - ${counts.get(slot) ?? 0} as first`.execute(k);
          first.set(slot, BigInt(reserved[0]?.first ?? '0'));
        }
        const document = rows.map((row) => {
          const slot = `${row.topic}\u0000${String(row.partition)}`;
          const offset = first.get(slot) ?? 0n;
          first.set(slot, offset + 1n);
          return { ...row, offset: offset.toString() };
        });
        await sql`
          insert into bus_message (topic, partition, "offset", key, value, headers, created_at)
          select e->>'topic', (e->>'partition')::int, (e->>'offset')::bigint, e->>'key', decode(e->>'value', 'base64'), e->'headers', now()
          from jsonb_array_elements(${JSON.stringify(document)}::jsonb) as e`.execute(k);
      });
      return [];
    },
  };
}

interface ConsumerOptions {
  em: () => EntityManager;
  logger: Logger;
  groupId: string;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  pollIntervalMs: number;
  fetchSize: number;
}

function createConsumer(options: ConsumerOptions): BusConsumer {
  const memberId = randomUUID();
  const log = options.logger.child({ component: 'embedded-bus', group: options.groupId });
  let topics: string[] = [];
  /** Where a partition the group has no offset for starts: its first message, or (like Kafka's latest) its end. */
  let fromBeginning = true;
  const state = { running: false };
  const isRunning = (): boolean => state.running;
  let loop: Promise<void> | undefined;
  /** Partitions this member owns now, as "topic\0partition". */
  let assigned = new Set<string>();
  /** Where this member is in each owned partition (next offset to fetch). */
  const positions = new Map<string, bigint>();
  /** Where seek() asked a partition to be read from once this member owns it. */
  const seeks = new Map<string, bigint>();
  const k = () => options.em().getKysely();

  const heartbeat = async (): Promise<void> => {
    await sql`
      insert into bus_member (group_id, member_id, topics, session_timeout_ms, heartbeat_at)
      values (${options.groupId}, ${memberId}, ${topics}::text[], ${options.sessionTimeoutMs}, now())
      on conflict (group_id, member_id) do update set heartbeat_at = now()`.execute(k());
  };

  /** Drops silent members, then takes every n-th partition, n = this member's rank in the group. */
  const rebalance = async (): Promise<void> => {
    await heartbeat();
    await sql`
      delete from bus_member where group_id = ${options.groupId}
      and heartbeat_at < now() - make_interval(secs => session_timeout_ms / 1000.0)`.execute(k());
    const members = (
      await sql<{
        member_id: string;
      }>`select member_id from bus_member where group_id = ${options.groupId} order by member_id`.execute(k())
    ).rows.map((row) => row.member_id);
    const partitions = (
      await sql<{ topic: string; partition: number }>`
        select topic, partition from bus_partition where topic = any(${topics}::text[]) order by topic, partition`.execute(
        k(),
      )
    ).rows;
    const rank = members.indexOf(memberId);
    const next = new Set<string>();
    partitions.forEach((row, index) => {
      if (rank >= 0 && index % members.length === rank)
        next.add(`${row.topic}\u0000${String(row.partition)}`);
    });
    for (const slot of assigned) if (!next.has(slot)) positions.delete(slot);
    const gained = [...next].filter((slot) => !assigned.has(slot));
    assigned = next;
    if (gained.length > 0) {
      // A newly owned partition starts where the group committed.
      const { rows } = await sql<{ topic: string; partition: number; next_offset: string }>`
        select topic, partition, next_offset from bus_group_offset where group_id = ${options.groupId}`.execute(
        k(),
      );
      const committed = new Map(
        rows.map((row) => [`${row.topic}\u0000${String(row.partition)}`, BigInt(row.next_offset)]),
      );
      const ends = fromBeginning
        ? new Map<string, bigint>()
        : new Map(
            (
              await sql<{ topic: string; partition: number; next_offset: string }>`
                select topic, partition, next_offset from bus_partition where topic = any(${topics}::text[])`.execute(
                k(),
              )
            ).rows.map((row) => [`${row.topic}\u0000${String(row.partition)}`, BigInt(row.next_offset)]),
          );
      for (const slot of gained) {
        positions.set(slot, seeks.get(slot) ?? committed.get(slot) ?? ends.get(slot) ?? 0n);
        seeks.delete(slot);
      }
      log.debug({ member: memberId, partitions: assigned.size }, 'partitions assigned');
    }
  };

  const fetch = async (slot: string): Promise<BusMessage[]> => {
    const [topic = '', partition = '0'] = slot.split('\u0000');
    const { rows } = await sql<{
      offset: string;
      key: string | null;
      value: Buffer | null;
      headers: Record<string, string>;
    }>`
      select "offset", key, value, headers from bus_message
      where topic = ${topic} and partition = ${Number(partition)} and "offset" >= ${(positions.get(slot) ?? 0n).toString()}
      order by "offset" limit ${options.fetchSize}`.execute(k());
    return rows.map((row) => ({
      offset: row.offset,
      key: row.key === null ? null : Buffer.from(row.key),
      value: row.value,
      headers: row.headers,
    }));
  };

  const consumePartition = async (
    slot: string,
    eachBatch: (payload: BusBatchPayload) => Promise<void>,
  ): Promise<boolean> => {
    const messages = await fetch(slot);
    if (messages.length === 0) return false;
    const [topic = '', partition = '0'] = slot.split('\u0000');
    let resolved: bigint | undefined;
    await eachBatch({
      batch: { topic, partition: Number(partition), messages },
      resolveOffset: (offset) => {
        resolved = BigInt(offset) + 1n;
      },
      commitOffsetsIfNecessary: async () => {
        if (resolved === undefined) return;
        positions.set(slot, resolved);
        await sql`
          insert into bus_group_offset (group_id, topic, partition, next_offset)
          values (${options.groupId}, ${topic}, ${Number(partition)}, ${resolved.toString()})
          on conflict (group_id, topic, partition) do update set next_offset = excluded.next_offset`.execute(
          k(),
        );
      },
      heartbeat,
      isRunning,
      isStale: () => !assigned.has(slot),
    });
    if (resolved !== undefined) positions.set(slot, resolved);
    return true;
  };

  const retention = async (): Promise<void> => {
    await sql`
      delete from bus_message m using bus_topic t
      where m.topic = t.name and m.topic = any(${topics}::text[])
      and m.created_at < now() - make_interval(secs => t.retention_ms / 1000.0)`.execute(k());
  };

  return {
    async connect() {},
    seek({ topic, partition, offset }) {
      const slot = `${topic}\u0000${String(partition)}`;
      if (assigned.has(slot)) positions.set(slot, BigInt(offset));
      else seeks.set(slot, BigInt(offset));
    },
    async subscribe(subscription) {
      topics = subscription.topics;
      fromBeginning = subscription.fromBeginning ?? false;
    },
    async run({ eachBatch, partitionsConsumedConcurrently = 1 }) {
      state.running = true;
      await rebalance();
      loop = (async () => {
        let lastRebalance = Date.now();
        let lastRetention = Date.now();
        let failures = 0;
        while (isRunning()) {
          try {
            if (Date.now() - lastRebalance >= options.heartbeatIntervalMs) {
              await rebalance();
              lastRebalance = Date.now();
            }
            if (Date.now() - lastRetention >= 60_000) {
              await retention();
              lastRetention = Date.now();
            }
            const slots = [...assigned];
            let busy = false;
            for (
              let start = 0;
              start < slots.length && isRunning();
              start += partitionsConsumedConcurrently
            ) {
              const results = await Promise.all(
                slots
                  .slice(start, start + partitionsConsumedConcurrently)
                  .map((slot) => consumePartition(slot, eachBatch)),
              );
              busy ||= results.some(Boolean);
            }
            failures = 0;
            if (!busy) await sleep(options.pollIntervalMs);
          } catch (error) {
            failures++;
            log.warn(
              { err: error, failures },
              `embedded bus consumer failed, retrying: ${describeError(error)}`,
            );
            await sleep(backoffDelay(consumerBackoff, failures));
          }
        }
      })();
    },
    async disconnect() {
      state.running = false;
      await loop;
      await sql`delete from bus_member where group_id = ${options.groupId} and member_id = ${memberId}`
        .execute(k())
        .catch(() => undefined);
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
