// The export queue: one row per operation for an application's connector (export_item). Connectors — the
// agent gateway, or a cloud connector through the API — claim what is due, in order per object, under a
// lease; they report each result, and a retriable failure comes back after an exponential backoff with
// jitter until the application's attempts are exhausted. A created object's anchor becomes the identity's
// hard join, so the next import joins it; the next import that shows the exported values confirms it.
import type { EntityManager } from '@mikro-orm/postgresql';
import { joinProvenance } from './join-provenance.ts';
import { sql } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import type { Attributes, SealedSecret } from '../../kernel/contracts/identity-events.ts';
import type { LogEvent, MessageData } from '../../kernel/contracts/messages.ts';
import { logRow, type LogstreamTarget } from '../../streams/logstream.ts';
import { insertOutbox } from '../../streams/outbox.ts';
import { NotFoundError, type ErrorCode } from '../../kernel/errors.ts';
import { backoffDelay, type BackoffPolicy } from '../../kernel/retry.ts';

export type ExportInstruction = MessageData<'joinery.export.v1'>;

export type ExportResult =
  | { status: 'succeeded'; externalId: string; dn?: string }
  /** `code` is the connector's: a Joinery error code from the agent, or a cloud connector's own. */
  | { status: 'failed'; code: string; message: string; retriable: boolean };

export type ExportStatus =
  'sandbox' | 'held' | 'pending' | 'delivering' | 'succeeded' | 'confirmed' | 'failed';

/** One operation to queue (the Outbound stage's output). */
export interface NewExport {
  /** Given by the caller to name it elsewhere (its logstream event); a new UUIDv7 when absent. */
  exportId?: string;
  tenantId: string;
  applicationId: string;
  identityId: string;
  objectClass: string;
  externalId: string | null;
  operation: ExportInstruction['operation'];
  attributes?: Attributes;
  members?: { add: string[]; remove: string[] };
  secret?: SealedSecret;
  status: 'sandbox' | 'held' | 'pending';
  holdReason?: string;
  /** The import run that caused it (its object's change reached the identity): counted in that run. */
  runId?: string;
}

export const DEFAULT_MAX_ATTEMPTS = 8;

/**
 * When a retriable failure comes back: the first retry within 5 s, the ceiling doubling to an hour. Equal
 * jitter (the upper half of the ceiling): a failed export never comes straight back, and the exports of
 * an application that failed together come back spread out.
 */
export const exportRetryBackoff: BackoffPolicy = {
  initialDelayMs: 5_000,
  maxDelayMs: 3_600_000,
  jitter: 'equal',
};

/** Appends operations to the queue in one statement; their order is their delivery order per object. */
export async function enqueueExports(tx: EntityManager, exports: NewExport[], now: Date): Promise<number> {
  if (exports.length === 0) return 0;
  const document = JSON.stringify(
    exports.map((item) => ({
      // Time-ordered (UUIDv7): the primary key grows at its right edge, where a random id would write to a
      // random leaf of a 900,000-entry index for each operation of a million-identity load.
      export_id: item.exportId ?? uuidv7(),
      tenant_id: item.tenantId,
      application_id: item.applicationId,
      identity_id: item.identityId,
      object_class: item.objectClass,
      external_id: item.externalId,
      operation: item.operation,
      attributes: item.attributes ?? null,
      members: item.members ?? null,
      secret: item.secret ?? null,
      status: item.status,
      hold_reason: item.holdReason ?? null,
      run_id: item.runId ?? null,
    })),
  );
  await sql`
    insert into export_item (export_id, tenant_id, application_id, identity_id, object_class, external_id, operation,
      attributes, members, secret, status, hold_reason, run_id, attempts, next_attempt_at, created_at)
    select export_id, tenant_id, application_id, identity_id, object_class, external_id, operation,
      attributes, members, secret, status, hold_reason, run_id, 0, ${now}, ${now}
    from rows from (jsonb_to_recordset(${document}::jsonb) as (export_id uuid, tenant_id uuid,
      application_id uuid, identity_id uuid, object_class text, external_id text, operation text, attributes jsonb,
      members jsonb, secret jsonb, status text, hold_reason text, run_id uuid)) with ordinality as u
    order by u.ordinality`.execute(tx.getKysely());
  return exports.length;
}

