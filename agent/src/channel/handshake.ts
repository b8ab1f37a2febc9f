// The opening of a connection, pure: the hello that answers the API's challenge (the nonce signed with
// the key the agent enrolled, bound to its tenant and connector), and the limits the welcome sets for the
// session that follows.
import type { AgentFrame, ChannelParameters } from '../../../kernel/channel/protocol.ts';
import { signChallenge } from '../../../kernel/channel/sealing.ts';
import type { AgentKeys, Enrolment } from '../queue/agent-store.ts';

export function helloFrame(
  enrolment: Enrolment,
  keys: AgentKeys,
  agentVersion: string,
  nonce: string,
): Extract<AgentFrame, { type: 'hello' }> {
  const { tenantId, connectorId } = enrolment;
  return {
    type: 'hello',
    tenantId,
    connectorId,
    agentVersion,
    signature: signChallenge(keys.signing.privateKey, { tenantId, connectorId, nonce }),
  };
}

export interface SessionLimits {
  heartbeatMs: number;
  maxBatchMessages: number;
  /** Queue data per batch, before sealing. */
  maxBatchBytes: number;
}

/** The API's channel parameters, with the agent's own batch limit when it is lower. */
export function sessionLimits(channel: ChannelParameters, ownMaxBatchMessages?: number): SessionLimits {
  return {
    heartbeatMs: channel.heartbeatMs,
    maxBatchMessages: Math.min(ownMaxBatchMessages ?? channel.maxBatchMessages, channel.maxBatchMessages),
    // A third of a frame: sealing, base64 (4/3) and the frame's own fields must fit in the rest.
    maxBatchBytes: Math.floor(channel.maxFrameBytes / 3),
  };
}
