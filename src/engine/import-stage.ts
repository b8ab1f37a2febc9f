// The Import stage: application objects from the `imports` topic land in the Application Repository,
// one row per object with a content hash, so an unchanged object stops at the hash compare. Import runs
// are tracked from their markers and their objects, in whatever order the partitions deliver them: a
// full run detects deletions (objects it did not see) only once it is completed and every object it
// announced (the completed marker's objectCount) has been recorded; an aborted run never deletes anything.
// A full run completed without its objectCount cannot know when its objects have all arrived (they are on
// other partitions than its marker): it becomes `incomplete`, with the reason on the run and in the logs, and
// its marker is dead-lettered; it deletes nothing. A full run whose deletions would pass its application's
// deletion guard (src/engine/deletion-guard.ts) deletes nothing either: it is `held`, its would-be deletions
// recorded, until an administrator releases it (then it completes here like any run) or discards it.
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { LogEvent, MessageData } from '../../kernel/contracts/messages.ts';
import { logRow, type LogstreamTarget } from '../../streams/logstream.ts';
import type {
  BatchHandler,
  DecodedMessage,
  HandlerResult,
  Rejection,
} from '../../streams/partition-batch.ts';
import type { OutboxRow } from '../../streams/outbox.ts';
import {
  createInboundForwarder,
  notJoined,
  objectKey,
  type ChangedObject,
  type DeletedObject,
  type InboundForwarder,
  type JoinState,
} from './inbound.ts';
import { confirmExports } from './export-queue.ts';
import { decideDeletions, deletionLimits } from './deletion-guard.ts';
import { createGroupForwarder } from './group-forwarder.ts';
import type { PlanCache, PlanInForce } from './plan-cache.ts';
import type { SensitiveValues, TenantSealer } from '../secrets/sensitive-values.ts';

type ImportObject = MessageData<'joinery.import.object.v1'>;
type ImportObjects = MessageData<'joinery.import.objects.v1'>;
type ImportRunMarker = MessageData<'joinery.import.run.v1'>;

/** Counters of one batch, for logs and tests. */
export interface ImportOutcome {
  created: number;
  changed: number;
  unchanged: number;
  deleted: number;
}

/** Canonical JSON: object keys sorted, so equal content hashes equally whatever the key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonical(inner)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The object's content hash: its class and attributes, and the digest of its application's inbound
 * configuration (src/engine/plan-cache.ts) — an object imported again unchanged under new inbound mappers
 * is not unchanged for the Vault. An application without inbound configuration adds nothing.
 */
export function contentHash(objectClass: string, attributes: Record<string, unknown>, inbound = ''): string {
  const hash = createHash('sha256').update(objectClass).update('\u0000').update(canonical(attributes));
  if (inbound !== '') hash.update('\u0000').update(inbound);
  return hash.digest('hex');
}

/** The inbound digest of each application of the batch, keyed `<tenant id>|<application id>`. */
/**
 * The objects with the attributes their plans mark sensitive sealed (src/secrets/sensitive-values.ts),
 * before anything hashes, compares or stores them. Without a master key they are withheld (stored as
 * null, an error logged once per application): never stored in clear.
 */
