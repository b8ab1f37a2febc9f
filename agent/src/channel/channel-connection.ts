// One connection to one API URL, from the challenge to the close. Once the API welcomes the agent, a
// session runs on it (heartbeats, the queue's batches, export results), and each frame from the API goes
// to the part it concerns. The client opens a new connection after each close.
import type { Logger } from 'pino';
import { closeCodes, type ServerFrame } from '../../../kernel/channel/protocol.ts';
import type { BackoffPolicy } from '../../../kernel/retry.ts';
import type { AgentKeys, AgentStore, Enrolment } from '../queue/agent-store.ts';
import { createBatchSender, type BatchSender } from './batch-sender.ts';
import { openChannelSocket, type ChannelLink } from './channel-socket.ts';
import type { ExportReceiver } from './export-receiver.ts';
import { helloFrame, sessionLimits, type SessionLimits } from './handshake.ts';
import { heartbeatFrame, startHeartbeat, type AgentHealthReport } from './heartbeat.ts';
import { RESULTS_BATCH_ID, createResultSender, type ResultSender } from './result-sender.ts';

export interface ConnectionOptions {
  url: string;
  ca?: string[] | undefined;
  enrolment: Enrolment;
  keys: AgentKeys;
  store: AgentStore;
  version: string;
  health: () => AgentHealthReport;
  exports: ExportReceiver;
  log: Logger;
  maxBatchMessages?: number | undefined;
  ackTimeoutMs: number;
  retryBackoff: BackoffPolicy;
  stopping: () => boolean;
}

export interface ChannelConnection {
  /** Whether the API welcomed the agent on this connection. */
  welcomed(): boolean;
  /** Resolves once the socket closed. */
  readonly closed: Promise<{ welcomed: boolean }>;
  /** New messages are in the queue. */
  pump(): void;
  /** New export results are in the store. */
  sendResults(): void;
  /** Resolves once no batch is in flight (or after `ms`). */
  settle(ms: number): Promise<void>;
  close(code: number, reason: string): void;
}

/** What runs once the API welcomed the agent, until the socket closes. */
interface Session {
  batches: BatchSender;
  results: ResultSender;
  end(): void;
}

export function openConnection(options: ConnectionOptions): ChannelConnection {
  const { url, store, log } = options;
  const closed = Promise.withResolvers<{ welcomed: boolean }>();
  let session: Session | undefined;
  /** The message of the API's last error frame, for the close that follows it. */
  let refusal: string | undefined;

  const link = openChannelSocket(url, {
    ca: options.ca,
    log,
    onFrame: (frame) => handle(frame),
    onClose(code, reason) {
      session?.end();
      reportClose(code, reason);
      closed.resolve({ welcomed: session !== undefined });
    },
  });

  async function handle(frame: ServerFrame): Promise<void> {
    switch (frame.type) {
      case 'challenge':
        link.send(helloFrame(options.enrolment, options.keys, options.version, frame.nonce));
        return;
      case 'welcome':
        store.alignWithProduced(frame.lastProducedSeq);
        store.set({ lastConnectedAt: new Date().toISOString(), lastConnectedUrl: url, lastError: null });
        log.info({ url, queueDepth: store.depth() }, 'channel open');
        session?.end();
        session = startSession(link, options, sessionLimits(frame.channel, options.maxBatchMessages));
        return;
      case 'ack':
        session?.batches.acknowledged(frame);
        return;
      case 'nack':
        log.error({ batchId: frame.batchId, code: frame.code }, `the API refused a batch: ${frame.message}`);
        store.set({ lastError: `${frame.code}: ${frame.message}` });
        if (frame.batchId === RESULTS_BATCH_ID) session?.results.refused();
        else session?.batches.refused(frame);
        return;
      case 'exports':
        await options.exports.receive(frame);
        return;
      case 'results-ack':
        session?.results.acknowledged(frame.exportIds);
        return;
      case 'heartbeat-ack':
        return;
      case 'error':
        log.error({ code: frame.code }, `the API closes the channel: ${frame.message}`);
        refusal = frame.message;
        store.set({ lastError: `${frame.code}: ${frame.message}` });
        return;
    }
  }

  function reportClose(code: number, reason: string): void {
    if (code === closeCodes.unauthenticated || code === closeCodes.revoked) {
      log.error({ url, code, reason }, 'the API refused this agent: check the connector (revoked?)');
      // The error frame before the close says why (e.g. "connector … was revoked at …"); keep it.
      const why = refusal === undefined ? reason : `${reason}: ${refusal}`;
      store.set({ lastError: `refused by ${url}: ${String(code)} ${why}` });
    } else if (session !== undefined) {
      log.warn({ url, code, reason }, 'channel closed');
    }
  }

  return {
    welcomed: () => session !== undefined,
    closed: closed.promise,
    pump() {
      session?.batches.pump();
    },
    sendResults() {
      session?.results.send();
    },
    async settle(ms) {
      await session?.batches.settle(ms);
    },
    close(code, reason) {
      link.close(code, reason);
    },
  };
}

/** Starts the heartbeats, then sends the results and the queue left from before. */
function startSession(link: ChannelLink, options: ConnectionOptions, limits: SessionLimits): Session {
  const { enrolment, store, log } = options;
  const batches = createBatchSender({
    link,
    store,
    enrolment,
    log,
    limits,
    ackTimeoutMs: options.ackTimeoutMs,
    retryBackoff: options.retryBackoff,
    stopping: options.stopping,
  });
  const results = createResultSender({ link, store, enrolment, log });
  const stopHeartbeat = startHeartbeat({
    intervalMs: limits.heartbeatMs,
    beat() {
      const report = { version: options.version, health: options.health(), queueDepth: store.depth() };
      link.send(heartbeatFrame(report, new Date()));
    },
    silentForMs: () => link.silentForMs(),
    onSilence() {
      log.warn({ url: options.url }, 'no answer from the API for three heartbeats: reconnecting');
      link.terminate();
    },
  });
  results.send();
  batches.pump();
  return {
    batches,
    results,
    end() {
      stopHeartbeat();
      batches.end();
    },
  };
}
