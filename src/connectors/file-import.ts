// A file is a full import run of its application: read row by row (src/connectors/csv/csv-reader.ts), sent to
// the `imports` topic as the agent sends a directory — a `started` marker, the objects under the run's id, a
// `completed` marker with their count — and the engine finds the deletions (the rows not in the file). The
// objects travel many to a message (src/connectors/import-chunks.ts), grouped by the partition of their key.
//
// What is not read is never a deletion: a file with malformed rows completes as a delta run (its rows
// imported, nothing deleted, the rejected rows listed on the run) unless `onError: fail`, which aborts it;
// a file that cannot be read on (encoding, header, an unterminated quote) or with more malformed rows than
// `maxErrors` aborts. Memory stays bounded: objects go out in batches as they are read, and only the
// external ids seen are kept (to refuse a second row of one object).
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { NotFoundError, ValidationError } from '../../kernel/errors.ts';
import type { Bus } from '../../streams/bus.ts';
import { encodeMessage } from '../../streams/cloudevents.ts';
import { createOrderedProducer } from '../../streams/ordered-producer.ts';
import { topicName } from '../../streams/topics.ts';
import { logRow, type LogstreamTarget } from '../../streams/logstream.ts';
import { insertOutbox } from '../../streams/outbox.ts';
import type { ApplicationPlan } from '../plan/plan.schema.ts';
import { readCsv } from './csv/csv-reader.ts';
import { createObjectChunker, topicPartitions } from './import-chunks.ts';
import { csvObjectClass } from './csv/csv-settings.ts';

/** Where a file import tells its rejected rows and its abort. */
interface FileLogstream {
  target: LogstreamTarget;
  tenantId: string;
  applicationId: string;
}

export function logstreamOf(
  deps: Pick<FileImportDeps, 'topicPrefix' | 'source'>,
  tenantId: string,
  applicationId: string,
  runId: string,
): FileLogstream {
  return {
    target: { topic: topicName(deps, 'logstream'), source: `${deps.source}/runs/${runId}` },
    tenantId,
    applicationId,
  };
}

/** Rejected rows kept on the run with their line and reason (all are counted). */
const KEPT_ERRORS = 1000;
const DEFAULT_MAX_ERRORS = 1000;

/** What a file import logs with: a pino logger, or a request's. */
export interface ImportLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  child(bindings: Record<string, unknown>): ImportLogger;
}

export interface FileImportDeps {
  /**
   * Where the run's rows are written, in short transactions of its own (never one for the whole file): the
   * API's tenant EntityManager (row-level security), or the ORM's for the CLI and the watcher.
   */
  em: EntityManager;
  bus: Bus;
  topicPrefix: string;
  logger: ImportLogger;
  /** ce_source of the messages, e.g. /joinery/api or /joinery/cli. */
  source: string;
}

export interface FileImportProgress {
  rows: number;
  objects: number;
  rejected: number;
}

export interface FileImportResult extends FileImportProgress {
  runId: string;
  /** `full` when every row was read; `delta` when some were rejected (nothing is deleted). */
  kind: 'full' | 'delta';
  /** `sent`: the engine completes the run (GET /v1/runs/:id); `aborted`: nothing imported, see reason. */
  outcome: 'sent' | 'aborted';
  reason: string | null;
  /** The columns read (as attributes) and the header names that are no attribute of the class. */
  columns: string[];
  ignoredColumns: string[];
  /** The first rejected rows. */
  errors: { line: number; reason: string }[];
}

/** The application's plan in force and id, by id or name, in the tenant; a clear error otherwise. */
export async function fileApplication(
  em: EntityManager,
  tenantId: string,
  application: { id: string } | { name: string },
): Promise<{ id: string; plan: ApplicationPlan }> {
  const { rows } = await sql<{ id: string; name: string; document: { applications: ApplicationPlan[] } }>`
    select a.id, a.name, p.document from application a
    join lateral (select document from plan_version where tenant_id = a.tenant_id
      order by version desc limit 1) p on true
    where a.tenant_id = ${tenantId}
      and ${'id' in application ? sql`a.id = ${application.id}` : sql`a.name = ${application.name}`}`.execute(
    em.getKysely(),
  );
  const row = rows[0];
  const named = 'id' in application ? application.id : application.name;
  const plan = row?.document.applications.find((candidate) => candidate.name === row.name);
  if (row === undefined)
    throw new NotFoundError(`application ${named} not found`, { details: { application: named } });
  if (plan === undefined)
    throw new ValidationError(`application ${named} is not in the tenant's plan in force`, {
      details: { application: named },
    });
  if (plan.type !== 'csv')
    throw new ValidationError(
      `application ${plan.name} is of type ${plan.type}: only csv applications are imported from a file`,
      { details: { application: plan.name, type: plan.type } },
    );
  if (plan.csv === undefined)
    throw new ValidationError(
      `application ${plan.name} has no csv settings: add csv: { externalId: <the attribute that identifies a row> } to it in the plan`,
      { details: { application: plan.name } },
    );
  return { id: row.id, plan };
}