async function sealSensitive(
  tx: EntityManager,
  objects: ImportObject[],
  options: {
    plans?: PlanCache;
    sensitiveValues?: SensitiveValues;
    logger?: Logger;
    withheldReported: Set<string>;
  },
): Promise<ImportObject[]> {
  const { plans } = options;
  if (plans === undefined || objects.length === 0) return objects;
  const byTenant = new Map<string, PlanInForce['sensitive']>();
  for (const tenantId of new Set(objects.map((object) => object.tenantId))) {
    const sensitive = (await plans.get(tx, tenantId))?.sensitive;
    if (sensitive !== undefined && sensitive.size > 0) byTenant.set(tenantId, sensitive);
  }
  if (byTenant.size === 0) return objects;
  const sealers = new Map<string, TenantSealer>();
  const sealed: ImportObject[] = [];
  for (const object of objects) {
    const names = byTenant.get(object.tenantId)?.get(object.applicationId)?.get(object.objectClass);
    if (names === undefined || object.attributes === undefined) {
      sealed.push(object);
      continue;
    }
    if (options.sensitiveValues === undefined) {
      const withheld = { ...object.attributes };
      for (const name of names) if (Object.hasOwn(withheld, name)) withheld[name] = null;
      sealed.push({ ...object, attributes: withheld });
      if (!options.withheldReported.has(object.applicationId)) {
        options.withheldReported.add(object.applicationId);
        options.logger?.error(
          { tenantId: object.tenantId, applicationId: object.applicationId, attributes: [...names] },
          'sensitive attributes withheld: they are stored sealed with the master key, and none is set (security.masterKey)',
        );
      }
      continue;
    }
    let sealer = sealers.get(object.tenantId);
    if (sealer === undefined) {
      sealer = await options.sensitiveValues.forTenant(object.tenantId);
      sealers.set(object.tenantId, sealer);
    }
    sealed.push({ ...object, attributes: sealer.sealAttributes(object.attributes, names) });
  }
  return sealed;
}

async function inboundDigests(
  tx: EntityManager,
  plans: PlanCache | undefined,
  objects: ImportObject[],
): Promise<Map<string, string>> {
  const digests = new Map<string, string>();
  if (plans === undefined) return digests;
  for (const tenantId of new Set(objects.map((object) => object.tenantId))) {
    const plan = await plans.get(tx, tenantId);
    for (const [applicationId, digest] of plan?.inboundDigests ?? [])
      digests.set(`${tenantId}|${applicationId}`, digest);
  }
  return digests;
}

/**
 * The Import stage as the engine runs it, in its main thread or in a worker thread: group objects become
 * Vault groups (src/engine/group-forwarder.ts), the rest go on to their identities as events on `identityTopic`.
 */
export function createEngineImportStage(options: {
  plans: PlanCache;
  /** Seals the attributes plans mark sensitive; without it (no master key) their values are withheld. */
  sensitiveValues?: SensitiveValues;
  identityTopic: string;
  /** Where the runs and the join decisions are told. */
  logstreamTopic?: string;
  /** ce_source of the identity events. */
  source: string;
  /** The clock of group exports (tests move it forward). */
  now?: () => Date;
  /** Where a run that cannot complete is reported. */
  logger?: Logger;
}): BatchHandler {
  const { plans, identityTopic, source, now, logger, sensitiveValues } = options;
  const logstream =
    options.logstreamTopic === undefined ? undefined : { topic: options.logstreamTopic, source };
  return createImportStage({
    plans,
    ...(sensitiveValues === undefined ? {} : { sensitiveValues }),
    ...(logger === undefined ? {} : { logger }),
    ...(logstream === undefined ? {} : { logstream }),
    inbound: createGroupForwarder({
      plans,
      ...(now === undefined ? {} : { now }),
      ...(logger === undefined ? {} : { logger }),
      ...(logstream === undefined ? {} : { logstream }),
      inbound: createInboundForwarder({
        plans,
        identityTopic,
        source,
        ...(logstream === undefined ? {} : { logstream }),
      }),
    }),
  });
}