interface ExportRow {
  export_id: string;
  tenant_id: string;
  application_id: string;
  identity_id: string;
  object_class: string;
  external_id: string | null;
  operation: ExportInstruction['operation'];
  attributes: Attributes | null;
  members: { add: string[]; remove: string[] } | null;
  secret: SealedSecret | null;
  attempts: number;
  created_at: Date;
}

function toInstruction(row: ExportRow): ExportInstruction {
  return {
    tenantId: row.tenant_id,
    exportId: row.export_id,
    applicationId: row.application_id,
    objectClass: row.object_class,
    identityId: row.identity_id,
    operation: row.operation,
    ...(row.external_id === null ? {} : { externalId: row.external_id }),
    ...(row.attributes === null ? {} : { attributes: row.attributes }),
    ...(row.members === null ? {} : { members: row.members }),
    ...(row.secret === null ? {} : { secret: row.secret }),
    attempt: row.attempts,
    at: new Date(row.created_at).toISOString(),
  };
}

/**
 * Leases the due operations of some applications to a connector: pending ones whose time has come, and
 * delivering ones whose lease ran out (the connector vanished). An operation waits while an earlier one
 * for the same object is unfinished, so a create always lands before its update.
 */
export async function claimExports(
  em: EntityManager,
  options: { tenantId: string; applicationIds: string[]; limit: number; leaseMs: number; now?: Date },
): Promise<ExportInstruction[]> {
  if (options.applicationIds.length === 0 || options.limit <= 0) return [];
  const now = options.now ?? new Date();
  const leaseUntil = new Date(now.getTime() + options.leaseMs);
  const { rows } = await sql<ExportRow>`
    with due as (
      select e.export_id from export_item e
      where e.tenant_id = ${options.tenantId} and e.application_id = any(${options.applicationIds}::uuid[])
        and ((e.status = 'pending' and e.next_attempt_at <= ${now})
          or (e.status = 'delivering' and e.lease_until < ${now}))
        and not exists (
          select 1 from export_item b
          where b.identity_id = e.identity_id and b.application_id = e.application_id and b.seq < e.seq
            and b.status in ('pending', 'delivering', 'held'))
      order by e.seq
      limit ${options.limit}
      for update skip locked)
    update export_item e set status = 'delivering', lease_until = ${leaseUntil}, attempts = e.attempts + 1
    from due where e.export_id = due.export_id
    returning e.export_id, e.tenant_id, e.application_id, e.identity_id, e.object_class, e.external_id,
      e.operation, e.attributes, e.members, e.secret, e.attempts, e.created_at, e.seq`.execute(
    em.getKysely(),
  );
  return rows
    .sort((a, b) => Number((a as { seq?: string }).seq) - Number((b as { seq?: string }).seq))
    .map(toInstruction);
}

/**
 * Gives back claimed operations their connector never started (its process is stopping): due again at once,
 * for another process or the next start, without waiting for the lease to run out, and their attempt not
 * counted. One whose result was recorded meanwhile, or claimed again since (a later attempt), is left as it
 * is. Returns how many were given back.
 */
export async function releaseExports(
  em: EntityManager,
  claims: readonly Pick<ExportInstruction, 'exportId' | 'attempt'>[],
): Promise<number> {
  if (claims.length === 0) return 0;
  const result = await sql`
    update export_item e set status = 'pending', lease_until = null, attempts = e.attempts - 1,
      next_attempt_at = now()
    from jsonb_to_recordset(${JSON.stringify(
      claims.map(({ exportId, attempt }) => ({ export_id: exportId, attempt })),
    )}::jsonb) as u(export_id uuid, attempt int)
    where e.export_id = u.export_id and e.status = 'delivering' and e.attempts = u.attempt`.execute(
    em.getKysely(),
  );
  return Number(result.numAffectedRows ?? 0n);
}

