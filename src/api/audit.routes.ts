// The audit history (docs/audit.md): what happened, to whom, when and why — the tenant's logstream events
// as stored by the audit consumer, filtered by identity, group, application object, run, actor, stage,
// outcome and time, newest first, a page at a time; or the whole selection streamed as CSV or JSON lines.
// GET /v1/identities/:id/history is "everything that happened to identity X".
import { Readable } from 'node:stream';
import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EntityManager } from '@mikro-orm/postgresql';
import { stringify } from 'csv-stringify';
import { sql } from 'kysely';
import { logOutcomes, logStages, type LogEvent } from '../../kernel/contracts/messages.ts';
import { NotFoundError, ValidationError } from '../../kernel/errors.ts';
import {
  readAuditEvents,
  readAuditPage,
  type AuditFilter,
  type AuditPosition,
  type AuditRecord,
} from '../audit/audit-query.ts';
import { AfterQuery, LimitQuery, decodeCursor, encodeCursor, pageSize } from './pagination.ts';

/** The most events one export streams (narrow it with from/to, or page through GET /v1/audit). */
export const MAX_EXPORT_EVENTS = 1_000_000;

const instantPattern =
  '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$';
const Instant = (description: string) =>
  Type.Optional(Type.String({ pattern: instantPattern, maxLength: 40, description }));
const formats = ['json', 'csv', 'ndjson'] as const;
type Format = (typeof formats)[number];

const HistoryQuery = {
  stage: Type.Optional(Type.Enum(logStages, { description: 'The stage or source that emitted the event.' })),
  outcome: Type.Optional(Type.Enum(logOutcomes)),
  from: Instant('From this instant (inclusive), ISO 8601.'),
  to: Instant('Until this instant (exclusive), ISO 8601.'),
  limit: LimitQuery,
  after: AfterQuery,
  format: Type.Optional(
    Type.Enum(formats, {
      description: 'json (a page, the default), csv or ndjson (every match, streamed); or send Accept.',
    }),
  ),
};
const AuditQuery = Type.Object(
  {
    identityId: Type.Optional(Type.String({ format: 'uuid' })),
    groupId: Type.Optional(Type.String({ format: 'uuid' })),
    applicationId: Type.Optional(Type.String({ format: 'uuid' })),
    externalId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description: 'An application object (with applicationId).',
      }),
    ),
    runId: Type.Optional(Type.String({ format: 'uuid' })),
    actor: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'A service account or connector id.' }),
    ),
    ...HistoryQuery,
  },
  { additionalProperties: false },
);
const IdentityHistoryQuery = Type.Object(HistoryQuery, { additionalProperties: false });

/** The cursor holds the last event's time (to the microsecond) and id. */
function positionOf(after: string | undefined): AuditPosition | undefined {
  const key = decodeCursor(after);
  if (key === undefined) return undefined;
  const bar = key.indexOf('|');
  const at = key.slice(0, bar);
  const eventId = key.slice(bar + 1);
  if (bar < 0 || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(at) || eventId === '')
    throw new ValidationError('querystring/after is not a cursor this API returned (use nextCursor)', {
      details: { path: 'querystring/after' },
    });
  return { at, eventId };
}

function instant(value: string | undefined, path: string): string | undefined {
  if (value === undefined) return undefined;
  if (Number.isNaN(Date.parse(value)))
    throw new ValidationError(`querystring/${path} is not a valid instant: ${value}`, {
      details: { path: `querystring/${path}` },
    });
  return value;
}

/** The format asked for: `format=`, else the Accept header, else a JSON page. */
function formatOf(request: FastifyRequest, format: Format | undefined): Format {
  if (format !== undefined) return format;
  const accept = request.headers.accept ?? '';
  if (/\btext\/csv\b/.test(accept)) return 'csv';
  if (/\bapplication\/(x-)?ndjson\b/.test(accept)) return 'ndjson';
  return 'json';
}

function present(record: AuditRecord) {
  return { id: record.id, ...record.event };
}

const csvColumns = [
  'at',
  'id',
  'stage',
  'outcome',
  'level',
  'category',
  'message',
  'runId',
  'identityId',
  'groupId',
  'applicationId',
  'objectClass',
  'externalId',
  'objectCount',
  'actorKind',
  'actorId',
  'decidedByKind',
  'decidedBy',
  'changes',
  'errorCode',
  'reason',
] as const;

function csvRecord(record: AuditRecord): Record<(typeof csvColumns)[number], string> {
  const event: LogEvent = record.event;
  return {
    at: event.at,
    id: record.id,
    stage: event.stage ?? '',
    outcome: event.outcome ?? '',
    level: event.level,
    category: event.category,
    message: event.message,
    runId: event.runId ?? '',
    identityId: event.identityId ?? '',
    groupId: event.groupId ?? '',
    applicationId: event.applicationId ?? '',
    objectClass: event.objectClass ?? '',
    externalId: event.externalId ?? '',
    objectCount: event.objectCount === undefined ? '' : String(event.objectCount),
    actorKind: event.actor?.kind ?? '',
    actorId: event.actor?.id ?? '',
    decidedByKind: event.decidedBy?.kind ?? '',
    decidedBy: event.decidedBy?.name ?? '',
    changes: event.changes === undefined ? '' : JSON.stringify(event.changes),
    errorCode: event.errorCode ?? '',
    reason: event.reason ?? '',
  };
}