export function createImportStage(
  options: {
    onBatch?: (outcome: ImportOutcome) => void;
    /** Where changed objects go next: their joined (or projected) identities' inbound events. */
    inbound?: InboundForwarder;
    /** The plans in force, whose inbound configuration is part of each object's content hash. */
    plans?: PlanCache;
    /** Seals the attributes plans mark sensitive; without it (no master key) their values are withheld. */
    sensitiveValues?: SensitiveValues;
    /** Where a run that cannot complete is reported. */
    logger?: Logger;
    /** Where the runs' starts, ends and holds are told (the logstream); not told when absent. */
    logstream?: LogstreamTarget;
  } = {},
): BatchHandler {
  const withheldReported = new Set<string>();
  return async (tx, messages): Promise<HandlerResult> => {
    const objects = new Map<string, ImportObject>();
    const markers: ImportRunMarker[] = [];
    const uncounted: { marker: ImportRunMarker; message: DecodedMessage['message'] }[] = [];
    for (const { envelope, message } of messages) {
      if (envelope.type === 'joinery.import.object.v1') {
        const data = envelope.data as ImportObject;
        // The last word on an object within the batch wins (messages of one key arrive in order).
        const key = `${data.tenantId}|${data.applicationId}|${data.externalId}`;
        objects.delete(key);
        objects.set(key, data);
      } else if (envelope.type === 'joinery.import.objects.v1') {
        // A bulk source's chunk: its objects, in order, as if each had come in its own message.
        const { objects: chunk, ...common } = envelope.data as ImportObjects;
        for (const item of chunk) {
          const key = `${common.tenantId}|${common.applicationId}|${item.externalId}`;
          // The message id an object was once sent as (a gathered agent's object) is not the object's.
          const object = { ...common, ...item };
          delete object.id;
          objects.delete(key);
          objects.set(key, object);
        }
      } else if (envelope.type === 'joinery.import.run.v1') {
        const marker = envelope.data as ImportRunMarker;
        if (marker.phase === 'completed' && marker.kind === 'full' && marker.objectCount === undefined)
          uncounted.push({ marker, message });
        else markers.push(marker);
      }
    }
    const k = tx.getKysely();
    const outcome: ImportOutcome = { created: 0, changed: 0, unchanged: 0, deleted: 0 };
    const outbox: OutboxRow[] = [];

    await recordMarkers(
      tx,
      markers.filter((marker) => marker.phase === 'started'),
    );

    const upserts = await sealSensitive(
      tx,
      [...objects.values()].filter((object) => object.operation === 'upsert'),
      { ...options, withheldReported },
    );
    const deletes = [...objects.values()].filter((object) => object.operation === 'delete');
    if (upserts.length > 0) {
      const digests = await inboundDigests(tx, options.plans, upserts);
      const hashed = upserts.map((object) => ({
        object,
        contentHash: contentHash(
          object.objectClass,
          object.attributes ?? {},
          digests.get(`${object.tenantId}|${object.applicationId}`),
        ),
      }));
      const changed = await changedObjects(tx, hashed);
      outcome.created = changed.filter(({ isNew }) => isNew).length;
      outcome.changed = changed.length - outcome.created;
      outcome.unchanged = upserts.length - changed.length;
      // The joins are decided before the objects are written, so each is written once, with its join state.
      const decisions = await options.inbound?.decide(tx, changed);
      await writeObjects(tx, changed, decisions?.joins ?? new Map<string, JoinState>());
      if (options.inbound !== undefined && decisions !== undefined)
        outbox.push(...(await options.inbound.forward(tx, decisions)));
      await confirmExports(
        tx,
        changed.map(({ object }) => object),
        new Date(),
      );
    }
    if (deletes.length > 0) {
      const { rows: deletedRows } = await sql<{
        tenant_id: string;
        application_id: string;
        external_id: string;
      }>`
        update repository_object r set deleted = true, updated_at = now()
        from jsonb_to_recordset(${JSON.stringify(
          deletes.map((object) => ({
            tenant_id: object.tenantId,
            application_id: object.applicationId,
            external_id: object.externalId,
          })),
        )}::jsonb) as u(tenant_id uuid, application_id uuid, external_id text)
        where r.tenant_id = u.tenant_id and r.application_id = u.application_id and r.external_id = u.external_id
          and not r.deleted
        returning r.tenant_id, r.application_id, r.external_id`.execute(k);
      outcome.deleted += deletedRows.length;
      const at = new Map(
        deletes.map((object) => [`${object.applicationId}|${object.externalId}`, object.observedAt]),
      );
      if (options.inbound !== undefined)
        outbox.push(
          ...(await options.inbound.forwardDeletions(
            tx,
            deletedRows.map((row) => ({
              tenantId: row.tenant_id,
              applicationId: row.application_id,
              externalId: row.external_id,
              at: at.get(`${row.application_id}|${row.external_id}`) ?? new Date().toISOString(),
            })),
          )),
        );
    }

    // Count each run's objects, creating the run's row if its "started" marker is still on its way.
    const perRun = new Map<string, { tenantId: string; applicationId: string; count: number }>();
    for (const object of objects.values()) {
      if (object.runId === undefined) continue;
      const run = perRun.get(object.runId) ?? {
        tenantId: object.tenantId,
        applicationId: object.applicationId,
        count: 0,
      };
      run.count++;
      perRun.set(object.runId, run);
    }
    if (perRun.size > 0) {
      await sql`
        insert into import_run (run_id, tenant_id, application_id, kind, status, object_count, seen, deletions, started_at)
        select run_id, tenant_id, application_id, null, 'running', null, seen, 0, now()
        from jsonb_to_recordset(${JSON.stringify(
          [...perRun].map(([runId, run]) => ({
            run_id: runId,
            tenant_id: run.tenantId,
            application_id: run.applicationId,
            seen: run.count,
          })),
        )}::jsonb) as u(run_id uuid, tenant_id uuid, application_id uuid, seen int)
        on conflict (run_id) do update set seen = import_run.seen + excluded.seen`.execute(k);
    }
    await recordMarkers(
      tx,
      markers.filter((marker) => marker.phase !== 'started'),
    );
    const incomplete = await recordUncounted(
      tx,
      uncounted.map(({ marker }) => marker),
    );
    const rejected: Rejection[] = uncounted.map(({ message }) => ({
      message,
      reason: uncountedReason,
      code: 'JNY_MESSAGE_INVALID',
    }));

    // Whichever transaction completes a run (its marker, or its last object) detects its deletions.
    // The deletion guard may hold a full run instead (src/engine/deletion-guard.ts).
    const held: HeldRun[] = [];
    const told: LogEvent[] = [];
    for (const marker of markers)
      if (marker.phase === 'started' || marker.phase === 'aborted') told.push(markerEvent(marker));
    for (const run of incomplete)
      told.push({
        ...runEvent(run, new Date().toISOString()),
        level: 'warn',
        outcome: 'failed',
        message: 'import run incomplete: deletions not detected',
        errorCode: 'JNY_MESSAGE_INVALID',
        reason: uncountedReason,
      });
    for (const runId of new Set([...perRun.keys(), ...markers.map((marker) => marker.runId)])) {
      const finished = await finishRun(tx, runId, options.plans);
      if (finished.held !== undefined) {
        held.push(finished.held);
        told.push({
          ...runEvent(finished.held, new Date().toISOString()),
          level: 'warn',
          outcome: 'held',
          message: `import run held by the deletion guard: ${String(finished.held.deletions)} deletions, nothing deleted`,
          decidedBy: { kind: 'guard', name: 'deletionGuard' },
          reason: finished.held.reason.slice(0, 4096),
        });
      }
      if (finished.completed !== undefined) {
        const { completed } = finished;
        told.push({
          ...runEvent(completed, completed.at),
          level: 'info',
          outcome: 'succeeded',
          message:
            `${completed.kind ?? ''} import run completed: ${String(completed.seen)} objects seen, ${String(finished.deleted.length)} deleted`.trim(),
        });
      }
      const { deleted } = finished;
      outcome.deleted += deleted.length;
      if (options.inbound !== undefined)
        outbox.push(...(await options.inbound.forwardDeletions(tx, deleted)));
    }
    if (options.logstream !== undefined) {
      const target = options.logstream;
      outbox.push(
        ...told.map((event) =>
          logRow(target, `run/${event.runId ?? ''}/${event.outcome ?? ''}/${event.at}`, event),
        ),
      );
    }
    options.onBatch?.(outcome);
    const { logger } = options;
    return {
      outbox,
      rejected,
      ...((incomplete.length === 0 && held.length === 0) || logger === undefined
        ? {}
        : {
            afterCommit: () => {
              for (const run of incomplete)
                logger.warn(
                  { ...run, reason: uncountedReason },
                  'import run incomplete: deletions not detected',
                );
              for (const run of held)
                logger.warn(run, 'import run held by the deletion guard: nothing deleted');
            },
          }),
    };
  };
}

