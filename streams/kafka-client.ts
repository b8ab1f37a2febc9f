// The kafkajs client, configured once and logging through pino.
import {
  Kafka,
  logLevel,
  PartitionAssigners,
  type Consumer,
  type ConsumerConfig,
  type LogEntry,
  type Producer,
  type ProducerConfig,
  type RetryOptions,
} from 'kafkajs';
import type { Logger } from 'pino';
import { SubscribedRoundRobinAssigner } from './kafka-assigner.ts';
import { installNativeCrc32c } from './kafka-crc32c.ts';
import { installRecordEncoder } from './kafka-record-encoder.ts';
import { JavaCompatiblePartitioner } from './partitioner.ts';

// Before any producer sends: kafkajs loads its produce request, and with it the record encoder and the
// record batch checksum, on first use.
installRecordEncoder();
installNativeCrc32c();

/**
 * Producers partition as kafkajs's default (Java-compatible murmur2) partitioner does, with a faster hash
 * (streams/partitioner.ts), named explicitly: the embedded bus partitions the same way, and kafkajs warns
 * about its v2 default change at every producer that leaves it implicit.
 */
class JoineryKafka extends Kafka {
  override producer(config?: ProducerConfig): Producer {
    return super.producer({ createPartitioner: JavaCompatiblePartitioner, ...config });
  }

  /**
   * Consumers share partitions only among the members subscribed to them (streams/kafka-assigner.ts). A
   * member of an older version offers only kafkajs's round robin, which stays second: a group with one
   * agrees on that until every member offers both.
   */
  override consumer(config: ConsumerConfig): Consumer {
    return super.consumer({
      partitionAssigners: [SubscribedRoundRobinAssigner, PartitionAssigners.roundRobin],
      ...config,
    });
  }
}

export function createKafkaClient(settings: {
  brokers: string[];
  clientId: string;
  logger: Logger;
  retry?: RetryOptions;
}): Kafka {
  const log = settings.logger.child({ component: 'kafka' });
  return new JoineryKafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    logLevel: logLevel.WARN,
    ...(settings.retry ? { retry: settings.retry } : {}),
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        if (level === logLevel.ERROR) log.error(rest, message);
        else if (level === logLevel.WARN) log.warn(rest, message);
        else log.debug(rest, message);
      },
  });
}
