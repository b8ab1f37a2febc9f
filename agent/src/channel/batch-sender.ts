// Sends the queue to the API in order, one sealed batch at a time: the next batch leaves only once the
// API acknowledged the one in flight, and messages leave the queue only with that ack. A refused batch is
// sent again after a backoff; one not acknowledged in time means a dead connection, which is dropped (the
// reconnect sends everything unacknowledged again).
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AgentFrame, ServerFrame } from '../../../kernel/channel/protocol.ts';
import { channelAad, sealBatch } from '../../../kernel/channel/sealing.ts';
import { backoffDelay, type BackoffPolicy } from '../../../kernel/retry.ts';
import type { AgentStore, Enrolment, QueuedMessage } from '../queue/agent-store.ts';
import type { ChannelLink } from './channel-socket.ts';
import type { SessionLimits } from './handshake.ts';

type BatchFrame = Extract<AgentFrame, { type: 'batch' }>;

export interface BatchSenderOptions {
  link: ChannelLink;
  store: AgentStore;
  enrolment: Enrolment;
  log: Logger;
  limits: SessionLimits;
  ackTimeoutMs: number;
  /** Between a refused batch and its next attempt. */
  retryBackoff: BackoffPolicy;
  stopping: () => boolean;
}

export interface BatchSender {
  /** Sends the next batch from the head of the queue, unless one is in flight. */
  pump(): void;
  acknowledged(frame: Extract<ServerFrame, { type: 'ack' }>): void;
  /** The API refused the batch (a nack): it goes again after a backoff. */
  refused(frame: Extract<ServerFrame, { type: 'nack' }>): void;
  /** Resolves once no batch is in flight, or after `ms`. */
  settle(ms: number): Promise<void>;
  /** The connection closed: timers stop, and a settle() waiting is released. */
  end(): void;
}

export function createBatchSender(options: BatchSenderOptions): BatchSender {
  const { link, store, log } = options;
  let inflight: { batchId: string; ackTimer: NodeJS.Timeout } | undefined;
  let sealing = false;
  /** Refusals in a row: each one doubles the backoff ceiling; an ack starts over. */
  let refusals = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let settled: (() => void) | undefined;

  const releaseSettle = (): void => {
    const waiter = settled;
    settled = undefined;
    waiter?.();
  };

  const clearInflight = (): void => {
    if (inflight !== undefined) clearTimeout(inflight.ackTimer);
    inflight = undefined;
  };

  const pump = (): void => {
    if (inflight !== undefined || sealing || options.stopping()) return;
    const batch = store.head(options.limits.maxBatchMessages, options.limits.maxBatchBytes);
    if (batch.length === 0) return;
    sealing = true;
    const batchId = randomUUID();
    sealQueuedBatch(options.enrolment, batchId, batch)
      .then((frame) => {
        if (!link.isOpen()) return;
        inflight = {
          batchId,
          ackTimer: setTimeout(() => {
            log.warn({ batchId }, 'batch not acknowledged in time: reconnecting');
            link.terminate();
          }, options.ackTimeoutMs),
        };
        link.send(frame);
        log.debug({ batchId, messages: batch.length, seq: batch.at(-1)?.seq }, 'batch sent');
      })
      .catch((error: unknown) => {
        log.error({ error: (error as Error).message }, 'sealing a batch failed');
        link.terminate();
      })
      .finally(() => {
        sealing = false;
      });
  };

  return {
    pump,
    acknowledged(frame) {
      if (inflight?.batchId !== frame.batchId) return;
      store.acknowledge(frame.seq, frame.rejected);
      for (const rejection of frame.rejected) {
        log.error(
          { messageId: rejection.id, seq: rejection.seq, code: rejection.code },
          `the API refused a message (kept aside in the state database): ${rejection.reason}`,
        );
      }
      clearInflight();
      refusals = 0;
      releaseSettle();
      pump();
    },
    refused(frame) {
      if (inflight?.batchId === frame.batchId) clearInflight();
      retryTimer = setTimeout(pump, backoffDelay(options.retryBackoff, ++refusals));
    },
    async settle(ms) {
      if (inflight === undefined) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        settled = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
    end() {
      clearTimeout(retryTimer);
      clearInflight();
      releaseSettle();
    },
  };
}

/** Seals queued messages into one batch frame, each bound to tenant, connector, message id and seq. */
export async function sealQueuedBatch(
  enrolment: Enrolment,
  batchId: string,
  batch: QueuedMessage[],
): Promise<BatchFrame> {
  const sealed = await sealBatch(
    enrolment.tenantKey.publicKey,
    batch.map((message) => ({
      aad: channelAad({
        direction: 'up',
        tenantId: enrolment.tenantId,
        connectorId: enrolment.connectorId,
        id: message.id,
        seq: message.seq,
      }),
      plaintext: Buffer.from(JSON.stringify({ type: message.type, time: message.time, data: message.data })),
    })),
  );
  return {
    type: 'batch',
    batchId,
    enc: sealed.enc,
    messages: batch.map((message, index) => ({
      id: message.id,
      seq: message.seq,
      ciphertext: sealed.ciphertexts[index] ?? '',
    })),
  };
}