/** A new or changed object of the batch, with its join state and content hash. */
interface ChangedImport extends ChangedObject {
  contentHash: string;
  isNew: boolean;
}

/**
 * The batch's objects that are new or changed (their content, or they were deleted), with the join state
 * each had. A re-fed object (src/engine/rejoin.ts) counts as changed only while its content hash is still
 * reset: when an import got there first, the re-fed copy, read before it, would undo it. Every known object of the batch is locked until the batch commits, as an upsert would lock it
 * (an administrator's join waits for the batch, the disconnector sweep skips it), and read at its latest
 * version: one changed meanwhile (its hash reset to be looked at again) is changed for this batch too. An
 * unchanged object stops here: when a run saw it, only its last run is recorded (for deletion detection);
 * in a delta it is not written at all.
 */
async function changedObjects(
  tx: EntityManager,
  objects: { object: ImportObject; contentHash: string }[],
): Promise<ChangedImport[]> {
  const k = tx.getKysely();
  const document = JSON.stringify(
    objects.map(({ object, contentHash }, index) => ({
      k: index,
      tenant_id: object.tenantId,
      application_id: object.applicationId,
      external_id: object.externalId,
      content_hash: contentHash,
      run_id: object.runId ?? null,
      refeed: object.refeed === true,
    })),
  );
  // One statement: the known objects locked and read at their latest version; the unchanged ones a run saw
  // stamped with it; only the new and changed ones come back (a full import of unchanged objects reads
  // nothing back).
  const { rows } = await sql<{
    k: number;
    new: boolean;
    join_state: JoinState['state'];
    identity_id: string | null;
    join_candidates: JoinState['candidates'];
    deleted: boolean;
  }>`
    with u as (
      select * from jsonb_to_recordset(${document}::jsonb)
        as u(k int, tenant_id uuid, application_id uuid, external_id text, content_hash text, run_id uuid,
          refeed boolean)),
    locked as (
      select u.k, u.tenant_id, u.application_id, u.external_id, u.run_id,
        case when u.refeed then r.content_hash <> '' or r.deleted
             else r.content_hash = u.content_hash and not r.deleted end as unchanged,
        r.last_run_id, r.join_state, r.identity_id, r.join_candidates, r.deleted
      from u join repository_object r
        on r.tenant_id = u.tenant_id and r.application_id = u.application_id and r.external_id = u.external_id
      for update of r),
    stamped as (
      update repository_object r set last_run_id = l.run_id from locked l
      where r.tenant_id = l.tenant_id and r.application_id = l.application_id and r.external_id = l.external_id
        and l.unchanged and l.run_id is not null and l.last_run_id is distinct from l.run_id)
    select u.k, l.k is null as new, l.join_state, l.identity_id, l.join_candidates, coalesce(l.deleted, false) as deleted
    from u left join locked l on l.k = u.k
    where (l.k is null and not u.refeed) or not l.unchanged`.execute(k);
  return rows.flatMap((row): ChangedImport[] => {
    const entry = objects[row.k];
    if (entry === undefined) return [];
    const join = row.new
      ? notJoined
      : { state: row.join_state, identityId: row.identity_id, candidates: row.join_candidates };
    // Flagged deleted (a delete message, or a full run that did not see it) and imported again: it came back.
    return [{ ...entry, isNew: row.new, join, ...(row.deleted ? { revived: true } : {}) }];
  });
}

