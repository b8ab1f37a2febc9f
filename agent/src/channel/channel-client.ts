// The agent's end of the channel: keeps one connection open to the API (URLs tried in order, and from the
// first again after a good session; exponential backoff with full jitter between rounds, so many agents
// cut off together come back spread out), and is told when the queue or the results have something new.
// What happens on one connection is in channel-connection.ts.
import type { Logger } from 'pino';
import { backoffDelay, type BackoffPolicy } from '../../../kernel/retry.ts';
import type { AgentKeys, AgentStore, Enrolment } from '../queue/agent-store.ts';
import { openConnection, type ChannelConnection } from './channel-connection.ts';
import { createExportReceiver, type ReceivedExport } from './export-receiver.ts';
import type { AgentHealthReport } from './heartbeat.ts';

/** Between reconnection rounds, and between a refused batch and its next attempt. */
export const channelBackoff: BackoffPolicy = { initialDelayMs: 500, maxDelayMs: 30_000, jitter: 'full' };

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
  /** channelBackoff unless given. */
  backoff?: BackoffPolicy;
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

export function createChannelClient(options: ChannelClientOptions): ChannelClient {
  const log = options.logger.child({ component: 'channel' });
  const backoff = options.backoff ?? channelBackoff;
  const lifecycle = { stopping: false };
  /** A call, not a property read: the flag flips while loops await, which narrowing cannot see. */
  const stopping = (): boolean => lifecycle.stopping;
  const pause = createPause();
  const exports = createExportReceiver({
    enrolment: options.enrolment,
    keys: options.keys,
    log,
    onExports: options.onExports,
  });
  let current: ChannelConnection | undefined;
  let loop: Promise<void> | undefined;

  const connect = (url: string): ChannelConnection =>
    openConnection({
      url,
      ca: options.ca,
      enrolment: options.enrolment,
      keys: options.keys,
      store: options.store,
      version: options.version,
      health: options.health,
      exports,
      log,
      maxBatchMessages: options.maxBatchMessages,
      ackTimeoutMs: options.ackTimeoutMs ?? 60_000,
      retryBackoff: backoff,
      stopping,
    });

  /** One round: each URL in turn until one welcomes the agent and its connection closes again. */
  const round = async (): Promise<{ welcomed: boolean }> => {
    for (const url of options.urls) {
      if (stopping()) break;
      current = connect(url);
      const outcome = await current.closed;
      current = undefined;
      if (outcome.welcomed) return { welcomed: true };
    }
    return { welcomed: false };
  };

  const keepConnected = async (): Promise<void> => {
    /** Rounds in a row in which no URL welcomed the agent. */
    let failedRounds = 0;
    while (!stopping()) {
      const { welcomed } = await round();
      if (stopping()) break;
      failedRounds = welcomed ? 0 : failedRounds + 1;
      // Retry 1 (up to 500 ms by default) after a good session; each failed round doubles the ceiling.
      const delay = backoffDelay(backoff, failedRounds + 1);
      if (!welcomed) log.info({ retryInMs: delay, attempt: failedRounds }, 'no API URL reachable: retrying');
      await pause.wait(delay);
    }
  };

  return {
    start() {
      loop ??= keepConnected();
    },
    notify() {
      current?.pump();
    },
    resultsReady() {
      current?.sendResults();
    },
    connected: () => current?.welcomed() === true,
    async stop() {
      lifecycle.stopping = true;
      pause.wake();
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

/** A wait that stop() can cut short. */
function createPause(): { wait(ms: number): Promise<void>; wake(): void } {
  let wake: (() => void) | undefined;
  return {
    wait: (ms) =>
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
      }),
    wake() {
      wake?.();
    },
  };
}
