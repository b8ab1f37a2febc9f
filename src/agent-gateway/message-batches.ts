// An agent's batch of sealed messages: opened, admitted (contracts, the connector's tenant and
// applications), produced once per sequence, and answered with an ack naming the highest sequence and the
// messages refused — or with a nack when the batch does not open.
import { parseOpened, type AgentFrame, type ServerFrame } from '../../kernel/channel/protocol.ts';
import { channelAad } from '../../kernel/channel/sealing.ts';
import { admitMessages } from './admission.ts';
import type { GatewayContext, SessionScope } from './gateway-context.ts';
import { openFromAgent } from './sealed-payloads.ts';

export async function receiveBatch(
  ctx: GatewayContext,
  scope: SessionScope,
  frame: Extract<AgentFrame, { type: 'batch' }>,
): Promise<ServerFrame> {
  const { principal, log } = scope;
  const sealed = frame.messages.map((message) => ({
    ciphertext: message.ciphertext,
    aad: channelAad({
      direction: 'up',
      tenantId: principal.tenantId,
      connectorId: principal.connectorId,
      id: message.id,
      seq: message.seq,
    }),
  }));
  const opening = await openFromAgent(ctx, scope, frame.enc, sealed, {
    batchId: frame.batchId,
    log: { batchId: frame.batchId, messages: frame.messages.length },
  });
  if ('nack' in opening) return opening.nack;
  const messages = frame.messages.map((message, index) => ({
    id: message.id,
    seq: message.seq,
    body: parseOpened(opening.opened[index] ?? new Uint8Array(), `message ${message.id}`),
  }));
  const { admitted, rejected } = admitMessages(principal, messages);
  const highestSeq = Math.max(...frame.messages.map((message) => message.seq));
  const { produced, skipped } = await ctx.producer.produce(principal.connectorId, admitted, highestSeq);
  ctx.counters.messagesProduced += produced;
  ctx.counters.duplicatesSkipped += skipped;
  ctx.counters.messagesRejected += rejected.length;
  for (const rejection of rejected) {
    log.warn(
      { messageId: rejection.id, seq: rejection.seq, code: rejection.code },
      `message refused: ${rejection.reason}`,
    );
  }
  log.debug(
    { batchId: frame.batchId, produced, skipped, rejected: rejected.length, seq: highestSeq },
    'batch produced',
  );
  return { type: 'ack', batchId: frame.batchId, seq: highestSeq, rejected };
}