/**
 * Writes the new and changed objects, each with its join state (the one the Inbound stage decided, else
 * the one it had), in one statement.
 */
async function writeObjects(
  tx: EntityManager,
  changed: ChangedImport[],
  decided: Map<string, JoinState>,
): Promise<void> {
  if (changed.length === 0) return;
  const document = JSON.stringify(
    changed.map(({ object, contentHash, join }) => {
      const { state, identityId, candidates } = decided.get(objectKey(object)) ?? join;
      return {
        tenant_id: object.tenantId,
        application_id: object.applicationId,
        external_id: object.externalId,
        object_class: object.objectClass,
        attributes: object.attributes ?? {},
        content_hash: contentHash,
        run_id: object.runId ?? null,
        join_state: state,
        identity_id: identityId,
        join_candidates: candidates,
      };
    }),
  );
  await sql`
    insert into repository_object (tenant_id, application_id, external_id, object_class, attributes, content_hash,
      deleted, last_run_id, join_state, identity_id, join_candidates, created_at, updated_at)
    select tenant_id, application_id, external_id, object_class, attributes, content_hash,
      false, run_id, join_state, identity_id, join_candidates, now(), now()
    from jsonb_to_recordset(${document}::jsonb) as u(tenant_id uuid, application_id uuid, external_id text,
      object_class text, attributes jsonb, content_hash text, run_id uuid, join_state text, identity_id uuid,
      join_candidates jsonb)
    on conflict (tenant_id, application_id, external_id) do update set
      object_class = excluded.object_class, attributes = excluded.attributes, content_hash = excluded.content_hash,
      deleted = false, last_run_id = coalesce(excluded.last_run_id, repository_object.last_run_id),
      join_state = excluded.join_state, identity_id = excluded.identity_id,
      join_candidates = excluded.join_candidates, updated_at = now()`.execute(tx.getKysely());
}

