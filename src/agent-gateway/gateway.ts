// The API side of the agent channel: one session per WebSocket an agent opens (session.ts). It proves the
// agent's identity (Ed25519 signature of a fresh nonce), opens sealed batches with the tenant key, admits
// each message against the contracts and the connector's applications, produces them to `imports`/`pulses`
// (ce_id = the agent's message id) exactly once per agent sequence, acks; stores heartbeats; claims due
// exports for the connector's applications, seals them to the agent and records the results it returns.
// This module composes those parts and is the gateway's interface to the API.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { topicName } from '../../streams/topics.ts';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { defaultLimits } from '../config/config.schema.ts';
import { closeCodes, type ChannelParameters } from '../../kernel/channel/protocol.ts';
import type { Bus } from '../../streams/bus.ts';
import type { TopicSettings } from '../../streams/topics.ts';
import {
  emptyCounters,
  type GatewayContext,
  type GatewayCounters,
  type GatewaySettings,
} from './gateway-context.ts';
import { createSequencedProducer } from './sequenced-producer.ts';
import { AgentSession } from './session.ts';
import { createSessionRegistry } from './session-registry.ts';
import type { SensitiveValues } from '../secrets/sensitive-values.ts';
import type { TenantKeys } from './tenant-keys.ts';

export type { GatewayCounters } from './gateway-context.ts';

export interface AgentGatewayOptions {
  orm: MikroORM;
  bus: Bus;
  topics: Pick<TopicSettings, 'topicPrefix'>;
  tenantKeys: TenantKeys;
  /** Opens the sensitive attribute values of the exports given to agents (none: they are sent as stored). */
  sensitiveValues?: SensitiveValues;
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
  /** Connection caps and the unauthenticated byte budget (the service config's limits; defaults there). */
  limits?: AgentConnectionLimits;
}

export interface AgentConnectionLimits {
  /** Most sockets open from one source address, authenticated or not. */
  connectionsPerAddress: number;
  /** Most authenticated sessions of one tenant's connectors. */
  connectionsPerTenant: number;
  /** Most bytes a socket may send before hello is answered. */
  unauthenticatedBytes: number;
}

function connectionLimits(limits: AgentConnectionLimits | undefined): AgentConnectionLimits {
  if (limits !== undefined) return limits;
  const defaults = defaultLimits();
  return {
    connectionsPerAddress: defaults.agentConnectionsPerAddress,
    connectionsPerTenant: defaults.agentConnectionsPerTenant,
    unauthenticatedBytes: defaults.agentUnauthenticatedBytes,
  };
}

export interface AgentGateway {
  /**
   * Takes over a freshly opened WebSocket (`transport` is the TCP socket under it, whose bytes are counted
   * until the agent has authenticated), or closes it at once when its address has too many open.
   */
  accept(socket: WebSocket, remoteAddress: string, transport: Duplex): void;
  /** Closes the connector's session in this process (after revocation). */
  disconnect(connectorId: string, code: number, reason: string): void;
  counters(): GatewayCounters;
  /** Lets in-flight frames finish, closes every session, disconnects the producer. */
  close(): Promise<void>;
}

export function createAgentGateway(options: AgentGatewayOptions): AgentGateway {
  const log = options.logger.child({ component: 'agent-gateway' });
  const counters = emptyCounters();
  const sessions = createSessionRegistry<AgentSession>(counters);
  const ctx: GatewayContext = {
    orm: options.orm,
    tenantKeys: options.tenantKeys,
    ...(options.sensitiveValues === undefined ? {} : { sensitiveValues: options.sensitiveValues }),
    channel: options.channel,
    producer: createSequencedProducer({ orm: options.orm, bus: options.bus, topics: options.topics }),
    settings: settingsOf(options),
    counters,
    logstreamTopic: topicName(options.topics, 'logstream'),
  };
  const perAddressCap = connectionLimits(options.limits).connectionsPerAddress;
  /** Open sockets per source address. */
  const openByAddress = new Map<string, number>();
  let closing = false;
  return {
    accept(socket, remoteAddress, transport) {
      if (closing) {
        socket.close(closeCodes.unavailable, 'the API is shutting down');
        return;
      }
      const open = openByAddress.get(remoteAddress) ?? 0;
      if (open >= perAddressCap) {
        counters.connectionsRefused++;
        log.warn(
          { remoteAddress, open, limit: perAddressCap },
          'agent connection refused: too many from this address',
        );
        socket.close(
          closeCodes.tooMany,
          `too many connections from ${remoteAddress} (limit ${String(perAddressCap)}); retry later`,
        );
        return;
      }
      openByAddress.set(remoteAddress, open + 1);
      socket.once('close', () => {
        const left = (openByAddress.get(remoteAddress) ?? 1) - 1;
        if (left <= 0) openByAddress.delete(remoteAddress);
        else openByAddress.set(remoteAddress, left);
      });
      new AgentSession(ctx, sessions, socket, log, { remoteAddress, transport }).start();
    },
    disconnect(connectorId, code, reason) {
      sessions.byConnector(connectorId)?.close(code, reason);
    },
    counters: () => ({ ...counters }),
    async close() {
      closing = true;
      await Promise.all(sessions.all().map((session) => session.drain(1001, 'the API is shutting down')));
      await ctx.producer.close();
    },
  };
}

function settingsOf(options: AgentGatewayOptions): GatewaySettings {
  return {
    exportPollMs: options.exportPollMs ?? 1000,
    exportLeaseMs: options.exportLeaseMs ?? 60_000,
    maxOutstandingExports: options.maxOutstandingExports ?? 100,
    helloTimeoutMs: options.helloTimeoutMs ?? 10_000,
    unauthenticatedBytes: connectionLimits(options.limits).unauthenticatedBytes,
    connectionsPerTenant: connectionLimits(options.limits).connectionsPerTenant,
  };
}
