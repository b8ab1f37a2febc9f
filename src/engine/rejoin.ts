// Looking at application objects again: an object is re-fed to the Import stage exactly as an import
// would send it (its content hash reset, so it is not skipped as unchanged), through the transactional
// outbox, and the normal joining path decides — the hard join, the joining rules in order, projection.
//
// Used for the disconnectors (unjoined, or held ambiguous or in conflict) once the identities they could match may have
// appeared — on a sweep when a tenant has new identities, or when an administrator asks — and for the
// objects still joined to an identity that lost one of its sources, so they supply their values again.
// Objects an administrator excluded are never re-fed: they stay unjoined until joined by hand.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Attributes } from '../../kernel/contracts/identity-events.ts';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { insertOutbox, outboxMessage, type OutboxRow } from '../../streams/outbox.ts';

/** Objects re-fed per statement. */
const BATCH_SIZE = 1_000;

interface RefedRow {
  application_id: string;
  external_id: string;
  object_class: string;
  attributes: Attributes;
}

export interface RefeedTarget {
  /** The `imports` topic the re-fed objects are written to. */
  importsTopic: string;
  /** ce_source of the re-fed messages, e.g. /joinery/api. */
  source: string;
}

/** The re-fed objects as import messages, one outbox row each. */
function importRows(target: RefeedTarget, tenantId: string, at: string, rows: RefedRow[]): OutboxRow[] {
  return rows.map((row) => {
    const data: MessageData<'joinery.import.object.v1'> = {
      tenantId,
      applicationId: row.application_id,
      objectClass: row.object_class,
      externalId: row.external_id,
      operation: 'upsert',
      attributes: row.attributes,
      observedAt: at,
      refeed: true,
    };
    return outboxMessage(target.importsTopic, {
      id: `refeed/${row.application_id}/${row.external_id}/${at}`,
      type: 'joinery.import.object.v1',
      source: target.source,
      time: at,
      tenantId,
      data,
    });
  });
}

/**
 * Re-feeds the disconnectors (unjoined, ambiguous and conflict objects, never the excluded or deleted ones) of some
 * of a tenant's applications, in batches: one statement picks a batch and resets its content hashes, one
 * writes its import messages to the outbox. An object already waiting to be looked at again (its hash
 * reset, its message on the way) is not queued twice, and one an import batch holds locked is skipped (it
 * is being looked at anyway). Returns how many were queued.
 */
export async function requeueDisconnectors(
  tx: EntityManager,
  options: RefeedTarget & { tenantId: string; applicationIds: string[]; at?: Date; batchSize?: number },
): Promise<number> {
  if (options.applicationIds.length === 0) return 0;
  const k = tx.getKysely();
  const at = (options.at ?? new Date()).toISOString();
  const batchSize = options.batchSize ?? BATCH_SIZE;
  let queued = 0;
  for (;;) {
    const { rows } = await sql<RefedRow>`
      update repository_object r set content_hash = ''
      from (
        select tenant_id, application_id, external_id from repository_object
        where tenant_id = ${options.tenantId} and application_id = any(${options.applicationIds}::uuid[])
          and join_state in ('unjoined', 'ambiguous', 'conflict') and not deleted
          and content_hash <> ''
        limit ${batchSize}
        for update skip locked) picked
      where r.tenant_id = picked.tenant_id and r.application_id = picked.application_id
        and r.external_id = picked.external_id
      returning r.application_id, r.external_id, r.object_class, r.attributes`.execute(k);
    if (rows.length === 0) return queued;
    await insertOutbox(tx, importRows(options, options.tenantId, at, rows));
    queued += rows.length;
  }
}

/**
 * Re-feeds the objects still joined to an identity that lost a source, so each supplies its attributes
 * again and the best remaining value (by authority) takes the place of the ones the identity forgot.
 */
export async function refeedRemainingSources(
  tx: EntityManager,
  options: RefeedTarget & {
    tenantId: string;
    identityId: string;
    /** The object that left (already detached: its hard join is gone or points elsewhere). */
    except: { applicationId: string; externalId: string };
    at?: Date;
  },
): Promise<number> {
  const at = (options.at ?? new Date()).toISOString();
  // identity_source is indexed by identity id; the repository object is then found by its primary key.
  const { rows } = await sql<RefedRow>`
    update repository_object r set content_hash = ''
    from identity_source s
    where s.tenant_id = ${options.tenantId} and s.identity_id = ${options.identityId}
      and not (s.application_id = ${options.except.applicationId} and s.external_id = ${options.except.externalId})
      and r.tenant_id = s.tenant_id and r.application_id = s.application_id and r.external_id = s.external_id
      and not r.deleted
    returning r.application_id, r.external_id, r.object_class, r.attributes`.execute(tx.getKysely());
  await insertOutbox(tx, importRows(options, options.tenantId, at, rows));
  return rows.length;
}

/**
 * The tenant's applications that have joining rules in the plan in force: only their objects can join.
 * With `rulesChangedSince`, only those whose rules differ from that plan version's (or that it lacks).
 */
