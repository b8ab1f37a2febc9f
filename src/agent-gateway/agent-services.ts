// Composes the API's agent parts once: the tenant keys, the channel parameters agents are given, and the
// gateway (only when the API has a bus to produce to).
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { ChannelParameters } from '../../kernel/channel/protocol.ts';
import { CHANNEL_PROTOCOL } from '../../kernel/channel/sealing.ts';
import type { Bus } from '../../streams/bus.ts';
import { createAgentGateway, type AgentConnectionLimits, type AgentGateway } from './gateway.ts';
import { createTenantKeys, type TenantKeys } from './tenant-keys.ts';
import { createSensitiveValues, type SensitiveValues } from '../secrets/sensitive-values.ts';

export interface AgentChannelSettings {
  /** The topic prefix of the service's kafka settings. */
  topicPrefix: string;
  /** Encrypts tenant private keys at rest; without it enrolment and the channel answer 503. */
  masterKey: Buffer | undefined;
  /** security.previousMasterKeys: still open the tenant keys they wrapped, during a rotation. */
  previousMasterKeys?: readonly Buffer[];
  heartbeatMs?: number;
  exportPollMs?: number;
  exportLeaseMs?: number;
  /** Connection caps and the unauthenticated byte budget; the config schema's defaults when absent. */
  limits?: AgentConnectionLimits;
}

export interface AgentServices {
  tenantKeys: TenantKeys;
  /** Sensitive attribute values, sealed at rest: opened for the agents' exports. None without a master key. */
  sensitiveValues: SensitiveValues | undefined;
  channel: ChannelParameters;
  gateway: AgentGateway | undefined;
}

export function createAgentServices(deps: {
  orm: MikroORM;
  logger: Logger;
  bus: Bus | undefined;
  settings: AgentChannelSettings | undefined;
}): AgentServices {
  const settings = deps.settings ?? { topicPrefix: 'joinery.', masterKey: undefined };
  const tenantKeys = createTenantKeys({
    em: deps.orm.em,
    masterKey: settings.masterKey,
    ...(settings.previousMasterKeys === undefined ? {} : { previousMasterKeys: settings.previousMasterKeys }),
  });
  const sensitiveValues =
    settings.masterKey === undefined
      ? undefined
      : createSensitiveValues({
          keyring: { current: settings.masterKey, previous: settings.previousMasterKeys ?? [] },
          em: deps.orm.em,
        });
  const channel: ChannelParameters = {
    path: '/v1/agent/channel',
    protocol: CHANNEL_PROTOCOL,
    heartbeatMs: settings.heartbeatMs ?? 5000,
    maxBatchMessages: 500,
    maxFrameBytes: 16 * 1024 * 1024,
  };
  const gateway =
    deps.bus === undefined
      ? undefined
      : createAgentGateway({
          orm: deps.orm,
          bus: deps.bus,
          topics: { topicPrefix: settings.topicPrefix },
          tenantKeys,
          ...(sensitiveValues === undefined ? {} : { sensitiveValues }),
          logger: deps.logger,
          channel,
          ...(settings.exportPollMs === undefined ? {} : { exportPollMs: settings.exportPollMs }),
          ...(settings.exportLeaseMs === undefined ? {} : { exportLeaseMs: settings.exportLeaseMs }),
          ...(settings.limits === undefined ? {} : { limits: settings.limits }),
        });
  return { tenantKeys, sensitiveValues, channel, gateway };
}