async function recordMarkers(tx: EntityManager, markers: ImportRunMarker[]): Promise<void> {
  for (const marker of markers) {
    const status =
      marker.phase === 'started' ? 'running' : marker.phase === 'completed' ? 'completing' : 'aborted';
    await sql`
      insert into import_run (run_id, tenant_id, application_id, kind, status, object_count, seen, deletions, started_at, finished_at)
      values (${marker.runId}, ${marker.tenantId}, ${marker.applicationId}, ${marker.kind}, ${status},
        ${marker.objectCount ?? null}, 0, 0, ${marker.at}, ${marker.phase === 'aborted' ? marker.at : null})
      on conflict (run_id) do update set
        kind = excluded.kind,
        status = case when import_run.status in ('completed', 'aborted', 'held', 'discarded') then import_run.status
                      when import_run.status = 'requested' then excluded.status
                      when excluded.status = 'running' then import_run.status else excluded.status end,
        object_count = coalesce(excluded.object_count, import_run.object_count),
        -- A run made incomplete by a marker without its count completes after all when the marker is sent
        -- again with it (or is aborted): the reason goes with the status.
        reason = case when import_run.status = 'incomplete' and excluded.status in ('completing', 'aborted')
                      then null else import_run.reason end,
        finished_at = case when import_run.status in ('held', 'discarded') then import_run.finished_at
                           when import_run.status = 'incomplete' and excluded.status = 'completing' then null
                           else coalesce(excluded.finished_at, import_run.finished_at) end`.execute(
      tx.getKysely(),
    );
  }
}

/** A run's event, before what happened to it is said. */
function runEvent(run: { tenantId: string; applicationId: string; runId: string }, at: string) {
  return {
    tenantId: run.tenantId,
    at,
    category: 'import',
    stage: 'import' as const,
    runId: run.runId,
    applicationId: run.applicationId,
  };
}