/** A page as JSON, or every match streamed as CSV or JSON lines. */
async function answer(
  request: FastifyRequest,
  reply: FastifyReply,
  em: EntityManager,
  filter: AuditFilter,
  query: Static<typeof IdentityHistoryQuery>,
  notice: string | undefined,
) {
  const format = formatOf(request, query.format);
  // Every format says so in a header; the JSON page in its body too.
  if (notice !== undefined) void reply.header('joinery-audit-recording', 'off');
  const after = positionOf(query.after);
  if (format === 'json') {
    const { records, more } = await readAuditPage(em, filter, pageSize(query.limit), after);
    const last = records.at(-1);
    return reply.send({
      items: records.map(present),
      nextCursor:
        more && last !== undefined ? encodeCursor(`${last.position.at}|${last.position.eventId}`) : null,
      ...(notice === undefined ? {} : { notice }),
    });
  }
  const events = readAuditEvents(em, filter, MAX_EXPORT_EVENTS, after);
  if (format === 'ndjson') {
    const lines = Readable.from(
      (async function* () {
        for await (const record of events) yield `${JSON.stringify(present(record))}\n`;
      })(),
    );
    return reply.type('application/x-ndjson; charset=utf-8').send(lines);
  }
  // Cells a spreadsheet would take for a formula (=, +, -, @) are escaped.
  const csv = Readable.from(
    (async function* () {
      for await (const record of events) yield csvRecord(record);
    })(),
  ).pipe(stringify({ header: true, columns: [...csvColumns], escape_formulas: true }));
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', 'attachment; filename="audit.csv"')
    .send(csv);
}

/** Said with every answer of a process that does not store the history (docs/audit.md). */
export const notRecordedNotice =
  'this service does not record the audit history: audit.consumer (JOINERY_AUDIT_CONSUMER) is off, so events are stored only while another process of its engine group runs the audit consumer; with none, what happens now is not kept';

export const auditRoutes: FastifyPluginAsyncTypebox<{
  /** Whether this process stores the history (audit.consumer); true when absent. */
  recording?: boolean;
}> = async (app, options) => {
  const notice = options.recording === false ? notRecordedNotice : undefined;
  app.get(
    '/audit',
    { config: { scope: 'read' }, schema: { querystring: AuditQuery } },
    async (request, reply) => {
      const { query } = request;
      if (query.externalId !== undefined && query.applicationId === undefined)
        throw new ValidationError(
          'querystring/externalId needs querystring/applicationId (an object is named by both)',
          {
            details: { path: 'querystring/externalId' },
          },
        );
      const filter: AuditFilter = {
        tenantId: request.principal.tenantId,
        ...(query.identityId === undefined ? {} : { identityId: query.identityId }),
        ...(query.groupId === undefined ? {} : { groupId: query.groupId }),
        ...(query.applicationId === undefined ? {} : { applicationId: query.applicationId }),
        ...(query.externalId === undefined ? {} : { externalId: query.externalId }),
        ...(query.runId === undefined ? {} : { runId: query.runId }),
        ...(query.actor === undefined ? {} : { actor: query.actor }),
        ...(query.stage === undefined ? {} : { stage: query.stage }),
        ...(query.outcome === undefined ? {} : { outcome: query.outcome }),
        ...timeRange(query),
      };
      return answer(request, reply, request.em, filter, query, notice);
    },
  );

  app.get(
    '/identities/:id/history',
    {
      config: { scope: 'read' },
      schema: {
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        querystring: IdentityHistoryQuery,
      },
    },
    async (request, reply) => {
      const { tenantId } = request.principal;
      const { id } = request.params;
      const { query } = request;
      // An identity deleted since keeps its history; one this tenant never had is not found.
      const { rows } = await sql<{ known: boolean }>`
        select exists (select 1 from identity where tenant_id = ${tenantId} and id = ${id})
          or exists (select 1 from audit_event where tenant_id = ${tenantId} and identity_id = ${id}) as known`.execute(
        request.em.getKysely(),
      );
      if (rows[0]?.known !== true)
        throw new NotFoundError(`identity ${id} not found`, { details: { identityId: id } });
      const filter: AuditFilter = {
        tenantId,
        identityId: id,
        ...(query.stage === undefined ? {} : { stage: query.stage }),
        ...(query.outcome === undefined ? {} : { outcome: query.outcome }),
        ...timeRange(query),
      };
      return answer(request, reply, request.em, filter, query, notice);
    },
  );
};

function timeRange(query: { from?: string; to?: string }): { from?: string; to?: string } {
  const from = instant(query.from, 'from');
  const to = instant(query.to, 'to');
  return { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) };
}
