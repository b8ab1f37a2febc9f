// A Kafka topic for SIEM consumers (e.g. joinery.siem), on the engine's own bus: each event's payload as
// the value, keyed by tenant (a tenant's events stay in order), the event id in the ce_id header.
// Acknowledged when the broker acknowledged the batch (acks = all).
import type { Bus, BusProducer } from '../../streams/bus.ts';
import { SiemDeliveryError, describeError } from '../../kernel/errors.ts';
import type { SiemFormat } from './destination.schema.ts';
import type { FormattedEvent, SiemTransport } from './payloads.ts';

export function createKafkaTransport(options: {
  bus: Bus;
  topic: string;
  format: SiemFormat;
  partitions: number;
  replicationFactor: number;
}): SiemTransport {
  let producer: BusProducer | undefined;
  let topicReady = false;
  const ensure = async (): Promise<BusProducer> => {
    if (!topicReady) {
      const admin = options.bus.admin();
      await admin.connect();
      try {
        if (!(await admin.listTopics()).includes(options.topic))
          await admin.createTopics({
            topics: [
              {
                topic: options.topic,
                numPartitions: options.partitions,
                replicationFactor: options.replicationFactor,
              },
            ],
            waitForLeaders: true,
          });
      } finally {
        await admin.disconnect();
      }
      topicReady = true;
    }
    if (producer === undefined) {
      const created = options.bus.producer({ idempotent: true, maxInFlightRequests: 1 });
      await created.connect();
      producer = created;
    }
    return producer;
  };
  return {
    async deliver(events: readonly FormattedEvent[]) {
      try {
        const target = await ensure();
        await target.sendBatch({
          acks: -1,
          topicMessages: [
            {
              topic: options.topic,
              messages: events.map((event) => ({
                key: event.event.tenantId,
                value: event.payload,
                headers: {
                  ce_id: event.id,
                  ce_tenantid: event.event.tenantId,
                  'content-type': options.format === 'cef' ? 'text/plain' : 'application/json',
                  'joinery-format': options.format,
                },
              })),
            },
          ],
        });
      } catch (error) {
        // A fresh producer next time: an idempotent one whose answer was lost may refuse the resend.
        const failed = producer;
        producer = undefined;
        await failed?.disconnect().catch(() => undefined);
        throw new SiemDeliveryError(`Kafka topic ${options.topic}: ${describeError(error)}`, {
          cause: error,
        });
      }
    },
    async close() {
      await producer?.disconnect();
      producer = undefined;
    },
  };
}
