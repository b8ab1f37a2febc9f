// What every session of the gateway shares: the service's parts it uses, its settings with their
// defaults, and the counters. A leaf module, so the frame handlers and the gateway import it, not each other.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { ChannelParameters } from '../../kernel/channel/protocol.ts';
import type { AgentPrincipal } from './connectors.ts';
import type { SequencedProducer } from './sequenced-producer.ts';
import type { TenantKeys } from './tenant-keys.ts';
import type { SensitiveValues } from '../secrets/sensitive-values.ts';

export interface GatewayCounters {
  sessions: number;
  messagesProduced: number;
  duplicatesSkipped: number;
  messagesRejected: number;
  /** Batches or results whose sealed payloads did not open (tampered or mis-bound). */
  sealFailures: number;
  authFailures: number;
  /** Sockets closed for a cap (per address, per tenant) or for too many bytes before hello. */
  connectionsRefused: number;
  exportsSent: number;
  exportResults: number;
}

export function emptyCounters(): GatewayCounters {
  return {
    sessions: 0,
    messagesProduced: 0,
    duplicatesSkipped: 0,
    messagesRejected: 0,
    sealFailures: 0,
    authFailures: 0,
    connectionsRefused: 0,
    exportsSent: 0,
    exportResults: 0,
  };
}

export interface GatewaySettings {
  /** How often a connected agent's due exports are claimed. */
  exportPollMs: number;
  /** How long a claimed export stays with the agent before another delivery may take it. */
  exportLeaseMs: number;
  /** Most exports delivered and not yet answered per agent. */
  maxOutstandingExports: number;
  /** How long an agent has to answer the challenge. */
  helloTimeoutMs: number;
  /** Most bytes a socket may send before it has authenticated (hello is ~1 KiB). */
  unauthenticatedBytes: number;
  /** Most authenticated sessions of one tenant's connectors in this process. */
  connectionsPerTenant: number;
}

export interface GatewayContext {
  orm: MikroORM;
  tenantKeys: TenantKeys;
  /** Opens sensitive attribute values (sealed at rest) in the exports an agent is given. */
  sensitiveValues?: SensitiveValues;
  /** The channel parameters an agent is given in welcome. */
  channel: ChannelParameters;
  producer: SequencedProducer;
  settings: GatewaySettings;
  counters: GatewayCounters;
  /** Where agents' connections and export results are told (the logstream topic's broker-side name). */
  logstreamTopic: string;
}

/** What a frame handler knows of the authenticated session it runs for. */
export interface SessionScope {
  principal: AgentPrincipal;
  /** The session's logger (session, tenant and connector ids). */
  log: Logger;
}
