// The export queue as an administrator sees it: operations by application and status, in queue order, and
// the sign-off of held operations (approval mode, mass-deletion protection): approve or cancel by id.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { approveExports, cancelExports, type DecidedExport } from '../engine/export-queue.ts';
import type { Principal } from '../tenancy/tenants.ts';
import { adminRow, logstreamOf, tellAdminActions } from './admin-events.ts';
import { NotFoundError } from '../../kernel/errors.ts';
import { AfterQuery, decodeCursor, LimitQuery, page, pageSize } from './pagination.ts';
import { maskSealed } from '../secrets/sensitive-values.ts';
import type { Attributes } from '../../kernel/contracts/identity-events.ts';

const exportStatuses = [
  'sandbox',
  'held',
  'pending',
  'delivering',
  'succeeded',
  'confirmed',
  'failed',
] as const;

const ExportsQuery = Type.Object(
  {
    applicationId: Type.Optional(Type.String({ format: 'uuid' })),
    status: Type.Optional(Type.Enum(exportStatuses)),
    limit: LimitQuery,
    after: AfterQuery,
  },
  { additionalProperties: false },
);

const ExportIds = Type.Object(
  {
    ids: Type.Array(Type.String({ format: 'uuid' }), { minItems: 1, maxItems: 1000, uniqueItems: true }),
  },
  { additionalProperties: false },
);

interface ExportRow {
  seq: string;
  export_id: string;
  application_id: string;
  identity_id: string;
  object_class: string;
  external_id: string | null;
  operation: string;
  attributes: Record<string, unknown> | null;
  members: { add: string[]; remove: string[] } | null;
  has_secret: boolean;
  status: string;
  hold_reason: string | null;
  attempts: number;
  next_attempt_at: Date;
  last_error: { code: string; message: string; retriable: boolean } | null;
  created_at: Date;
  completed_at: Date | null;
}

const iso = (value: Date | null) => (value === null ? null : new Date(value).toISOString());

function present(row: ExportRow) {
  return {
    id: row.export_id,
    applicationId: row.application_id,
    identityId: row.identity_id,
    objectClass: row.object_class,
    externalId: row.external_id,
    operation: row.operation,
    attributes: maskSealed(row.attributes as Attributes | null),
    members: row.members,
    // A sealed password is never shown, not even as ciphertext.
    hasSecret: row.has_secret,
    status: row.status,
    holdReason: row.hold_reason,
    attempts: row.attempts,
    nextAttemptAt: iso(row.next_attempt_at),
    lastError: row.last_error,
    createdAt: iso(row.created_at),
    completedAt: iso(row.completed_at),
  };
}

/** The named operations by application; every id must be one of the caller's, or nothing changes. */
async function exportsByApplication(
  em: EntityManager,
  tenantId: string,
  ids: string[],
): Promise<Map<string, string[]>> {
  const { rows } = await sql<{ export_id: string; application_id: string }>`
    select export_id, application_id from export_item
    where tenant_id = ${tenantId} and export_id = any(${ids}::uuid[])`.execute(em.getKysely());
  const found = new Set(rows.map((row) => row.export_id));
  const missing = ids.filter((id) => !found.has(id));
  if (missing.length > 0)
    throw new NotFoundError(`exports not found: ${missing.slice(0, 10).join(', ')}`, {
      details: { exportIds: missing },
    });
  return new Map(
    [...Map.groupBy(rows, (row) => row.application_id)].map(([applicationId, group]) => [
      applicationId,
      group.map((row) => row.export_id),
    ]),
  );
}

export const exportRoutes: FastifyPluginAsyncTypebox<{ topicPrefix?: string }> = async (app, options) => {
  const logstream = logstreamOf(options.topicPrefix ?? 'joinery.');
  /** Each operation approved or cancelled, told on the logstream in the same transaction. */
  const tell = async (
    tx: EntityManager,
    principal: Principal,
    applicationId: string,
    items: DecidedExport[],
    verb: 'approved' | 'cancelled',
  ): Promise<void> => {
    const at = new Date().toISOString();
    await tellAdminActions(
      tx,
      items.map((item) =>
        adminRow(logstream, principal, `export/${item.exportId}/${verb}`, at, {
          category: 'export',
          outcome: verb === 'approved' ? 'succeeded' : 'skipped',
          message: `${item.operation} of ${item.externalId ?? `a new ${item.objectClass}`} ${verb} (export ${item.exportId})`,
          identityId: item.identityId,
          applicationId,
          objectClass: item.objectClass,
          ...(item.externalId === null ? {} : { externalId: item.externalId }),
          decidedBy: { kind: 'manual', name: `service-account:${principal.serviceAccountId}` },
        }),
      ),
    );
  };
  app.get('/', { config: { scope: 'read' }, schema: { querystring: ExportsQuery } }, async (request) => {
    const { applicationId, status } = request.query;
    const size = pageSize(request.query.limit);
    const after = decodeCursor(request.query.after, 'bigint');
    const { rows } = await sql<ExportRow>`
      select seq::text as seq, export_id, application_id, identity_id, object_class, external_id, operation,
        attributes, members, secret is not null as has_secret, status, hold_reason, attempts, next_attempt_at,
        last_error, created_at, completed_at
      from export_item
      where tenant_id = ${request.principal.tenantId}
        ${applicationId === undefined ? sql`` : sql`and application_id = ${applicationId}`}
        ${status === undefined ? sql`` : sql`and status = ${status}`}
        ${after === undefined ? sql`` : sql`and seq > ${after}::bigint`}
      order by seq limit ${size + 1}`.execute(request.em.getKysely());
    return page(rows, size, (row) => row.seq, present);
  });

  app.post('/approve', { config: { scope: 'approve' }, schema: { body: ExportIds } }, async (request) => {
    const { tenantId } = request.principal;
    const approved = await request.em.transactional(async (tx) => {
      let count = 0;
      for (const [applicationId, exportIds] of await exportsByApplication(tx, tenantId, request.body.ids)) {
        const items = await approveExports(tx, { tenantId, applicationId, exportIds });
        await tell(tx, request.principal, applicationId, items, 'approved');
        count += items.length;
      }
      return count;
    });
    request.log.info({ requested: request.body.ids.length, approved }, 'exports approved');
    // Only held operations can be approved; the others are counted as unchanged.
    return { requested: request.body.ids.length, approved, unchanged: request.body.ids.length - approved };
  });

  app.post('/cancel', { config: { scope: 'approve' }, schema: { body: ExportIds } }, async (request) => {
    const { tenantId } = request.principal;
    const cancelled = await request.em.transactional(async (tx) => {
      let count = 0;
      for (const [applicationId, exportIds] of await exportsByApplication(tx, tenantId, request.body.ids)) {
        const items = await cancelExports(tx, { tenantId, applicationId, exportIds });
        await tell(tx, request.principal, applicationId, items, 'cancelled');
        count += items.length;
      }
      return count;
    });
    request.log.info({ requested: request.body.ids.length, cancelled }, 'exports cancelled');
    // Operations already delivered or finished cannot be cancelled; they are counted as unchanged.
    return { requested: request.body.ids.length, cancelled, unchanged: request.body.ids.length - cancelled };
  });
};