async function joinableApplications(
  tx: EntityManager,
  tenantId: string,
  rulesChangedSince?: number,
): Promise<string[]> {
  const changed =
    rulesChangedSince === undefined
      ? sql``
      : sql`and (select earlier.application->'joining'
            from plan_version before
            cross join jsonb_array_elements(before.document->'applications') as earlier(application)
            where before.tenant_id = p.tenant_id and before.version = ${rulesChangedSince}
              and earlier.application->>'name' = planned.application->>'name')
          is distinct from planned.application->'joining'`;
  const { rows } = await sql<{ id: string }>`
    select a.id from plan_version p
    cross join jsonb_array_elements(p.document->'applications') as planned(application)
    join application a on a.tenant_id = p.tenant_id and a.name = planned.application->>'name'
    where p.tenant_id = ${tenantId}
      and p.version = (select max(version) from plan_version where tenant_id = ${tenantId})
      and jsonb_array_length(coalesce(planned.application->'joining', '[]'::jsonb)) > 0
      ${changed}`.execute(tx.getKysely());
  return rows.map((row) => row.id);
}

/**
 * A writer's transaction can commit after a sweep with a created_at older than what the sweep saw; an
 * identity created within this window of a sweep is looked at again by the next one.
 */
const COMMIT_GRACE_MS = 30_000;

/** Sweeps run on every `everyTicks`-th orchestrator tick (the default 5 s tick: every 2 minutes). */
const DEFAULT_EVERY_TICKS = 24;

/**
 * The disconnector sweep, run by the orchestrator. A disconnector can newly join when the Vault has new
 * identities, when an identity's value the rules compare changed, or when the rules changed, so for each
 * tenant:
 * - with identities created since its last sweep, or an identity whose value of an attribute the joining
 *   rules compare changed (`tenant.join_key_changes`, counted by the identity host), the disconnectors
 *   of every application that has joining rules are re-fed;
 * - with a plan version applied since its last sweep, those of the applications whose joining rules it
 *   changed (or added).
 * A tenant whose identities were only updated otherwise (a phone number, a title) is left alone: a
 * disconnector re-fed on every change would cost a busy tenant its disconnectors' imports every sweep.
 * Each tenant's newest identity and plan version are one index lookup each. The first sweep of a process
 * looks at every tenant.
 */
export function createRejoinSweep(
  deps: RefeedTarget & { em: EntityManager; logger: Logger; everyTicks?: number },
): { tick(): Promise<number> } {
  const sweptUntil = new Map<string, number>();
  const sweptPlan = new Map<string, number>();
  const sweptKeyChanges = new Map<string, number>();
  const everyTicks = deps.everyTicks ?? DEFAULT_EVERY_TICKS;
  let ticks = 0;
  return {
    async tick() {
      if (ticks++ % everyTicks !== 0) return 0;
      const { rows } = await sql<{
        tenant_id: string;
        created_at: Date | null;
        plan_version: number | null;
        join_key_changes: string;
        now: Date;
      }>`
        select t.id as tenant_id, now() as now, t.join_key_changes,
          (select max(i.created_at) from identity i where i.tenant_id = t.id) as created_at,
          (select max(p.version) from plan_version p where p.tenant_id = t.id) as plan_version
        from tenant t`.execute(deps.em.getKysely());
      let queued = 0;
      for (const row of rows) {
        const tenantId = row.tenant_id;
        const planVersion = row.plan_version ?? 0;
        const seenPlan = sweptPlan.get(tenantId);
        if (row.created_at === null) {
          sweptPlan.set(tenantId, planVersion);
          sweptKeyChanges.set(tenantId, Number(row.join_key_changes));
          continue;
        }
        const createdAt = new Date(row.created_at).getTime();
        const until = sweptUntil.get(tenantId);
        const newIdentities = until === undefined || createdAt > until;
        const keyChanges = Number(row.join_key_changes);
        const seenKeyChanges = sweptKeyChanges.get(tenantId);
        const newValues = seenKeyChanges !== undefined && keyChanges > seenKeyChanges;
        const newRules = seenPlan !== undefined && planVersion > seenPlan;
        if (!newIdentities && !newValues && !newRules) {
          sweptKeyChanges.set(tenantId, keyChanges);
          continue;
        }
        const everyApplication = newIdentities || newValues;
        const count = await deps.em.fork().transactional(async (tx) =>
          requeueDisconnectors(tx, {
            tenantId,
            applicationIds: await joinableApplications(tx, tenantId, everyApplication ? undefined : seenPlan),
            importsTopic: deps.importsTopic,
            source: deps.source,
          }),
        );
        // Only once re-fed: a sweep that fails leaves its marks where they were, and the next one retries.
        sweptPlan.set(tenantId, planVersion);
        sweptKeyChanges.set(tenantId, keyChanges);
        if (newIdentities)
          sweptUntil.set(tenantId, Math.min(createdAt, new Date(row.now).getTime() - COMMIT_GRACE_MS));
        if (count > 0)
          deps.logger.info(
            {
              tenantId,
              queued: count,
              reason: newIdentities
                ? 'new identities'
                : newValues
                  ? 'values the joining rules compare changed'
                  : 'joining rules changed',
            },
            'disconnectors re-fed for joining',
          );
        queued += count;
      }
      return queued;
    },
  };
}
