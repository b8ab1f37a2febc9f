// Whether an agent is there: the connection its hello opens is recorded and welcomed, and each heartbeat
// is stored and acknowledged — unless the connector was revoked meanwhile, which ends the session.
import type { AgentFrame, ServerFrame } from '../../kernel/channel/protocol.ts';
import { recordHeartbeat, type AgentPrincipal } from './connectors.ts';
import type { GatewayContext } from './gateway-context.ts';

/** Records the new connection and returns the welcome, with the sequence the agent resumes after. */
export async function welcomeAgent(
  ctx: GatewayContext,
  principal: AgentPrincipal,
  agentVersion: string,
): Promise<ServerFrame> {
  await recordHeartbeat(ctx.orm.em, principal.connectorId, {
    version: agentVersion,
    health: { status: 'ok' },
    queueDepth: 0,
    connected: true,
  });
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
