// Opens what an agent sealed to its tenant's key (message batches, export results). A batch that does not
// open — tampered, or sealed to another key or other ids — is refused as a whole with a nack the agent can
// retry, and nothing of it is used.
import type { ServerFrame } from '../../kernel/channel/protocol.ts';
import { openBatch } from '../../kernel/channel/sealing.ts';
import type { ErrorCode } from '../../kernel/errors.ts';
import type { GatewayContext, SessionScope } from './gateway-context.ts';

export type Nack = Extract<ServerFrame, { type: 'nack' }>;

const SEAL_INVALID: ErrorCode = 'JNY_SEAL_INVALID';

/**
 * The payloads opened in order, or the nack that refuses them. The tenant key is looked up outside the
 * refusal: a key that cannot be read (no master key, database down) fails the frame, it is no bad seal.
 */
export async function openFromAgent(
  ctx: Pick<GatewayContext, 'tenantKeys' | 'counters'>,
  scope: SessionScope,
  enc: string,
  sealed: { ciphertext: string; aad: Uint8Array }[],
  refusal: { batchId: string; log: Record<string, unknown> },
): Promise<{ opened: Uint8Array[] } | { nack: Nack }> {
  const { tenantId } = scope.principal;
  const tenantKey = await ctx.tenantKeys.publicKey(tenantId);
  const privateKey = await ctx.tenantKeys.privateKey(tenantId, tenantKey.keyId);
  try {
    return { opened: await openBatch(privateKey, enc, sealed) };
  } catch (error) {
    ctx.counters.sealFailures++;
    const message = error instanceof Error ? error.message : String(error);
    scope.log.warn({ ...refusal.log, code: SEAL_INVALID }, message);
    return {
      nack: { type: 'nack', batchId: refusal.batchId, code: SEAL_INVALID, message, retriable: true },
    };
  }
}
