// The kafkajs client, configured once and logging through pino.
import { Kafka, logLevel, type LogEntry, type RetryOptions } from 'kafkajs';
import type { Logger } from 'pino';

// Joinery uses kafkajs's default (Java-compatible murmur2) partitioner on purpose, and the embedded bus
// partitions the same way; kafkajs would otherwise warn about its v2 default change at every producer.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

export function createKafkaClient(settings: {
  brokers: string[];
  clientId: string;
  logger: Logger;
  retry?: RetryOptions;
}): Kafka {
  const log = settings.logger.child({ component: 'kafka' });
  return new Kafka({
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
