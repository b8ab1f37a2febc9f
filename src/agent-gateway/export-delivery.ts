// Export instructions for a connected agent: the due exports of its connector's applications are claimed
// under a lease (up to the room its outstanding exports leave), a password sealed to the tenant key is
// opened, and the batch is sealed to the agent's own key. An export whose password does not open fails
// at once: no retry would open it.
import type { ServerFrame } from '../../kernel/channel/protocol.ts';
import { channelAad, openSecret, sealBatch } from '../../kernel/channel/sealing.ts';
import type { ErrorCode } from '../../kernel/errors.ts';
import { claimExports, recordExportResult, type ExportInstruction } from '../engine/export-queue.ts';
import type { AgentPrincipal } from './connectors.ts';
import { agentLogstream } from './agent-presence.ts';
import type { GatewayContext, SessionScope } from './gateway-context.ts';

/** What one sealed export carries to the agent: the instruction, and the password in clear inside the seal. */
interface DownPayload {
  instruction: Omit<ExportInstruction, 'secret'>;
  password?: string;
}

/**
 * Claims the agent's due exports and returns the `exports` frame to send (none when nothing is due or
 * the agent already holds its most); the exports sent are added to `outstanding`.
 */
export async function deliverExports(
  ctx: GatewayContext,
  scope: SessionScope,
  outstanding: Set<string>,
): Promise<ServerFrame | undefined> {
  const room = ctx.settings.maxOutstandingExports - outstanding.size;
  if (room <= 0) return undefined;
  const claimed = await claimExports(ctx.orm.em.fork(), {
    tenantId: scope.principal.tenantId,
    applicationIds: scope.principal.applicationIds,
    limit: room,
    leaseMs: ctx.settings.exportLeaseMs,
  });
  if (claimed.length === 0) return undefined;
  const payloads: { exportId: string; payload: DownPayload }[] = [];
  for (const instruction of claimed) {
    const payload = await downPayload(ctx, scope, instruction);
    if (payload !== undefined) payloads.push({ exportId: instruction.exportId, payload });
  }
  if (payloads.length === 0) return undefined;
  const frame = await sealForAgent(scope.principal, payloads);
  for (const { exportId } of payloads) outstanding.add(exportId);
  ctx.counters.exportsSent += payloads.length;
  scope.log.info({ exports: payloads.length }, 'exports sent to the agent');
  return frame;
}

/** The instruction with its password opened; undefined when the password does not open (recorded as failed). */
async function downPayload(
  ctx: GatewayContext,
  scope: SessionScope,
  instruction: ExportInstruction,
): Promise<DownPayload | undefined> {
  const { secret, ...sealed } = instruction;
  const { tenantId } = scope.principal;
  try {
    // Sensitive values travel sealed at rest and are opened for the agent alone, inside its own seal.
    const rest =
      sealed.attributes === undefined || ctx.sensitiveValues === undefined
        ? sealed
        : {
            ...sealed,
            attributes: (await ctx.sensitiveValues.forTenant(tenantId)).openAttributes(sealed.attributes),
          };
    if (secret === undefined) return { instruction: rest };
    const key = await ctx.tenantKeys.privateKey(tenantId, secret.keyId);
    return { instruction: rest, password: await openSecret(key, tenantId, secret) };
  } catch (error) {
    ctx.counters.sealFailures++;
    const code: ErrorCode = 'JNY_SEAL_INVALID';
    const message = error instanceof Error ? error.message : String(error);
    scope.log.warn({ exportId: instruction.exportId, code }, message);
    await recordExportResult(ctx.orm.em, {
      tenantId,
      exportId: instruction.exportId,
      result: { status: 'failed', code, message, retriable: false },
      logstream: agentLogstream(ctx, scope.principal),
    });
    return undefined;
  }
}

/** One HPKE encapsulation for the whole batch, each export bound to tenant, connector and export id. */
async function sealForAgent(
  principal: AgentPrincipal,
  payloads: { exportId: string; payload: DownPayload }[],
): Promise<ServerFrame> {
  const sealed = await sealBatch(
    principal.encryptionKey,
    payloads.map(({ exportId, payload }) => ({
      aad: channelAad({
        direction: 'down',
        tenantId: principal.tenantId,
        connectorId: principal.connectorId,
        id: exportId,
      }),
      plaintext: Buffer.from(JSON.stringify(payload)),
    })),
  );
  return {
    type: 'exports',
    enc: sealed.enc,
    items: payloads.map(({ exportId }, index) => ({
      exportId,
      ciphertext: sealed.ciphertexts[index] ?? '',
    })),
  };
}
