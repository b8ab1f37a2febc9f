// Whether an agent is there: the connection its hello opens is recorded and welcomed, and each heartbeat
// is stored and acknowledged — unless the connector was revoked meanwhile, which ends the session.
import type { AgentFrame, ServerFrame } from '../../kernel/channel/protocol.ts';
import { UnauthenticatedError } from '../../kernel/errors.ts';
import { logRow } from '../../streams/logstream.ts';
import { insertOutbox, type OutboxRow } from '../../streams/outbox.ts';
import { recordHeartbeat, type AgentPrincipal } from './connectors.ts';
import type { GatewayContext } from './gateway-context.ts';

/** Where an agent's export results are told, with the agent as their actor. */
export function agentLogstream(ctx: GatewayContext, principal: AgentPrincipal) {
  return {
    topic: ctx.logstreamTopic,
    source: '/joinery/api/agent-gateway',
    actor: { kind: 'agent' as const, id: principal.connectorId, name: principal.name.slice(0, 256) },
  };
}

/** The logstream event that the connector's agent connected or went away, as an outbox row. */
function presenceRow(
  ctx: Pick<GatewayContext, 'logstreamTopic'>,
  principal: AgentPrincipal,
  session: string,
  connected: boolean,
): OutboxRow {
  return logRow(
    { topic: ctx.logstreamTopic, source: '/joinery/api/agent-gateway' },
    `agent/${session}/${connected ? 'connected' : 'disconnected'}`,
    {
      tenantId: principal.tenantId,
      at: new Date().toISOString(),
      level: connected ? 'info' : 'warn',
      category: 'agent',
      stage: 'agent',
      outcome: 'succeeded',
      message: `agent of connector ${principal.name} ${connected ? 'connected' : 'disconnected'}`,
      actor: { kind: 'agent', id: principal.connectorId, name: principal.name.slice(0, 256) },
    },
  );
}

/**
 * Tells the logstream that the connector's agent went away. A disconnection changes nothing stored (the
 * connection is recorded when it opens, with its event): the event is the record, in a transaction of its own.
 */
export async function tellAgentDisconnected(
  ctx: GatewayContext,
  principal: AgentPrincipal,
  session: string,
): Promise<void> {
  await ctx.orm.em.fork().transactional(async (tx) => {
    await insertOutbox(tx, [presenceRow(ctx, principal, session, false)]);
  });
}

/** Records the new connection and returns the welcome, with the sequence the agent resumes after. */
export async function welcomeAgent(
  ctx: Pick<GatewayContext, 'orm' | 'logstreamTopic' | 'channel'>,
  principal: AgentPrincipal,
  agentVersion: string,
  session: string,
): Promise<ServerFrame> {
  // The connection and its event are one transaction: the event exists iff the connection was recorded.
  const { revoked } = await recordHeartbeat(
    ctx.orm.em,
    principal.connectorId,
    { version: agentVersion, health: { status: 'ok' }, queueDepth: 0, connected: true },
    [presenceRow(ctx, principal, session, true)],
  );
  // Revoked between the agent's signature and now: refused like a revoked key, not welcomed.
  if (revoked) throw new UnauthenticatedError('the connector was revoked');
  return {
    type: 'welcome',
    connectorId: principal.connectorId,
    lastProducedSeq: principal.lastProducedSeq,
    channel: ctx.channel,
  };
}

/** Stores the heartbeat; the acknowledgement to send, or `revoked`. */
export async function receiveHeartbeat(
  ctx: GatewayContext,
  principal: AgentPrincipal,
  frame: Extract<AgentFrame, { type: 'heartbeat' }>,
): Promise<ServerFrame | 'revoked'> {
  const { revoked } = await recordHeartbeat(ctx.orm.em, principal.connectorId, frame);
  if (revoked) return 'revoked';
  return { type: 'heartbeat-ack', at: new Date().toISOString() };
}