export interface RecordedResult {
  tenantId: string;
  exportId: string;
  result: ExportResult;
  maxAttempts?: number;
  now?: Date;
  /** Where the result is told (the logstream), and who reported it. */
  logstream?: LogstreamTarget & { actor: NonNullable<LogEvent['actor']> };
  /** The delivery the result answers: a result for an earlier attempt than the one under way changes nothing. */
  attempt?: number;
}

/**
 * Records a connector's result. A success of a create makes the new object the identity's hard join and
 * gives its anchor to the operations queued after it; a retriable failure comes back after a backoff.
 * A result for an operation that is not being delivered (a late duplicate) changes nothing.
 */
export async function recordExportResult(em: EntityManager, options: RecordedResult): Promise<void> {
  await em.fork().transactional((tx) => recordExportResultIn(tx, options));
}

/**
 * recordExportResult inside the caller's transaction (a consumer's batch, with its offset): returns whether
 * the result changed the export (false for a late duplicate or a stale attempt).
 */
export async function recordExportResultIn(tx: EntityManager, options: RecordedResult): Promise<boolean> {
  const now = options.now ?? new Date();
  const k = tx.getKysely();
  const { rows } = await sql<{
    application_id: string;
    identity_id: string;
    object_class: string;
    operation: string;
    attempts: number;
    status: string;
    external_id: string | null;
    is_group: boolean;
    run_id: string | null;
  }>`
    select application_id, identity_id, object_class, operation, attempts, status, external_id, run_id,
      exists (select 1 from vault_group g where g.id = export_item.identity_id) as is_group
    from export_item
    where tenant_id = ${options.tenantId} and export_id = ${options.exportId} for update`.execute(k);
  const item = rows[0];
  if (item === undefined) throw new NotFoundError(`export ${options.exportId} not found in this tenant`);
  if (item.status !== 'delivering') return false;
  if (options.attempt !== undefined && options.attempt < item.attempts) return false;
  const { result } = options;
  const exhausted = item.attempts >= (options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
  if (options.logstream !== undefined) {
    const { actor, ...target } = options.logstream;
    const externalId = result.status === 'succeeded' ? result.externalId : item.external_id;
    const what = `${item.operation} of ${externalId ?? `a new ${item.object_class}`} (export ${options.exportId}, attempt ${String(item.attempts)})`;
    await insertOutbox(tx, [
      logRow(target, `export/${options.exportId}/result/${String(item.attempts)}`, {
        tenantId: options.tenantId,
        at: now.toISOString(),
        category: item.is_group ? 'group' : 'export',
        stage: 'export',
        // A group's operations name the Vault group in identity_id.
        ...(item.is_group ? { groupId: item.identity_id } : { identityId: item.identity_id }),
        applicationId: item.application_id,
        objectClass: item.object_class,
        ...(externalId === null ? {} : { externalId }),
        ...(item.run_id === null ? {} : { runId: item.run_id }),
        actor,
        ...(result.status === 'succeeded'
          ? { level: 'info', outcome: 'succeeded', message: `${what} succeeded` }
          : {
              level: result.retriable && !exhausted ? 'warn' : 'error',
              outcome: 'failed',
              message: `${what} failed${result.retriable && !exhausted ? ', will be retried' : ' for good'}`,
              errorCode: result.code.slice(0, 64),
              reason: result.message.slice(0, 4096),
            }),
      }),
    ]);
  }
  if (result.status === 'succeeded') {
    await sql`
      update export_item set status = 'succeeded', completed_at = ${now}, lease_until = null, last_error = null,
        external_id = coalesce(external_id, ${result.externalId})
      where export_id = ${options.exportId}`.execute(k);
    if (item.operation === 'create') {
      await sql`
        insert into identity_source (tenant_id, application_id, external_id, identity_id, provenance, created_at)
        values (${options.tenantId}, ${item.application_id}, ${result.externalId}, ${item.identity_id},
          ${joinProvenance.provisioned}, ${now})
        on conflict do nothing`.execute(k);
      await sql`
        update outbound_object set external_id = ${result.externalId}
        where tenant_id = ${options.tenantId} and application_id = ${item.application_id}
          and identity_id = ${item.identity_id} and external_id is null`.execute(k);
      await sql`
        update export_item set external_id = ${result.externalId}
        where tenant_id = ${options.tenantId} and application_id = ${item.application_id}
          and identity_id = ${item.identity_id} and external_id is null
          and status in ('pending', 'held', 'sandbox')`.execute(k);
    }
    if (item.operation === 'delete') await forgetDeletedObject(tx, options.tenantId, item, now);
    return true;
  }
  const error = JSON.stringify({ code: result.code, message: result.message, retriable: result.retriable });
  if (result.retriable && !exhausted) {
    // `attempts` counts the deliveries (a claim adds one): after the first one failed, it is retry 1.
    await sql`
      update export_item set status = 'pending', lease_until = null, last_error = ${error}::jsonb,
        next_attempt_at = ${new Date(now.getTime() + backoffDelay(exportRetryBackoff, item.attempts))}
      where export_id = ${options.exportId}`.execute(k);
  } else {
    await sql`
      update export_item set status = 'failed', lease_until = null, last_error = ${error}::jsonb, completed_at = ${now}
      where export_id = ${options.exportId}`.execute(k);
  }
  return true;
}

/**
 * Successes of operations other than deletes, recorded set-based in the caller's transaction (an in-engine
 * connector's batch of results, with no logstream event each): the same changes as recordExportResultIn,
 * a few statements for the whole batch. Returns the exports it changed; one not being delivered (a late
 * duplicate) changes nothing.
 */
export async function recordExportSuccessesIn(
  tx: EntityManager,
  options: { tenantId: string; succeeded: { exportId: string; externalId: string }[]; now?: Date },
): Promise<string[]> {
  if (options.succeeded.length === 0) return [];
  const now = options.now ?? new Date();
  const k = tx.getKysely();
  const { rows } = await sql<{ export_id: string }>`
    with result as (
      select * from unnest(${options.succeeded.map((one) => one.exportId)}::uuid[],
        ${options.succeeded.map((one) => one.externalId)}::text[]) as r(export_id, external_id)),
    done as (
      update export_item e set status = 'succeeded', completed_at = ${now}, lease_until = null, last_error = null,
        external_id = coalesce(e.external_id, r.external_id)
      from result r
      where e.tenant_id = ${options.tenantId} and e.export_id = r.export_id and e.status = 'delivering'
        and e.operation <> 'delete'
      returning e.export_id, e.application_id, e.identity_id, e.operation, r.external_id),
    created as (select * from done where operation = 'create'),
    joined as (
      insert into identity_source (tenant_id, application_id, external_id, identity_id, provenance, created_at)
      select ${options.tenantId}, application_id, external_id, identity_id, ${joinProvenance.provisioned}, ${now}
      from created
      on conflict do nothing),
    anchored as (
      update outbound_object o set external_id = c.external_id from created c
      where o.tenant_id = ${options.tenantId} and o.application_id = c.application_id
        and o.identity_id = c.identity_id and o.external_id is null),
    queued_after as (
      update export_item e set external_id = c.external_id from created c
      where e.tenant_id = ${options.tenantId} and e.application_id = c.application_id
        and e.identity_id = c.identity_id and e.external_id is null
        and e.status in ('pending', 'held', 'sandbox'))
    select export_id from done`.execute(k);
  return rows.map((row) => row.export_id);
}

/**
 * A deleted object is gone from its application: the repository shows it deleted at once (not only after
 * the next import), so it no longer counts as joined, and the target state forgets its anchor — if the
 * identity (or group) belongs there again, it gets a new object, not an update of the deleted one.
 */
async function forgetDeletedObject(
  tx: EntityManager,
  tenantId: string,
  item: { application_id: string; identity_id: string; external_id: string | null },
  now: Date,
): Promise<void> {
  if (item.external_id === null) return;
  const k = tx.getKysely();
  await sql`
    update repository_object set deleted = true, updated_at = ${now}
    where tenant_id = ${tenantId} and application_id = ${item.application_id}
      and external_id = ${item.external_id} and not deleted`.execute(k);
  await sql`
    update outbound_object set external_id = null, updated_at = ${now}
    where tenant_id = ${tenantId} and application_id = ${item.application_id}
      and identity_id = ${item.identity_id} and external_id = ${item.external_id}`.execute(k);
}

/** An operation an administrator approved or cancelled, for its logstream event. */
export interface DecidedExport {
  exportId: string;
  identityId: string;
  objectClass: string;
  externalId: string | null;
  operation: string;
}

interface DecidedRow {
  export_id: string;
  identity_id: string;
  object_class: string;
  external_id: string | null;
  operation: string;
}

const decided = (rows: DecidedRow[]): DecidedExport[] =>
  rows.map((row) => ({
    exportId: row.export_id,
    identityId: row.identity_id,
    objectClass: row.object_class,
    externalId: row.external_id,
    operation: row.operation,
  }));

/** Releases held operations (approval mode, mass-deletion protection) to be delivered; returns them. */
export async function approveExports(
  em: EntityManager,
  options: { tenantId: string; applicationId: string; exportIds?: string[]; now?: Date },
): Promise<DecidedExport[]> {
  const now = options.now ?? new Date();
  const { rows } = await sql<DecidedRow>`
    update export_item set status = 'pending', hold_reason = null, next_attempt_at = ${now}
    where tenant_id = ${options.tenantId} and application_id = ${options.applicationId} and status = 'held'
      ${options.exportIds === undefined ? sql`` : sql`and export_id = any(${options.exportIds}::uuid[])`}
    returning export_id, identity_id, object_class, external_id, operation`.execute(em.getKysely());
  return decided(rows);
}

/** Cancels held or pending operations (an administrator rejects them); returns them. */
export async function cancelExports(
  em: EntityManager,
  options: { tenantId: string; applicationId: string; exportIds?: string[]; now?: Date },
): Promise<DecidedExport[]> {
  const now = options.now ?? new Date();
  const error = JSON.stringify({
    code: 'JNY_CANCELLED' satisfies ErrorCode,
    message: 'cancelled by an administrator',
    retriable: false,
  });
  const { rows } = await sql<DecidedRow>`
    update export_item set status = 'failed', last_error = ${error}::jsonb, completed_at = ${now}
    where tenant_id = ${options.tenantId} and application_id = ${options.applicationId}
      and status in ('held', 'pending', 'sandbox')
      ${options.exportIds === undefined ? sql`` : sql`and export_id = any(${options.exportIds}::uuid[])`}
    returning export_id, identity_id, object_class, external_id, operation`.execute(em.getKysely());
  return decided(rows);
}

/**
 * The next import confirms what was exported: a created object that now exists, an update whose values
 * the object now shows (its attributes contained in the object's), become confirmed.
 */
export async function confirmExports(
  tx: EntityManager,
  objects: { tenantId: string; applicationId: string; externalId: string }[],
  now: Date,
): Promise<number> {
  if (objects.length === 0) return 0;
  const result = await sql`
    update export_item e set status = 'confirmed', completed_at = ${now}
    from jsonb_to_recordset(${JSON.stringify(
      objects.map((o) => ({
        tenant_id: o.tenantId,
        application_id: o.applicationId,
        external_id: o.externalId,
      })),
    )}::jsonb) as u(tenant_id uuid, application_id uuid, external_id text)
    join repository_object r on r.tenant_id = u.tenant_id and r.application_id = u.application_id
      and r.external_id = u.external_id
    where e.tenant_id = u.tenant_id and e.application_id = u.application_id and e.external_id = u.external_id
      and e.status = 'succeeded' and e.operation in ('create', 'update')
      and (e.operation = 'create' or e.attributes is null or r.attributes @> jsonb_strip_nulls(e.attributes))`.execute(
    tx.getKysely(),
  );
  return Number(result.numAffectedRows ?? 0n);
}
