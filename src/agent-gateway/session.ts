// One agent's WebSocket session: the challenge, then the agent's frames one at a time in arrival order —
// hello first, within the hello timeout — with the export deliveries polled in between, and its end:
// closed by the agent, refused, superseded by a newer connection of its connector, revoked, or drained
// when the API shuts down. What each frame does is in its own module; this one keeps them in order.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import {
  AgentFrameSchema,
  closeCodes,
  parseFrame,
  type AgentFrame,
  type ServerFrame,
} from '../../kernel/channel/protocol.ts';
import { CHANNEL_PROTOCOL } from '../../kernel/channel/sealing.ts';
import { UnauthenticatedError, type ErrorCode } from '../../kernel/errors.ts';
import { receiveHeartbeat, tellAgentDisconnected, welcomeAgent } from './agent-presence.ts';
import { authenticateAgent, type AgentPrincipal } from './connectors.ts';
import { deliverExports } from './export-delivery.ts';
import { receiveResults } from './export-results.ts';
import type { GatewayContext, SessionScope } from './gateway-context.ts';
import { receiveBatch } from './message-batches.ts';
import { sessionEndFor } from './session-errors.ts';
import type { SessionRegistry } from './session-registry.ts';

export class AgentSession {
  readonly id = randomUUID();
  /** The connector the agent proved to be, once hello is answered. */
  principal: AgentPrincipal | undefined;
  private readonly ctx: GatewayContext;
  private readonly registry: SessionRegistry<AgentSession>;
  private readonly socket: WebSocket;
  private log: Logger;
  /** What the agent signs in hello: fresh per session, so a signature cannot be replayed. */
  private readonly nonce = randomBytes(32).toString('base64');
  /** Frames and export deliveries, one at a time: each waits for the one before. */
  private chain: Promise<void> = Promise.resolve();
  private helloTimer: NodeJS.Timeout | undefined;
  private exportTimer: NodeJS.Timeout | undefined;
  /** Exports delivered to the agent and not answered yet. */
  private readonly outstanding = new Set<string>();
  private closed = false;
  /** The welcome recorded the connection (and told it): its end is told too. */
  private welcomed = false;
  /** The TCP socket under the WebSocket: its bytes are counted until hello is answered. */
  private readonly transport: Duplex;
  private unauthenticatedBytes = 0;
  private readonly countBytes = (chunk: Buffer): void => {
    this.unauthenticatedBytes += chunk.length;
    if (this.unauthenticatedBytes > this.ctx.settings.unauthenticatedBytes) this.refuseOversized();
  };

  constructor(
    ctx: GatewayContext,
    registry: SessionRegistry<AgentSession>,
    socket: WebSocket,
    log: Logger,
    peer: { remoteAddress: string; transport: Duplex },
  ) {
    this.ctx = ctx;
    this.registry = registry;
    this.socket = socket;
    this.transport = peer.transport;
    this.log = log.child({ session: this.id, remoteAddress: peer.remoteAddress });
  }

