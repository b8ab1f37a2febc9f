// The agent's end of the channel: keeps one WebSocket open to the API (URLs tried in order, exponential
// backoff with jitter), proves itself by signing the server's nonce, sends the queue in order one sealed
// batch at a time (removed only when acked; after a reconnect, everything unacked goes again), sends
// heartbeats, receives sealed export instructions and sends back their results.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { WebSocket, type RawData } from 'ws';
import type { ExportInstruction } from '../contracts.ts';
import type { AgentKeys, AgentStore, Enrolment } from '../queue/agent-store.ts';
import { backoffDelay, defaultBackoff, type BackoffSettings } from './backoff.ts';
import {
  ServerFrameSchema,
  closeCodes,
  parseFrame,
  parseOpened,
  type AgentFrame,
  type ServerFrame,
} from '../../../kernel/channel/protocol.ts';
import {
  channelAad,
  importPrivateKey,
  openBatch,
  sealBatch,
  signChallenge,
  type HpkePrivateKey,
} from '../../../kernel/channel/sealing.ts';

export interface AgentHealthReport {
  status: 'ok' | 'degraded' | 'failing';
  problems?: string[];
}

/** An export instruction as the channel delivers it: opened, with its password in clear when it has one. */
export interface ReceivedExport {
  exportId: string;
  instruction: Omit<ExportInstruction, 'secret'>;
  password?: string;
}

export interface ChannelClientOptions {
  urls: string[];
  /** Trusted CA certificates (PEM), when the API uses a private CA. */
  ca?: string[];
  enrolment: Enrolment;
  keys: AgentKeys;
  store: AgentStore;
  version: string;
  health: () => AgentHealthReport;
  onExports: (exports: ReceivedExport[]) => void;
  logger: Logger;
  backoff?: BackoffSettings;
  maxBatchMessages?: number;
  /** An unacknowledged batch after this long means a dead connection: it is dropped and re-established. */
  ackTimeoutMs?: number;
}

export interface ChannelClient {
  start(): void;
  /** New messages are in the queue. */
  notify(): void;
  /** New export results are in the store. */
  resultsReady(): void;
  connected(): boolean;
  /** Waits briefly for the batch in flight to be acknowledged, then closes. */
  stop(): Promise<void>;
}

