// The API side of the agent channel: one session per WebSocket an agent opens. It proves the agent's
// identity (Ed25519 signature of a fresh nonce), opens sealed batches with the tenant key, admits each
// message against the contracts and the connector's applications, produces them to `imports`/`pulses`
// (ce_id = the agent's message id) exactly once per agent sequence, acks; stores heartbeats; claims due
// exports for the connector's applications, seals them to the agent and records the results it returns.
import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import {
  AgentFrameSchema,
  WritebackResultSchema,
  closeCodes,
  matches,
  parseFrame,
  parseOpened,
  type AgentFrame,
  type ChannelParameters,
  type ServerFrame,
} from '../../kernel/channel/protocol.ts';
import {
  CHANNEL_PROTOCOL,
  channelAad,
  openBatch,
  openSecret,
  sealBatch,
} from '../../kernel/channel/sealing.ts';
import type { Bus } from '../../streams/bus.ts';
import { encodeMessage } from '../../streams/cloudevents.ts';
import { messageContracts } from '../../kernel/contracts/messages.ts';
import { createOrderedProducer } from '../../streams/ordered-producer.ts';
import { topicName, type TopicSettings } from '../../streams/topics.ts';
import { claimExports, recordExportResult, type ExportInstruction } from '../engine/export-queue.ts';
import { describeError, JoineryError, NotFoundError, UnauthenticatedError } from '../../kernel/errors.ts';
import { admitMessages } from './admission.ts';
import { authenticateAgent, recordHeartbeat, type AgentPrincipal } from './connectors.ts';
import type { TenantKeys } from './tenant-keys.ts';

export interface GatewayCounters {
  sessions: number;
  messagesProduced: number;
  duplicatesSkipped: number;
  messagesRejected: number;
  /** Batches or results whose sealed payloads did not open (tampered or mis-bound). */
  sealFailures: number;
  authFailures: number;
  exportsSent: number;
  exportResults: number;
}

export interface AgentGatewayOptions {
  orm: MikroORM;
  bus: Bus;
  topics: Pick<TopicSettings, 'topicPrefix'>;
  tenantKeys: TenantKeys;
  logger: Logger;
  channel: ChannelParameters;
  /** How often a connected agent's due exports are claimed (default 1000 ms). */
  exportPollMs?: number;
  /** How long a claimed export stays with the agent before another delivery may take it (default 60 s). */
  exportLeaseMs?: number;
  /** Most exports delivered and not yet answered per agent (default 100). */
  maxOutstandingExports?: number;
  /** How long an agent has to answer the challenge (default 10 s). */
  helloTimeoutMs?: number;
}

export interface AgentGateway {
  /** Takes over a freshly opened WebSocket. */
  accept(socket: WebSocket, remoteAddress: string): void;
  /** Closes the connector's session in this process (after revocation). */
  disconnect(connectorId: string, code: number, reason: string): void;
  counters(): GatewayCounters;
  /** Lets in-flight frames finish, closes every session, disconnects the producer. */
  close(): Promise<void>;
}

interface DownPayload {
  instruction: Omit<ExportInstruction, 'secret'>;
  password?: string;
}