  start(): void {
    this.registry.add(this);
    // Before hello, a socket may send a few KiB: a huge frame is cut off at the budget instead of being
    // buffered whole (the full frame limit applies once the agent has authenticated).
    this.transport.on('data', this.countBytes);
    // Handlers are attached before anything asynchronous, so no frame is missed.
    this.socket.on('message', (data, isBinary) => {
      if (isBinary) {
        this.fail(closeCodes.protocol, 'JNY_VALIDATION', 'frames are JSON text');
        return;
      }
      const raw = Buffer.isBuffer(data)
        ? data.toString('utf8')
        : Buffer.concat(data as Buffer[]).toString('utf8');
      this.enqueue(
        () => this.handle(raw),
        (error) => {
          this.onError(error);
        },
      );
    });
    this.socket.on('close', () => {
      this.stop();
    });
    this.send({ type: 'challenge', protocol: CHANNEL_PROTOCOL, nonce: this.nonce });
    this.helloTimer = setTimeout(() => {
      if (this.principal === undefined)
        this.fail(closeCodes.unauthenticated, 'JNY_UNAUTHENTICATED', 'no hello in time');
    }, this.ctx.settings.helloTimeoutMs);
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

  private enqueue(step: () => Promise<void>, onError: (error: unknown) => void): void {
    this.chain = this.chain.then(step).catch(onError);
  }

  private async handle(raw: string): Promise<void> {
    if (this.closed) return;
    const frame = parseFrame(AgentFrameSchema, raw, 'frame');
    if (this.principal === undefined) {
      if (frame.type !== 'hello') throw new UnauthenticatedError('the first frame must be hello');
      await this.hello(frame);
      return;
    }
    const scope: SessionScope = { principal: this.principal, log: this.log };
    switch (frame.type) {
      case 'hello':
        throw new UnauthenticatedError('hello was already answered');
      case 'batch':
        this.send(await receiveBatch(this.ctx, scope, frame));
        return;
      case 'heartbeat': {
        const reply = await receiveHeartbeat(this.ctx, scope.principal, frame);
        if (reply === 'revoked')
          this.fail(closeCodes.revoked, 'JNY_UNAUTHENTICATED', 'the connector was revoked');
        else this.send(reply);
        return;
      }
      case 'export-results':
        this.send(await receiveResults(this.ctx, scope, frame, this.outstanding));
        return;
    }
  }

  /** Authenticates the agent, takes over from its connector's older session, welcomes it, polls its exports. */
  private async hello(frame: Extract<AgentFrame, { type: 'hello' }>): Promise<void> {
    const principal = await authenticateAgent(this.ctx.orm.em, frame, this.nonce);
    clearTimeout(this.helloTimer);
    // The socket closed while the hello was checked: registering it now would supersede the connector's
    // live session and start an export poll nobody stops.
    if (this.closed) return;
    const cap = this.ctx.settings.connectionsPerTenant;
    if (this.registry.tenantSessions(principal.tenantId, principal.connectorId) >= cap) {
      this.ctx.counters.connectionsRefused++;
      this.log.warn(
        { tenantId: principal.tenantId, limit: cap },
        'agent refused: too many sessions of its tenant',
      );
      this.fail(
        closeCodes.tooMany,
        'JNY_RATE_LIMITED',
        `tenant ${principal.tenantId} has ${String(cap)} agent connections open, its limit; retry later`,
      );
      return;
    }
    this.transport.off('data', this.countBytes);
    this.principal = principal;
    this.log = this.log.child({ tenantId: principal.tenantId, connectorId: principal.connectorId });
    const previous = this.registry.authenticated(this, principal.connectorId);
    previous?.close(closeCodes.superseded, 'a newer connection of this agent took over');
    this.send(await welcomeAgent(this.ctx, principal, frame.agentVersion, this.id));
    this.welcomed = true;
    this.log.info({ agentVersion: frame.agentVersion }, 'agent connected');
    this.exportTimer = setInterval(() => {
      this.enqueue(
        () => this.deliver(principal),
        (error) => {
          this.log.error({ err: error }, 'export delivery failed; retrying on the next poll');
        },
      );
    }, this.ctx.settings.exportPollMs);
  }

  private async deliver(principal: AgentPrincipal): Promise<void> {
    if (this.closed) return;
    const frame = await deliverExports(this.ctx, { principal, log: this.log }, this.outstanding);
    if (frame !== undefined) this.send(frame);
  }

  /** More bytes before hello than an unauthenticated socket may send: close it and drop the connection. */
  private refuseOversized(): void {
    this.transport.off('data', this.countBytes);
    if (this.closed) return;
    const limit = this.ctx.settings.unauthenticatedBytes;
    this.ctx.counters.connectionsRefused++;
    this.log.warn({ limit }, 'agent socket refused: too many bytes before hello');
    this.fail(
      closeCodes.tooLarge,
      'JNY_BODY_TOO_LARGE',
      `more than ${String(limit)} bytes sent before hello; hello and enrolment frames are small`,
    );
    // The rest of the frame is not read: once the close frame is flushed, the connection goes.
    this.transport.end(() => {
      this.transport.destroy();
    });
  }

  private onError(error: unknown): void {
    const end = sessionEndFor(error);
    if (end.kind === 'unauthenticated') this.ctx.counters.authFailures++;
    if (end.kind === 'failed') this.log.error({ err: error }, 'agent session failed');
    else this.log.warn({ code: end.code }, end.message);
    this.fail(end.closeCode, end.code, end.message);
  }

  /** Tells the agent why, then closes with the error code as the reason. */
  private fail(closeCode: number, code: ErrorCode, message: string): void {
    this.send({ type: 'error', code, message });
    this.close(closeCode, code);
  }

  private send(frame: ServerFrame): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  private stop(): void {
    if (this.closed) return;
    this.closed = true;
    this.transport.off('data', this.countBytes);
    clearTimeout(this.helloTimer);
    clearInterval(this.exportTimer);
    if (this.registry.remove(this)) {
      this.log.info('agent disconnected');
      const { principal } = this;
      // Told only of a session whose connection was told (its welcome recorded it): not of one refused at
      // its welcome, a connector revoked meanwhile.
      if (principal !== undefined && this.welcomed)
        void tellAgentDisconnected(this.ctx, principal, this.id).catch((error: unknown) => {
          this.log.warn({ err: error }, 'the disconnection could not be told to the logstream');
        });
    }
  }
}
