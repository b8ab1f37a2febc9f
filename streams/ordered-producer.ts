// The producer for messages that must leave in order and once per send: idempotent, one request in
// flight, connected on first use, and replaced after a failed send.
//
// Why replaced: a request whose answer was lost (the connection dropped, the broker went away after
// writing it) leaves the producer's sequence numbers behind what the broker has. kafkajs resends the same
// request itself, which the broker recognises; but once its retries are spent, the caller's next send
// need not hold the same messages (more arrived meanwhile), and the broker refuses it as out of order —
// every time, for good. A new producer gets a new producer id and starts its sequences afresh; what the
// lost request wrote goes out again (with the same ce_id), as after a crash.
//
// Several callers may share one (the agent gateway's connectors): a failed send retires the producer for
// new sends at once, and it is disconnected when the sends still using it are done (kafkajs reconnects a
// producer whose connection closes under a send, so disconnecting it earlier would leak it).
import type { Bus, BusProducer } from './bus.ts';
import { settleWithin } from './settle.ts';

export interface OrderedProducer {
  /** Sends and waits for every acknowledgement (acks: all); a failure retires the producer. */
  send(topicMessages: Parameters<BusProducer['sendBatch']>[0]['topicMessages']): Promise<void>;
  /** Connects now (else the first send does); a failure leaves it to connect again next time. */
  connect(): Promise<void>;
  /** Disconnects; sends after it are refused. */
  close(): Promise<void>;
}

const DISCONNECT_TIMEOUT_MS = 5000;

interface Generation {
  producer: Promise<BusProducer>;
  inFlight: number;
  retired: boolean;
}

export function createOrderedProducer(bus: Pick<Bus, 'producer'>): OrderedProducer {
  let current: Generation | undefined;
  let closed = false;

  const currentGeneration = (): Generation => {
    if (closed) throw new Error('the producer is closed');
    if (current !== undefined) return current;
    const generation: Generation = {
      producer: (async () => {
        const producer = bus.producer({ idempotent: true, maxInFlightRequests: 1 });
        await producer.connect();
        return producer;
      })(),
      inFlight: 0,
      retired: false,
    };
    // A failed connect: the next call tries a new one.
    generation.producer.catch(() => {
      if (current === generation) current = undefined;
    });
    current = generation;
    return generation;
  };

  const disconnect = async (generation: Generation): Promise<void> => {
    const producer = await generation.producer.catch(() => undefined);
    if (producer !== undefined) await settleWithin(producer.disconnect(), DISCONNECT_TIMEOUT_MS);
  };

  const retire = async (generation: Generation): Promise<void> => {
    generation.retired = true;
    if (current === generation) current = undefined;
    if (generation.inFlight === 0) await disconnect(generation);
  };

  return {
    async connect() {
      await currentGeneration().producer;
    },
    async send(topicMessages) {
      const generation = currentGeneration();
      generation.inFlight++;
      let failed = false;
      try {
        const producer = await generation.producer;
        await producer.sendBatch({ acks: -1, topicMessages });
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        generation.inFlight--;
        if (failed && !generation.retired) await retire(generation);
        else if (generation.retired && generation.inFlight === 0) await disconnect(generation);
      }
    },
    async close() {
      closed = true;
      if (current !== undefined) await retire(current);
    },
  };
}
