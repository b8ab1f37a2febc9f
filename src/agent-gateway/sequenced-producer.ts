// Produces an agent's admitted messages exactly once per agent sequence: the connector row remembers the
// last sequence produced, and is locked while a batch is produced, so a batch the agent sends again (its
// ack was lost, or it reconnected) is acknowledged without being produced twice.
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { messageContracts } from '../../kernel/contracts/messages.ts';
import type { Bus } from '../../streams/bus.ts';
import { encodeMessage, type Envelope } from '../../streams/cloudevents.ts';
import { createOrderedProducer } from '../../streams/ordered-producer.ts';
import { topicName, type TopicSettings } from '../../streams/topics.ts';
import { chunkObjectMessages, topicPartitions, type ChunkedEnvelope } from '../connectors/import-chunks.ts';

export interface SequencedProducer {
  /**
   * Produces the messages above the connector's last produced sequence and moves it to `highestSeq` (the
   * highest of the batch, refused messages included), under the connector's row lock.
   */
  produce(
    connectorId: string,
    admitted: { seq: number; envelope: Envelope }[],
    highestSeq: number,
  ): Promise<{ produced: number; skipped: number }>;
  /** Disconnects the producer. */
  close(): Promise<void>;
}

export function createSequencedProducer(options: {
  orm: MikroORM;
  bus: Bus;
  topics: Pick<TopicSettings, 'topicPrefix'>;
}): SequencedProducer {
  // One producer for every connector: a connector's messages keep their order, a failed send replaces it.
  const producer = createOrderedProducer(options.bus);
  // The imports topic's partitions, read once: an agent's objects travel many to a message, grouped by the
  // partition of their keys (src/connectors/import-chunks.ts), as a file's do.
  let importPartitions: Promise<number> | undefined;
  const partitions = (): Promise<number> => {
    importPartitions ??= topicPartitions(options.bus, topicName(options.topics, 'imports')).catch(
      (error: unknown) => {
        importPartitions = undefined;
        throw error;
      },
    );
    return importPartitions;
  };
  return {
    async produce(connectorId, admitted, highestSeq) {
      await producer.connect();
      const imports = admitted.some(({ envelope }) => envelope.type === 'joinery.import.object.v1')
        ? await partitions()
        : undefined;
      return options.orm.em.fork().transactional(async (tx: EntityManager) => {
        const k = tx.getKysely();
        const { rows } = await sql<{ last_produced_seq: string }>`
          select last_produced_seq from connector where id = ${connectorId} for update`.execute(k);
        const last = Number(rows[0]?.last_produced_seq ?? 0);
        const fresh = admitted.filter((message) => message.seq > last);
        const envelopes = fresh.map(({ envelope }) => envelope);
        const byTopic = messagesByTopic(
          options.topics,
          imports === undefined
            ? envelopes.map((envelope) => ({ envelope }))
            : chunkObjectMessages(envelopes, imports),
        );
        if (byTopic.size > 0) {
          await producer.send([...byTopic].map(([topic, messages]) => ({ topic, messages })));
        }
        if (highestSeq > last) {
          await sql`update connector set last_produced_seq = ${highestSeq}
            where id = ${connectorId}`.execute(k);
        }
        return { produced: fresh.length, skipped: admitted.length - fresh.length };
      });
    },
    close: () => producer.close(),
  };
}

/** The envelopes encoded and grouped by the topic of their message type, in their order. */
export function messagesByTopic(
  topics: Pick<TopicSettings, 'topicPrefix'>,
  envelopes: ChunkedEnvelope[],
): Map<string, ReturnType<typeof encodeMessage>[]> {
  const byTopic = new Map<string, ReturnType<typeof encodeMessage>[]>();
  for (const { envelope, json } of envelopes) {
    const topic = topicName(topics, messageContracts[envelope.type].topic);
    const list = byTopic.get(topic) ?? [];
    list.push(encodeMessage(envelope, json));
    byTopic.set(topic, list);
  }
  return byTopic;
}
