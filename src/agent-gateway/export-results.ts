// The results an agent returns for the exports it was given: opened, each checked (an export of the
// connector's own applications, a WritebackResult) and recorded in the export queue, then acknowledged.
// A result that fails a check is acknowledged and ignored: sending it again would not change it.
import { sql } from 'kysely';
import {
  WritebackResultSchema,
  matches,
  parseOpened,
  type AgentFrame,
  type ServerFrame,
} from '../../kernel/channel/protocol.ts';
import { channelAad } from '../../kernel/channel/sealing.ts';
import { NotFoundError, type ErrorCode } from '../../kernel/errors.ts';
import { recordExportResult } from '../engine/export-queue.ts';
import { agentLogstream } from './agent-presence.ts';
import type { GatewayContext, SessionScope } from './gateway-context.ts';
import { openFromAgent } from './sealed-payloads.ts';

/**
 * Records the frame's results and returns the frame that answers it (results-ack, or a nack when the
 * results do not open); each recorded export leaves `outstanding`.
 */
export async function receiveResults(
  ctx: GatewayContext,
  scope: SessionScope,
  frame: Extract<AgentFrame, { type: 'export-results' }>,
  outstanding: Set<string>,
): Promise<ServerFrame> {
  const { principal, log } = scope;
  const sealed = frame.items.map((item) => ({
    ciphertext: item.ciphertext,
    aad: channelAad({
      direction: 'result',
      tenantId: principal.tenantId,
      connectorId: principal.connectorId,
      id: item.exportId,
    }),
  }));
  const opening = await openFromAgent(ctx, scope, frame.enc, sealed, {
    batchId: 'export-results',
    log: { results: frame.items.length },
  });
  if ('nack' in opening) return opening.nack;
  const applicationOf = await applicationsOf(
    ctx,
    principal.tenantId,
    frame.items.map((item) => item.exportId),
  );
  const answered: string[] = [];
  for (const [index, item] of frame.items.entries()) {
    const result = parseOpened(opening.opened[index] ?? new Uint8Array(), `export result ${item.exportId}`);
    const applicationId = applicationOf.get(item.exportId);
    // Only exports of the connector's own applications may be answered by it.
    if (applicationId === undefined || !principal.applicationIds.includes(applicationId)) {
      ignore(scope, item.exportId, 'JNY_FORBIDDEN', 'result for an export this connector does not serve');
      answered.push(item.exportId);
      continue;
    }
    if (!matches(WritebackResultSchema, result)) {
      ignore(scope, item.exportId, 'JNY_MESSAGE_INVALID', 'export result does not match WritebackResult');
      answered.push(item.exportId);
      continue;
    }
    try {
      await recordExportResult(ctx.orm.em, {
        tenantId: principal.tenantId,
        exportId: item.exportId,
        result,
        logstream: agentLogstream(ctx, principal),
      });
    } catch (error) {
      // The export was removed since it was looked up: there is nothing left to record.
      if (!(error instanceof NotFoundError)) throw error;
      log.warn({ exportId: item.exportId }, error.message);
    }
    outstanding.delete(item.exportId);
    answered.push(item.exportId);
    ctx.counters.exportResults++;
    log.info({ exportId: item.exportId, status: result.status }, 'export result recorded');
  }
  return { type: 'results-ack', exportIds: answered };
}

/** The application of each export, for the exports of the tenant among `exportIds`: one query. */
async function applicationsOf(
  ctx: GatewayContext,
  tenantId: string,
  exportIds: string[],
): Promise<Map<string, string>> {
  const { rows } = await sql<{ export_id: string; application_id: string }>`
    select export_id, application_id from export_item
    where tenant_id = ${tenantId} and export_id = any(${exportIds}::uuid[])`.execute(ctx.orm.em.getKysely());
  return new Map(rows.map((row) => [row.export_id, row.application_id]));
}

function ignore(scope: SessionScope, exportId: string, code: ErrorCode, reason: string): void {
  scope.log.warn({ exportId, code }, `${reason}: ignored`);
}