function websocketUrl(base: string, path: string): string {
  const url = new URL(path.replace(/^\//, ''), base.endsWith('/') ? base : `${base}/`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

export function createChannelClient(options: ChannelClientOptions): ChannelClient {
  const log = options.logger.child({ component: 'channel' });
  const { enrolment, store } = options;
  const backoff = options.backoff ?? defaultBackoff;
  const lifecycle = { stopping: false };
  /** A call, not a property read: the flag flips while loops await, which narrowing cannot see. */
  const stopping = (): boolean => lifecycle.stopping;
  let current: Connection | undefined;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let privateKey: Promise<HpkePrivateKey> | undefined;
  const key = (): Promise<HpkePrivateKey> =>
    (privateKey ??= importPrivateKey(options.keys.encryption.privateKey));

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });

  class Connection {
    readonly url: string;
    welcomed = false;
    private readonly socket: WebSocket;
    private chain: Promise<void> = Promise.resolve();
    private inflight: { batchId: string; seq: number; timer: NodeJS.Timeout } | undefined;
    private pumping = false;
    private resultsInFlight = false;
    private heartbeat: NodeJS.Timeout | undefined;
    private lastFrameAt = Date.now();
    private nacks = 0;
    private retryTimer: NodeJS.Timeout | undefined;
    private ackWaiter: (() => void) | undefined;
    /** The message of the API's last error frame, for the close that follows it. */
    private refusal: string | undefined;
    readonly closed: Promise<{ welcomed: boolean }>;

    constructor(url: string) {
      this.url = url;
      const target = websocketUrl(url, '/v1/agent/channel');
      this.socket = new WebSocket(target, {
        handshakeTimeout: 10_000,
        maxPayload: 16 * 1024 * 1024,
        ...(options.ca === undefined ? {} : { ca: options.ca }),
      });
      this.closed = new Promise((resolve) => {
        this.socket.on('close', (code, reason) => {
          this.cleanup();
          const text = reason.toString();
          if (code === closeCodes.unauthenticated || code === closeCodes.revoked) {
            log.error(
              { url, code, reason: text },
              'the API refused this agent: check the connector (revoked?)',
            );
            // The error frame before the close says why (e.g. "connector … was revoked at …"); keep it.
            const why = this.refusal === undefined ? text : `${text}: ${this.refusal}`;
            store.set({ lastError: `refused by ${url}: ${String(code)} ${why}` });
          } else if (this.welcomed) {
            log.warn({ url, code, reason: text }, 'channel closed');
          }
          resolve({ welcomed: this.welcomed });
        });
      });
      this.socket.on('error', (error) => {
        log.warn({ url, error: error.message }, 'channel connection failed');
      });
      this.socket.on('message', (data: RawData) => {
        this.lastFrameAt = Date.now();
        const raw = Buffer.isBuffer(data)
          ? data.toString('utf8')
          : Buffer.from(data as ArrayBuffer).toString('utf8');
        this.chain = this.chain
          .then(() => this.handle(raw))
          .catch((error: unknown) => {
            log.error(
              { error: (error as Error).message, code: (error as { code?: string }).code },
              'channel frame failed',
            );
            this.socket.terminate();
          });
      });
    }

    private send(frame: AgentFrame): void {
      if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
    }

    close(code: number, reason: string): void {
      if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
        this.socket.close(code, reason);
      }
    }

    /** Resolves once no batch is in flight (or after `ms`). */
    async settle(ms: number): Promise<void> {
      if (this.inflight === undefined) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        this.ackWaiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }

    private cleanup(): void {
      clearInterval(this.heartbeat);
      clearTimeout(this.retryTimer);
      if (this.inflight !== undefined) clearTimeout(this.inflight.timer);
      this.inflight = undefined;
      this.ackWaiter?.();
    }

    private async handle(raw: string): Promise<void> {
      const frame = parseFrame(ServerFrameSchema, raw, 'API frame');
      switch (frame.type) {
        case 'challenge':
          this.send({
            type: 'hello',
            tenantId: enrolment.tenantId,
            connectorId: enrolment.connectorId,
            agentVersion: options.version,
            signature: signChallenge(options.keys.signing.privateKey, {
              tenantId: enrolment.tenantId,
              connectorId: enrolment.connectorId,
              nonce: frame.nonce,
            }),
          });
          return;
        case 'welcome':
          this.welcome(frame);
          return;
        case 'ack':
          this.acknowledged(frame);
          return;
        case 'nack': {
          log.error(
            { batchId: frame.batchId, code: frame.code },
            `the API refused a batch: ${frame.message}`,
          );
          store.set({ lastError: `${frame.code}: ${frame.message}` });
          if (frame.batchId === 'export-results') {
            this.resultsInFlight = false;
            return;
          }
          if (this.inflight?.batchId === frame.batchId) {
            clearTimeout(this.inflight.timer);
            this.inflight = undefined;
          }
          this.retryTimer = setTimeout(
            () => {
              this.pump();
            },
            backoffDelay(this.nacks++, backoff),
          );
          return;
        }
        case 'exports':
          await this.exports(frame);
          return;
        case 'results-ack':
          store.acknowledgeResults(frame.exportIds);
          this.resultsInFlight = false;
          this.sendResults();
          return;
        case 'heartbeat-ack':
          return;
        case 'error':
          log.error({ code: frame.code }, `the API closes the channel: ${frame.message}`);
          this.refusal = frame.message;
          store.set({ lastError: `${frame.code}: ${frame.message}` });
          return;
      }
    }

    private welcome(frame: Extract<ServerFrame, { type: 'welcome' }>): void {
      store.alignWithProduced(frame.lastProducedSeq);
      store.set({ lastConnectedAt: new Date().toISOString(), lastConnectedUrl: this.url, lastError: null });
      this.welcomed = true;
      log.info({ url: this.url, queueDepth: store.depth() }, 'channel open');
      const heartbeatMs = frame.channel.heartbeatMs;
      const maxBatch = Math.min(
        options.maxBatchMessages ?? frame.channel.maxBatchMessages,
        frame.channel.maxBatchMessages,
      );
      this.maxBatch = maxBatch;
      this.maxBytes = Math.floor(frame.channel.maxFrameBytes / 3);
      this.beat();
      this.heartbeat = setInterval(() => {
        if (Date.now() - this.lastFrameAt > 3 * heartbeatMs) {
          log.warn({ url: this.url }, 'no answer from the API for three heartbeats: reconnecting');
          this.socket.terminate();
          return;
        }
        this.beat();
      }, heartbeatMs);
      this.sendResults();
      this.pump();
    }

    private maxBatch = 500;
    private maxBytes = 4 * 1024 * 1024;

    private beat(): void {
      this.send({
        type: 'heartbeat',
        at: new Date().toISOString(),
        version: options.version,
        health: options.health(),
        queueDepth: store.depth(),
      });
    }

    private acknowledged(frame: Extract<ServerFrame, { type: 'ack' }>): void {
      if (this.inflight?.batchId !== frame.batchId) return;
      clearTimeout(this.inflight.timer);
      store.acknowledge(frame.seq, frame.rejected);
      for (const rejection of frame.rejected) {
        log.error(
          { messageId: rejection.id, seq: rejection.seq, code: rejection.code },
          `the API refused a message (kept aside in the state database): ${rejection.reason}`,
        );
      }
      this.inflight = undefined;
      this.nacks = 0;
      const waiter = this.ackWaiter;
      this.ackWaiter = undefined;
      waiter?.();
      if (!stopping()) this.pump();
    }

    /** Sends the next batch from the head of the queue, if none is in flight. */
    pump(): void {
      if (!this.welcomed || this.inflight !== undefined || this.pumping || stopping()) return;
      const batch = store.head(this.maxBatch, this.maxBytes);
      if (batch.length === 0) return;
      this.pumping = true;
      const batchId = randomUUID();
      sealBatch(
        enrolment.tenantKey.publicKey,
        batch.map((message) => ({
          aad: channelAad({
            direction: 'up',
            tenantId: enrolment.tenantId,
            connectorId: enrolment.connectorId,
            id: message.id,
            seq: message.seq,
          }),
          plaintext: Buffer.from(
            JSON.stringify({ type: message.type, time: message.time, data: message.data }),
          ),
        })),
      )
        .then((sealed) => {
          if (this.socket.readyState !== WebSocket.OPEN) return;
          const last = batch.at(-1);
          this.inflight = {
            batchId,
            seq: last?.seq ?? 0,
            timer: setTimeout(() => {
              log.warn({ batchId }, 'batch not acknowledged in time: reconnecting');
              this.socket.terminate();
            }, options.ackTimeoutMs ?? 60_000),
          };
          this.send({
            type: 'batch',
            batchId,
            enc: sealed.enc,
            messages: batch.map((message, index) => ({
              id: message.id,
              seq: message.seq,
              ciphertext: sealed.ciphertexts[index] ?? '',
            })),
          });
          log.debug({ batchId, messages: batch.length, seq: last?.seq }, 'batch sent');
        })
        .catch((error: unknown) => {
          log.error({ error: (error as Error).message }, 'sealing a batch failed');
          this.socket.terminate();
        })
        .finally(() => {
          this.pumping = false;
        });
    }

    sendResults(): void {
      if (!this.welcomed || this.resultsInFlight) return;
      const results = store.unackedResults();
      if (results.length === 0) return;
      this.resultsInFlight = true;
      sealBatch(
        enrolment.tenantKey.publicKey,
        results.map(({ exportId, result }) => ({
          aad: channelAad({
            direction: 'result',
            tenantId: enrolment.tenantId,
            connectorId: enrolment.connectorId,
            id: exportId,
          }),
          plaintext: Buffer.from(JSON.stringify(result)),
        })),
      )
        .then((sealed) => {
          this.send({
            type: 'export-results',
            enc: sealed.enc,
            items: results.map(({ exportId }, index) => ({
              exportId,
              ciphertext: sealed.ciphertexts[index] ?? '',
            })),
          });
        })
        .catch((error: unknown) => {
          this.resultsInFlight = false;
          log.error({ error: (error as Error).message }, 'sealing export results failed');
        });
    }

    private async exports(frame: Extract<ServerFrame, { type: 'exports' }>): Promise<void> {
      let opened: Uint8Array[];
      try {
        opened = await openBatch(
          await key(),
          frame.enc,
          frame.items.map((item) => ({
            ciphertext: item.ciphertext,
            aad: channelAad({
              direction: 'down',
              tenantId: enrolment.tenantId,
              connectorId: enrolment.connectorId,
              id: item.exportId,
            }),
          })),
        );
      } catch (error) {
        // Not answered: the lease runs out and the API delivers them again.
        log.error({ code: 'JNY_SEAL_INVALID', exports: frame.items.length }, (error as Error).message);
        return;
      }
      const received = frame.items.map((item, index) => {
        const payload = parseOpened(opened[index] ?? new Uint8Array(), `export ${item.exportId}`) as {
          instruction: ReceivedExport['instruction'];
          password?: string;
        };
        return {
          exportId: item.exportId,
          instruction: payload.instruction,
          ...(payload.password === undefined ? {} : { password: payload.password }),
        };
      });
      options.onExports(received);
    }
  }

  const run = async (): Promise<void> => {
    let attempt = 0;
    while (!stopping()) {
      let welcomed = false;
      for (const url of options.urls) {
        if (stopping()) break;
        const connection = new Connection(url);
        current = connection;
        const outcome = await connection.closed;
        current = undefined;
        if (outcome.welcomed) {
          welcomed = true;
          break; // after a good session, start again from the first URL
        }
      }
      if (stopping()) break;
      attempt = welcomed ? 0 : attempt + 1;
      const delay = backoffDelay(attempt, backoff);
      if (!welcomed) log.info({ retryInMs: delay, attempt }, 'no API URL reachable: retrying');
      await sleep(delay);
    }
  };

  return {
    start() {
      loop ??= run();
    },
    notify() {
      current?.pump();
    },
    resultsReady() {
      current?.sendResults();
    },
    connected: () => current?.welcomed === true,
    async stop() {
      lifecycle.stopping = true;
      wake?.();
      const connection = current;
      if (connection !== undefined) {
        await connection.settle(5000);
        connection.close(1000, 'the agent is stopping');
        await connection.closed;
      }
      await loop;
    },
  };
}
