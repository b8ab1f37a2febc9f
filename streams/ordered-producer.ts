// The producer for messages that must leave in order and once per send: idempotent, one request in
// flight, connected on first use, and replaced after a failed send.
//
// Why replaced: a request whose answer was lost (the connection dropped, the broker went away after
// writing it) leaves the producer's sequence numbers behind what the broker has. kafkajs resends the same
// request itself, which the broker recognises; but once its retries are spent, the caller's next send
// need not hold the same messages (more arrived meanwhile), and the broker refuses it as out of order —
// every time, for good. A new producer gets a new producer id and starts its sequences afresh; what the
// lost request wrote goes out again (with the same ce_id), as after a crash.
import type { Bus, BusProducer } from './bus.ts';
import { settleWithin } from './settle.ts';

export interface OrderedProducer {
  /** Sends and waits for every acknowledgement (acks: all); a failure replaces the producer. */
  send(topicMessages: Parameters<BusProducer['sendBatch']>[0]['topicMessages']): Promise<void>;
  /** Connects now (else the first send does); a failure leaves it to connect again next time. */
  connect(): Promise<void>;
  close(): Promise<void>;
}

const DISCONNECT_TIMEOUT_MS = 5000;

export function createOrderedProducer(bus: Pick<Bus, 'producer'>): OrderedProducer {
  let current: Promise<BusProducer> | undefined;

  const connected = (): Promise<BusProducer> => {
    current ??= (async () => {
      const producer = bus.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      return producer;
    })().catch((error: unknown) => {
      current = undefined;
      throw error;
    });
    return current;
  };

  const discard = async (): Promise<void> => {
    const previous = current;
    current = undefined;
    const producer = await previous?.catch(() => undefined);
    if (producer !== undefined) await settleWithin(producer.disconnect(), DISCONNECT_TIMEOUT_MS);
  };

  return {
    async connect() {
      await connected();
    },
    async send(topicMessages) {
      const producer = await connected();
      try {
        await producer.sendBatch({ acks: -1, topicMessages });
      } catch (error) {
        if (current !== undefined && (await current.catch(() => undefined)) === producer) await discard();
        throw error;
      }
    },
    close: discard,
  };
}