export async function importFile(
  deps: FileImportDeps,
  request: {
    tenantId: string;
    application: { id: string; plan: ApplicationPlan };
    file: AsyncIterable<Buffer | string>;
    onProgress?: (progress: FileImportProgress) => void;
  },
): Promise<FileImportResult> {
  const { tenantId, application } = request;
  const settings = application.plan.csv;
  const objectClass = csvObjectClass(application.plan);
  if (settings === undefined || typeof objectClass !== 'string')
    throw new ValidationError(`application ${application.plan.name} cannot be imported from a file`);
  const runId = randomUUID();
  const log = deps.logger.child({ tenantId, applicationId: application.id, runId });
  const topic = topicName({ topicPrefix: deps.topicPrefix }, 'imports');
  const producer = createOrderedProducer(deps.bus);
  const message = <T extends 'joinery.import.objects.v1' | 'joinery.import.run.v1'>(
    type: T,
    data: MessageData<T>,
    json?: string,
  ) =>
    encodeMessage(
      { id: randomUUID(), type, source: deps.source, time: new Date().toISOString(), tenantId, data },
      json,
    );
  const marker = (phase: 'started' | 'completed' | 'aborted', kind: 'full' | 'delta', objectCount?: number) =>
    message('joinery.import.run.v1', {
      tenantId,
      applicationId: application.id,
      runId,
      kind,
      phase,
      at: new Date().toISOString(),
      ...(objectCount === undefined ? {} : { objectCount }),
    });

  // The run exists from the start (GET /v1/runs/:id), as a requested run does; its markers move it on.
  await deps.em.fork().transactional(async (tx) => {
    await sql`
      insert into import_run (run_id, tenant_id, application_id, kind, status, object_count, seen, deletions, started_at)
      values (${runId}, ${tenantId}, ${application.id}, 'full', 'requested', null, 0, 0, now())`.execute(
      tx.getKysely(),
    );
  });
  const progress: FileImportProgress = { rows: 0, objects: 0, rejected: 0 };
  const errors: { line: number; reason: string }[] = [];
  let header: { columns: string[]; ignored: string[] } = { columns: [], ignored: [] };
  let fatal: string | undefined;
  const maxErrors = settings.maxErrors ?? DEFAULT_MAX_ERRORS;
  let sent = 0;
  let chunker: ReturnType<typeof createObjectChunker> | undefined;
  const flush = async () => {
    if (chunker === undefined || chunker.waiting === 0) return;
    const chunks = chunker.take();
    await producer.send([
      { topic, messages: chunks.map(({ data, json }) => message('joinery.import.objects.v1', data, json)) },
    ]);
    sent += chunks.reduce((sum, { data }) => sum + data.objects.length, 0);
    request.onProgress?.({ ...progress });
  };
  try {
    chunker = createObjectChunker({
      partitions: await topicPartitions(deps.bus, topic),
      common: { tenantId, applicationId: application.id, runId },
    });
    await producer.send([{ topic, messages: [marker('started', 'full')] }]);
    for await (const record of readCsv(request.file, {
      settings,
      attributes: Object.keys(application.plan.objectClasses[objectClass]?.attributes ?? {}),
    })) {
      if (record.kind === 'header') {
        header = { columns: record.columns, ignored: record.ignored };
        continue;
      }
      if (record.kind === 'fatal') {
        fatal = `line ${String(record.line)}: ${record.reason}`;
        errors.push({ line: record.line, reason: record.reason });
        break;
      }
      progress.rows++;
      if (record.kind === 'rejected') {
        progress.rejected++;
        if (errors.length < KEPT_ERRORS) errors.push({ line: record.line, reason: record.reason });
        if (settings.onError === 'fail') {
          fatal = `line ${String(record.line)}: ${record.reason} (csv.onError: fail)`;
          break;
        }
        if (progress.rejected > maxErrors) {
          fatal = `more than ${String(maxErrors)} malformed rows (csv.maxErrors): is it the right file?`;
          break;
        }
        continue;
      }
      progress.objects++;
      const due = chunker.add({
        objectClass,
        externalId: record.externalId,
        operation: 'upsert',
        attributes: record.attributes,
      });
      if (due) await flush();
    }
    if (fatal === undefined) await flush();
    const kind = progress.rejected === 0 ? 'full' : 'delta';
    await producer.send([
      {
        topic,
        messages: [
          fatal === undefined ? marker('completed', kind, progress.objects) : marker('aborted', 'full'),
        ],
      },
    ]);
    await recordOutcome(
      deps.em,
      runId,
      sent,
      progress.rejected,
      errors,
      fatal,
      logstreamOf(deps, tenantId, application.id, runId),
    );
    const result: FileImportResult = {
      runId,
      kind,
      outcome: fatal === undefined ? 'sent' : 'aborted',
      reason: fatal ?? null,
      ...progress,
      columns: header.columns,
      ignoredColumns: header.ignored,
      errors: errors.slice(0, 20),
    };
    if (fatal !== undefined) log.warn({ ...progress, reason: fatal }, 'file import aborted');
    else if (progress.rejected > 0)
      log.warn({ ...progress }, 'file imported with rejected rows: imported as a delta, nothing deleted');
    else log.info({ ...progress }, 'file imported');
    return result;
  } catch (error) {
    // The upload broke off (the client went away) or the bus failed: the run is aborted, nothing deleted.
    const reason = `the file import stopped: ${error instanceof Error ? error.message : String(error)}`;
    await producer.send([{ topic, messages: [marker('aborted', 'full')] }]).catch((cause: unknown) => {
      log.warn({ err: cause }, 'the aborted marker could not be sent');
    });
    await recordOutcome(
      deps.em,
      runId,
      sent,
      progress.rejected,
      errors,
      reason,
      logstreamOf(deps, tenantId, application.id, runId),
    ).catch((cause: unknown) => {
      log.warn({ err: cause }, 'the run could not record why it stopped');
    });
    throw error;
  } finally {
    await producer.close();
  }
}