/** A run that started, or was aborted by its source, as its marker says. */
function markerEvent(marker: ImportRunMarker): LogEvent {
  const run = runEvent(marker, marker.at);
  return marker.phase === 'started'
    ? { ...run, level: 'info', message: `${marker.kind} import run started` }
    : {
        ...run,
        level: 'warn',
        outcome: 'failed',
        message: `${marker.kind} import run aborted by its source`,
      };
}

/** Why a full run's completion marker without objectCount cannot complete its run. */
export const uncountedReason =
  'a completed full run must carry objectCount: its objects travel on other partitions than its marker, so ' +
  'without the count Joinery cannot know when they have all arrived; the run deletes nothing (send the ' +
  'completed marker again with objectCount to complete it)';

/**
 * Records the completion markers of full runs without their objectCount: each run becomes `incomplete`
 * with the reason, unless it already completed, was aborted, or waits for a count it has. Returns the runs
 * left incomplete.
 */
async function recordUncounted(
  tx: EntityManager,
  markers: ImportRunMarker[],
): Promise<{ tenantId: string; applicationId: string; runId: string }[]> {
  const incomplete: { tenantId: string; applicationId: string; runId: string }[] = [];
  for (const marker of markers) {
    const { rows } = await sql<{ status: string }>`
      insert into import_run (run_id, tenant_id, application_id, kind, status, reason, object_count, seen, deletions, started_at, finished_at)
      values (${marker.runId}, ${marker.tenantId}, ${marker.applicationId}, ${marker.kind}, 'incomplete',
        ${uncountedReason}, null, 0, 0, ${marker.at}, ${marker.at})
      on conflict (run_id) do update set
        kind = excluded.kind,
        status = case when import_run.status in ('completed', 'aborted', 'completing', 'held', 'discarded') then import_run.status
                      else excluded.status end,
        reason = case when import_run.status in ('completed', 'aborted', 'completing', 'held', 'discarded') then import_run.reason
                      else excluded.reason end,
        finished_at = case when import_run.status in ('completed', 'aborted', 'completing', 'held', 'discarded') then import_run.finished_at
                           else excluded.finished_at end
      returning status`.execute(tx.getKysely());
    if (rows[0]?.status === 'incomplete')
      incomplete.push({
        tenantId: marker.tenantId,
        applicationId: marker.applicationId,
        runId: marker.runId,
      });
  }
  return incomplete;
}

/** A run the deletion guard held, for the logs. */
export interface HeldRun {
  tenantId: string;
  applicationId: string;
  runId: string;
  deletions: number;
  reason: string;
}

/**
 * Completes a run whose marker and objects have all arrived (`seen` reached the marker's objectCount); a
 * full run then deletes what it did not see — unless the deletion guard (src/engine/deletion-guard.ts) finds
 * them too many for one of its object classes: the run is then `held` with its would-be deletions recorded
 * (import_run_held_deletion), deleting nothing, until an administrator releases it (the run is `completing`
 * again, `released`, and its marker sent again: this function then deletes exactly the recorded objects no
 * later run has seen) or discards it. A delta run deletes nothing, so one without a count completes at its
 * marker (its `seen` goes on counting objects that arrive later).
 */
