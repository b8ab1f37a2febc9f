// Whether an agent is there: the connection its hello opens is recorded and welcomed, and each heartbeat
// is stored and acknowledged — unless the connector was revoked meanwhile, which ends the session.
import type { AgentFrame, ServerFrame } from '../../kernel/channel/protocol.ts';
import { logRow } from '../../streams/logstream.ts';
import { insertOutbox } from '../../streams/outbox.ts';
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

/** Tells the logstream that the connector's agent connected or went away. */
export async function tellAgentPresence(
  ctx: GatewayContext,
  principal: AgentPrincipal,
  session: string,
  connected: boolean,
): Promise<void> {
  const at = new Date().toISOString();
  await ctx.orm.em.fork().transactional(async (tx) => {
    await insertOutbox(tx, [
      logRow(
        { topic: ctx.logstreamTopic, source: '/joinery/api/agent-gateway' },
        `agent/${session}/${connected ? 'connected' : 'disconnected'}`,
        {
          tenantId: principal.tenantId,
          at,
          level: connected ? 'info' : 'warn',
          category: 'agent',
          stage: 'agent',
          outcome: 'succeeded',
          message: `agent of connector ${principal.name} ${connected ? 'connected' : 'disconnected'}`,
          actor: { kind: 'agent', id: principal.connectorId, name: principal.name.slice(0, 256) },
        },
      ),
    ]);
  });
}

/** Records the new connection and returns the welcome, with the sequence the agent resumes after. */
export async function welcomeAgent(
  ctx: GatewayContext,
  principal: AgentPrincipal,
  agentVersion: string,
  session: string,
): Promise<ServerFrame> {
  await recordHeartbeat(ctx.orm.em, principal.connectorId, {
    version: agentVersion,
    health: { status: 'ok' },
    queueDepth: 0,
    connected: true,
  });
  await tellAgentPresence(ctx, principal, session, true);
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
