// What the gateway lets through from an agent: each opened message must be one of the agent's message
// types, match its published contract, and speak only for the connector's tenant and applications. Pure:
// it takes opened payloads and returns the envelopes to produce and the refusals with their reasons.
import type { ErrorCode } from '../../kernel/errors.ts';
import { messageProblem } from '../../kernel/contracts/message-validators.ts';
import { SealedMessageBodySchema, matches, type Rejection } from '../../kernel/channel/protocol.ts';
import type { Envelope } from '../../streams/cloudevents.ts';
import type { MessageData, MessageType } from '../../kernel/contracts/messages.ts';

/** The message types an agent produces. */
export const agentMessageTypes = [
  'joinery.import.object.v1',
  'joinery.import.run.v1',
  'joinery.pulse.v1',
] as const satisfies readonly MessageType[];
type AgentMessageType = (typeof agentMessageTypes)[number];

export interface OpenedMessage {
  id: string;
  seq: number;
  body: unknown;
}

export interface AdmissionResult {
  admitted: { seq: number; envelope: Envelope }[];
  rejected: Rejection[];
}

function isAgentType(type: string): type is AgentMessageType {
  return (agentMessageTypes as readonly string[]).includes(type);
}

/** The application a message speaks for. */
function applicationOf(type: AgentMessageType, data: MessageData<AgentMessageType>): string {
  if (type === 'joinery.pulse.v1')
    return (data as MessageData<'joinery.pulse.v1'>).event.source.applicationId;
  return (data as MessageData<'joinery.import.object.v1'>).applicationId;
}

export function admitMessages(
  connector: { tenantId: string; connectorId: string; applicationIds: string[] },
  messages: OpenedMessage[],
): AdmissionResult {
  const admitted: AdmissionResult['admitted'] = [];
  const rejected: Rejection[] = [];
  const refuse = (message: OpenedMessage, code: ErrorCode, reason: string): void => {
    rejected.push({ id: message.id, seq: message.seq, code, reason });
  };
  for (const message of messages) {
    if (!matches(SealedMessageBodySchema, message.body)) {
      refuse(message, 'JNY_MESSAGE_INVALID', 'the sealed payload must be {type, time, data}');
      continue;
    }
    const { type, time, data } = message.body;
    if (!isAgentType(type)) {
      refuse(
        message,
        'JNY_MESSAGE_INVALID',
        `type "${type}" is not one an agent sends (${agentMessageTypes.join(', ')})`,
      );
      continue;
    }
    const problem = messageProblem(type, data);
    if (problem !== undefined) {
      refuse(message, 'JNY_MESSAGE_INVALID', problem);
      continue;
    }
    const typed = data as MessageData<AgentMessageType>;
    if (typed.tenantId !== connector.tenantId) {
      refuse(message, 'JNY_FORBIDDEN', `data.tenantId ${typed.tenantId} is not the connector's tenant`);
      continue;
    }
    const applicationId = applicationOf(type, typed);
    if (!connector.applicationIds.includes(applicationId)) {
      refuse(
        message,
        'JNY_FORBIDDEN',
        `application ${applicationId} is not one of connector ${connector.connectorId}'s applications`,
      );
      continue;
    }
    if (type === 'joinery.pulse.v1' && (typed as MessageData<'joinery.pulse.v1'>).identityId !== undefined) {
      refuse(
        message,
        'JNY_FORBIDDEN',
        'an agent names the object (event.source), not the identity: remove identityId',
      );
      continue;
    }
    admitted.push({
      seq: message.seq,
      envelope: {
        id: message.id,
        type,
        source: `/agents/${connector.connectorId}`,
        time,
        tenantId: connector.tenantId,
        data: typed,
      },
    });
  }
  return { admitted, rejected };
}