async function finishRun(
  tx: EntityManager,
  runId: string,
  plans: PlanCache | undefined,
): Promise<{
  deleted: DeletedObject[];
  held?: HeldRun;
  completed?: {
    tenantId: string;
    applicationId: string;
    runId: string;
    kind: string | null;
    seen: number;
    at: string;
  };
}> {
  const k = tx.getKysely();
  const { rows: ready } = await sql<{
    tenant_id: string;
    application_id: string;
    kind: string;
    released: boolean;
  }>`
    select tenant_id, application_id, kind, released from import_run
    where run_id = ${runId} and status = 'completing'
      and (seen >= object_count or (object_count is null and kind = 'delta'))
    for update`.execute(k);
  const candidate = ready[0];
  if (candidate === undefined) return { deleted: [] };
  if (candidate.kind === 'full' && !candidate.released) {
    const { rows: counts } = await sql<{ object_class: string; deletions: string; objects: string }>`
      select object_class, count(*) filter (where last_run_id is distinct from ${runId}) as deletions,
        count(*) as objects
      from repository_object
      where tenant_id = ${candidate.tenant_id} and application_id = ${candidate.application_id} and not deleted
      group by object_class`.execute(k);
    const plan = await plans?.get(tx, candidate.tenant_id);
    const decision = decideDeletions(
      counts.map((row) => ({
        objectClass: row.object_class,
        deletions: Number(row.deletions),
        objects: Number(row.objects),
      })),
      deletionLimits(plan?.applications.get(candidate.application_id)?.plan.deletionGuard),
    );
    if (decision.hold) {
      const { rows: recorded } = await sql<{ external_id: string }>`
        insert into import_run_held_deletion (run_id, tenant_id, application_id, external_id, object_class, last_run_id)
        select ${runId}, tenant_id, application_id, external_id, object_class, last_run_id from repository_object
        where tenant_id = ${candidate.tenant_id} and application_id = ${candidate.application_id} and not deleted
          and last_run_id is distinct from ${runId}
        on conflict do nothing
        returning external_id`.execute(k);
      await sql`
        update import_run set status = 'held', reason = ${decision.reason}, finished_at = now(), deletions = 0
        where run_id = ${runId}`.execute(k);
      const wouldDelete = counts.reduce((sum, row) => sum + Number(row.deletions), 0);
      return {
        deleted: [],
        held: {
          tenantId: candidate.tenant_id,
          applicationId: candidate.application_id,
          runId,
          deletions: Math.max(wouldDelete, recorded.length),
          reason: decision.reason,
        },
      };
    }
  }
  const { rows } = await sql<{
    tenant_id: string;
    application_id: string;
    kind: string | null;
    seen: number;
    finished_at: Date;
  }>`
    update import_run set status = 'completed', finished_at = now()
    where run_id = ${runId}
    returning tenant_id, application_id, kind, seen, finished_at`.execute(k);
  const run = rows[0];
  const completed =
    run === undefined
      ? undefined
      : {
          tenantId: run.tenant_id,
          applicationId: run.application_id,
          runId,
          kind: run.kind,
          seen: run.seen,
          at: new Date(run.finished_at).toISOString(),
        };
  if (run?.kind !== 'full') return { deleted: [], ...(completed === undefined ? {} : { completed }) };
  // A released run deletes what it recorded, of which no later run has seen an object since; any other
  // full run deletes what it did not see.
  const { rows: deleted } = candidate.released
    ? await sql<{ external_id: string }>`
        update repository_object r set deleted = true, updated_at = now()
        from import_run_held_deletion h
        where h.run_id = ${runId} and r.tenant_id = h.tenant_id and r.application_id = h.application_id
          and r.external_id = h.external_id and not r.deleted
          and r.last_run_id is not distinct from h.last_run_id
        returning r.external_id`.execute(k)
    : await sql<{ external_id: string }>`
        update repository_object set deleted = true, updated_at = now()
        where tenant_id = ${run.tenant_id} and application_id = ${run.application_id} and not deleted
          and last_run_id is distinct from ${runId}
        returning external_id`.execute(k);
  if (candidate.released) await sql`delete from import_run_held_deletion where run_id = ${runId}`.execute(k);
  await sql`update import_run set deletions = ${deleted.length} where run_id = ${runId}`.execute(k);
  const at = new Date(run.finished_at).toISOString();
  return {
    ...(completed === undefined ? {} : { completed }),
    deleted: deleted.map((row) => ({
      tenantId: run.tenant_id,
      applicationId: run.application_id,
      externalId: row.external_id,
      at,
    })),
  };
}