/**
 * The run's rejected rows and, when it did not complete, why — and then it is `aborted` at once, whether or
 * not its aborted marker reached the bus (a bus that is down, a process that stops): a run is never left
 * `requested` or `running` with nothing more to come. The engine's marker leaves an aborted run as it is.
 */
export async function recordOutcome(
  em: EntityManager,
  runId: string,
  sent: number,
  rejected: number,
  errors: { line: number; reason: string }[],
  reason: string | undefined,
  logstream: FileLogstream,
  /** How a rejected row is named on the logstream (a file's by its line; a table's by its place in the read). */
  rowName: (line: number) => string = (line) => `row at line ${String(line)}`,
): Promise<void> {
  await em.fork().transactional(async (tx) => {
    const k = tx.getKysely();
    // Each rejected row kept on the run, and an abort, told on the logstream.
    const at = new Date().toISOString();
    const { target, tenantId, applicationId } = logstream;
    const run = { tenantId, at, category: 'import', stage: 'connector' as const, runId, applicationId };
    await insertOutbox(tx, [
      ...errors.map((error) =>
        logRow(target, `run/${runId}/rejected/${String(error.line)}`, {
          ...run,
          level: 'warn',
          outcome: 'failed',
          message: `${rowName(error.line)} rejected`,
          errorCode: 'JNY_VALIDATION',
          reason: error.reason.slice(0, 4096),
        }),
      ),
      ...(reason === undefined
        ? []
        : [
            logRow(target, `run/${runId}/aborted`, {
              ...run,
              level: 'error',
              outcome: 'failed',
              message: 'file import aborted: nothing deleted',
              reason: reason.slice(0, 4096),
            }),
          ]),
    ]);
    await sql`update import_run set rejected = ${rejected}, sent = ${sent},
        reason = coalesce(${reason ?? null}, reason)
      where run_id = ${runId}`.execute(k);
    if (reason !== undefined)
      await sql`update import_run set status = 'aborted', finished_at = now()
        where run_id = ${runId} and status in ('requested', 'running')`.execute(k);
    if (errors.length > 0)
      await sql`
        insert into import_run_error (run_id, line, reason)
        select ${runId}, line, reason from jsonb_to_recordset(${JSON.stringify(errors)}::jsonb)
          as u(line int, reason text)
        on conflict do nothing`.execute(k);
  });
}