export function createAgentGateway(options: AgentGatewayOptions): AgentGateway {
  const log = options.logger.child({ component: 'agent-gateway' });
  const counters: GatewayCounters = {
    sessions: 0,
    messagesProduced: 0,
    duplicatesSkipped: 0,
    messagesRejected: 0,
    sealFailures: 0,
    authFailures: 0,
    exportsSent: 0,
    exportResults: 0,
  };
  const sessions = new Map<string, Session>();
  const pending = new Set<Session>();
  let closing = false;
  // One producer for every connector: a connector's messages keep their order, a failed send replaces it.
  const producer = createOrderedProducer(options.bus);
  const exportPollMs = options.exportPollMs ?? 1000;
  const exportLeaseMs = options.exportLeaseMs ?? 60_000;
  const maxOutstanding = options.maxOutstandingExports ?? 100;

  /** Produces the admitted messages above the connector's last produced sequence, under its row lock. */
  const produceOnce = async (
    principal: AgentPrincipal,
    admitted: ReturnType<typeof admitMessages>['admitted'],
    highestSeq: number,
  ): Promise<{ produced: number; skipped: number }> => {
    await producer.connect();
    return options.orm.em.fork().transactional(async (tx: EntityManager) => {
      const k = tx.getKysely();
      const { rows } = await sql<{ last_produced_seq: string }>`
        select last_produced_seq from connector where id = ${principal.connectorId} for update`.execute(k);
      const last = Number(rows[0]?.last_produced_seq ?? 0);
      const fresh = admitted.filter((message) => message.seq > last);
      const byTopic = new Map<string, ReturnType<typeof encodeMessage>[]>();
      for (const { envelope } of fresh) {
        const topic = topicName(options.topics, messageContracts[envelope.type].topic);
        const list = byTopic.get(topic) ?? [];
        list.push(encodeMessage(envelope));
        byTopic.set(topic, list);
      }
      if (byTopic.size > 0) {
        await producer.send([...byTopic].map(([topic, messages]) => ({ topic, messages })));
      }
      if (highestSeq > last) {
        await sql`update connector set last_produced_seq = ${highestSeq}
          where id = ${principal.connectorId}`.execute(k);
      }
      return { produced: fresh.length, skipped: admitted.length - fresh.length };
    });
  };

  class Session {
    readonly id = randomUUID();
    principal: AgentPrincipal | undefined;
    private readonly nonce = randomBytes(32).toString('base64');
    private chain: Promise<void> = Promise.resolve();
    private exportTimer: NodeJS.Timeout | undefined;
    private helloTimer: NodeJS.Timeout | undefined;
    private readonly outstanding = new Set<string>();
    private polling = false;
    private closed = false;
    private log: Logger;
    private readonly socket: WebSocket;

    constructor(socket: WebSocket, remoteAddress: string) {
      this.socket = socket;
      this.log = log.child({ session: this.id, remoteAddress });
    }

    start(): void {
      pending.add(this);
      // Handlers are attached before anything asynchronous, so no frame is missed.
      this.socket.on('message', (data, isBinary) => {
        if (isBinary) {
          this.fail(closeCodes.protocol, 'JNY_VALIDATION', 'frames are JSON text');
          return;
        }
        const raw = Buffer.isBuffer(data)
          ? data.toString('utf8')
          : Buffer.concat(data as Buffer[]).toString('utf8');
        this.chain = this.chain
          .then(() => this.handle(raw))
          .catch((error: unknown) => {
            this.onError(error);
          });
      });
      this.socket.on('close', () => {
        this.stop();
      });
      this.send({ type: 'challenge', protocol: CHANNEL_PROTOCOL, nonce: this.nonce });
      this.helloTimer = setTimeout(() => {
        if (this.principal === undefined)
          this.fail(closeCodes.unauthenticated, 'JNY_UNAUTHENTICATED', 'no hello in time');
      }, options.helloTimeoutMs ?? 10_000);
    }

    /** Waits for the frame being handled, then closes. */
    async drain(code: number, reason: string): Promise<void> {
      await this.chain;
      this.close(code, reason);
    }

    close(code: number, reason: string): void {
      if (this.socket.readyState === this.socket.OPEN || this.socket.readyState === this.socket.CONNECTING) {
        this.socket.close(code, reason);
      }
      this.stop();
    }

    private stop(): void {
      if (this.closed) return;
      this.closed = true;
      clearTimeout(this.helloTimer);
      clearInterval(this.exportTimer);
      pending.delete(this);
      if (this.principal !== undefined && sessions.get(this.principal.connectorId) === this) {
        sessions.delete(this.principal.connectorId);
        counters.sessions = sessions.size;
        this.log.info('agent disconnected');
      }
    }

    private send(frame: ServerFrame): void {
      if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(frame));
    }

    private fail(code: number, errorCode: string, message: string): void {
      this.send({ type: 'error', code: errorCode, message });
      this.close(code, errorCode);
    }

    private onError(error: unknown): void {
      if (error instanceof UnauthenticatedError) {
        counters.authFailures++;
        this.log.warn({ code: error.code }, error.message);
        this.fail(closeCodes.unauthenticated, error.code, error.message);
        return;
      }
      if (error instanceof JoineryError && !error.retriable && error.httpStatus < 500) {
        this.log.warn({ code: error.code }, error.message);
        this.fail(closeCodes.protocol, error.code, error.message);
        return;
      }
      this.log.error({ err: error }, 'agent session failed');
      this.fail(
        closeCodes.unavailable,
        'JNY_UNAVAILABLE',
        `the gateway could not handle the frame: ${describeError(error)}`,
      );
    }

    private async handle(raw: string): Promise<void> {
      if (this.closed) return;
      const frame = parseFrame(AgentFrameSchema, raw, 'frame');
      if (this.principal === undefined) {
        if (frame.type !== 'hello') throw new UnauthenticatedError('the first frame must be hello');
        await this.hello(frame);
        return;
      }
      const principal = this.principal;
      switch (frame.type) {
        case 'hello':
          throw new UnauthenticatedError('hello was already answered');
        case 'batch':
          await this.batch(principal, frame);
          return;
        case 'heartbeat': {
          const { revoked } = await recordHeartbeat(options.orm.em, principal.connectorId, frame);
          if (revoked) {
            this.fail(closeCodes.revoked, 'JNY_UNAUTHENTICATED', 'the connector was revoked');
            return;
          }
          this.send({ type: 'heartbeat-ack', at: new Date().toISOString() });
          return;
        }
        case 'export-results':
          await this.results(principal, frame);
          return;
      }
    }

    private async hello(frame: Extract<AgentFrame, { type: 'hello' }>): Promise<void> {
      const principal = await authenticateAgent(options.orm.em, frame, this.nonce);
      clearTimeout(this.helloTimer);
      this.principal = principal;
      this.log = this.log.child({ tenantId: principal.tenantId, connectorId: principal.connectorId });
      const previous = sessions.get(principal.connectorId);
      pending.delete(this);
      sessions.set(principal.connectorId, this);
      counters.sessions = sessions.size;
      previous?.close(closeCodes.superseded, 'a newer connection of this agent took over');
      await recordHeartbeat(options.orm.em, principal.connectorId, {
        version: frame.agentVersion,
        health: { status: 'ok' },
        queueDepth: 0,
        connected: true,
      });
      this.send({
        type: 'welcome',
        connectorId: principal.connectorId,
        lastProducedSeq: principal.lastProducedSeq,
        channel: options.channel,
      });
      this.log.info({ agentVersion: frame.agentVersion }, 'agent connected');
      this.exportTimer = setInterval(() => {
        this.chain = this.chain
          .then(() => this.deliverExports(principal))
          .catch((error: unknown) => {
            this.log.error({ err: error }, 'export delivery failed; retrying on the next poll');
          });
      }, exportPollMs);
    }

    /**
     * Opens what an agent sealed to its tenant's key; a payload that does not open (tampered, or sealed to
     * another key) is refused with a nack the agent can retry, and nothing of it is used.
     */
    private async open(
      principal: AgentPrincipal,
      enc: string,
      sealed: { ciphertext: string; aad: Uint8Array }[],
      refusal: { batchId: string; log: Record<string, unknown> },
    ): Promise<Uint8Array[] | undefined> {
      const tenantKey = await options.tenantKeys.publicKey(principal.tenantId);
      const privateKey = await options.tenantKeys.privateKey(principal.tenantId, tenantKey.keyId);
      try {
        return await openBatch(privateKey, enc, sealed);
      } catch (error) {
        counters.sealFailures++;
        const message = error instanceof Error ? error.message : String(error);
        this.log.warn({ ...refusal.log, code: 'JNY_SEAL_INVALID' }, message);
        this.send({
          type: 'nack',
          batchId: refusal.batchId,
          code: 'JNY_SEAL_INVALID',
          message,
          retriable: true,
        });
        return undefined;
      }
    }

    private async batch(
      principal: AgentPrincipal,
      frame: Extract<AgentFrame, { type: 'batch' }>,
    ): Promise<void> {
      const opened = await this.open(
        principal,
        frame.enc,
        frame.messages.map((message) => ({
          ciphertext: message.ciphertext,
          aad: channelAad({
            direction: 'up',
            tenantId: principal.tenantId,
            connectorId: principal.connectorId,
            id: message.id,
            seq: message.seq,
          }),
        })),
        { batchId: frame.batchId, log: { batchId: frame.batchId, messages: frame.messages.length } },
      );
      if (opened === undefined) return;
      const messages = frame.messages.map((message, index) => ({
        id: message.id,
        seq: message.seq,
        body: parseOpened(opened[index] ?? new Uint8Array(), `message ${message.id}`),
      }));
      const { admitted, rejected } = admitMessages(principal, messages);
      const highestSeq = Math.max(...frame.messages.map((message) => message.seq));
      const { produced, skipped } = await produceOnce(principal, admitted, highestSeq);
      counters.messagesProduced += produced;
      counters.duplicatesSkipped += skipped;
      counters.messagesRejected += rejected.length;
      for (const rejection of rejected) {
        this.log.warn(
          { messageId: rejection.id, seq: rejection.seq, code: rejection.code },
          `message refused: ${rejection.reason}`,
        );
      }
      this.log.debug(
        { batchId: frame.batchId, produced, skipped, rejected: rejected.length, seq: highestSeq },
        'batch produced',
      );
      this.send({ type: 'ack', batchId: frame.batchId, seq: highestSeq, rejected });
    }

    private async deliverExports(principal: AgentPrincipal): Promise<void> {
      if (this.closed || this.polling || this.outstanding.size >= maxOutstanding) return;
      this.polling = true;
      try {
        const claimed = await claimExports(options.orm.em.fork(), {
          tenantId: principal.tenantId,
          applicationIds: principal.applicationIds,
          limit: maxOutstanding - this.outstanding.size,
          leaseMs: exportLeaseMs,
        });
        if (claimed.length === 0) return;
        const payloads: { exportId: string; payload: DownPayload }[] = [];
        for (const instruction of claimed) {
          const { secret, ...rest } = instruction;
          if (secret === undefined) {
            payloads.push({ exportId: instruction.exportId, payload: { instruction: rest } });
            continue;
          }
          try {
            const key = await options.tenantKeys.privateKey(principal.tenantId, secret.keyId);
            const password = await openSecret(key, principal.tenantId, secret);
            payloads.push({ exportId: instruction.exportId, payload: { instruction: rest, password } });
          } catch (error) {
            counters.sealFailures++;
            const message = error instanceof Error ? error.message : String(error);
            this.log.warn({ exportId: instruction.exportId, code: 'JNY_SEAL_INVALID' }, message);
            await recordExportResult(options.orm.em, {
              tenantId: principal.tenantId,
              exportId: instruction.exportId,
              result: { status: 'failed', code: 'JNY_SEAL_INVALID', message, retriable: false },
            });
          }
        }
        if (payloads.length === 0) return;
        const sealed = await sealBatch(
          principal.encryptionKey,
          payloads.map(({ exportId, payload }) => ({
            aad: channelAad({
              direction: 'down',
              tenantId: principal.tenantId,
              connectorId: principal.connectorId,
              id: exportId,
            }),
            plaintext: Buffer.from(JSON.stringify(payload)),
          })),
        );
        this.send({
          type: 'exports',
          enc: sealed.enc,
          items: payloads.map(({ exportId }, index) => ({
            exportId,
            ciphertext: sealed.ciphertexts[index] ?? '',
          })),
        });
        for (const { exportId } of payloads) this.outstanding.add(exportId);
        counters.exportsSent += payloads.length;
        this.log.info({ exports: payloads.length }, 'exports sent to the agent');
      } finally {
        this.polling = false;
      }
    }

    private async results(
      principal: AgentPrincipal,
      frame: Extract<AgentFrame, { type: 'export-results' }>,
    ): Promise<void> {
      const opened = await this.open(
        principal,
        frame.enc,
        frame.items.map((item) => ({
          ciphertext: item.ciphertext,
          aad: channelAad({
            direction: 'result',
            tenantId: principal.tenantId,
            connectorId: principal.connectorId,
            id: item.exportId,
          }),
        })),
        { batchId: 'export-results', log: { results: frame.items.length } },
      );
      if (opened === undefined) return;
      // Only exports of the connector's own applications may be answered by it.
      const ids = frame.items.map((item) => item.exportId);
      const { rows } = await sql<{ export_id: string; application_id: string }>`
        select export_id, application_id from export_item
        where tenant_id = ${principal.tenantId} and export_id = any(${ids}::uuid[])`.execute(
        options.orm.em.getKysely(),
      );
      const applicationOf = new Map(rows.map((row) => [row.export_id, row.application_id]));
      const answered: string[] = [];
      for (const [index, item] of frame.items.entries()) {
        const result = parseOpened(opened[index] ?? new Uint8Array(), `export result ${item.exportId}`);
        const applicationId = applicationOf.get(item.exportId);
        if (applicationId === undefined || !principal.applicationIds.includes(applicationId)) {
          this.log.warn(
            { exportId: item.exportId, code: 'JNY_FORBIDDEN' },
            'result for an export this connector does not serve: ignored',
          );
          answered.push(item.exportId);
          continue;
        }
        if (!matches(WritebackResultSchema, result)) {
          this.log.warn(
            { exportId: item.exportId, code: 'JNY_MESSAGE_INVALID' },
            'export result does not match WritebackResult: ignored',
          );
          answered.push(item.exportId);
          continue;
        }
        try {
          await recordExportResult(options.orm.em, {
            tenantId: principal.tenantId,
            exportId: item.exportId,
            result,
          });
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error;
          this.log.warn({ exportId: item.exportId }, error.message);
        }
        this.outstanding.delete(item.exportId);
        answered.push(item.exportId);
        counters.exportResults++;
        this.log.info({ exportId: item.exportId, status: result.status }, 'export result recorded');
      }
      this.send({ type: 'results-ack', exportIds: answered });
    }
  }

  return {
    accept(socket, remoteAddress) {
      if (closing) {
        socket.close(closeCodes.unavailable, 'the API is shutting down');
        return;
      }
      new Session(socket, remoteAddress).start();
    },
    disconnect(connectorId, code, reason) {
      sessions.get(connectorId)?.close(code, reason);
    },
    counters: () => ({ ...counters }),
    async close() {
      closing = true;
      const all = [...sessions.values(), ...pending];
      await Promise.all(all.map((session) => session.drain(1001, 'the API is shutting down')));
      await producer.close();
    },
  };
}
