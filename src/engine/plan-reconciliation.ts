// Plan reconciliation: a new plan version that changes how identities are classified, which rules run
// or what goes out to the targets (a new target application, an outbound mapper, filter or classification
// list, an application leaving sandbox) applies to the identities already in the Vault, not only to those
// that change next. Applying such a version requests a pass over the tenant's identities; the orchestrator
// then sends each living identity a `plan.applied` event on its own topic, in batches, through the
// transactional outbox (the batch and the progress commit together, so a crash neither skips nor repeats
// a batch). The identity actor takes it in order with its other events: it is classified and its rules run
// again, and Outbound compares every target with the new plan — only real differences are exported. Then
// the tenant's Vault groups are decided again in every target that receives groups (src/engine/group-reconciliation.ts),
// in batches in the orchestrator's own transactions (groups have no actors).
//
// What inbound mappers and joining rules decide is not redone here: they belong to application objects.
// An application's inbound configuration is part of its objects' content hash (plan-cache.ts), so its next
// full import takes every object through Inbound again; joining rules apply to new and changed objects.
import { isDeepStrictEqual } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import type { LogstreamTarget } from '../../streams/logstream.ts';
import { insertOutbox, outboxMessage, type OutboxRow } from '../../streams/outbox.ts';
import { applicationMode, type SyncPlan } from '../plan/plan.schema.ts';
import { reconcileGroups } from './group-reconciliation.ts';
import type { PlanCache } from './plan-cache.ts';

/** Identities sent per transaction. */
const BATCH_SIZE = 2_000;
/** Vault groups decided per transaction (each with its members and their objects in the targets). */
const GROUP_BATCH_SIZE = 200;
/** Batches per orchestrator tick (the default 5 s tick: up to 20,000 identities). */
const BATCHES_PER_TICK = 10;

/**
 * The parts of a plan that decide an existing identity's classification, rules and targets, as plain JSON
 * (a stored plan comes back from jsonb with its keys in another order, and without undefined members).
 */
function identityFacingParts(plan: SyncPlan): unknown {
  return JSON.parse(
    JSON.stringify({
      vault: plan.vault,
      classifications: plan.classifications ?? [],
      rules: plan.rules ?? [],
      applications: plan.applications
        .map((application) => ({
          name: application.name,
          outbound: application.outbound ?? [],
          outboundFilter: application.filters?.outbound ?? null,
          classifications: application.classifications ?? null,
          export: decidingExportSettings(application.export),
          // Leaving sandbox: what the report showed must now really be exported (see outbound.ts).
          sandbox: applicationMode(application) === 'sandbox',
        }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    }),
  );
}

/** The export settings that decide what an identity gets: not the external connector's lease. */
function decidingExportSettings(settings: SyncPlan['applications'][number]['export']): unknown {
  if (settings === undefined) return null;
  const deciding: Record<string, unknown> = { ...settings };
  delete deciding.leaseSeconds;
  return Object.keys(deciding).length === 0 ? null : deciding;
}

/** Whether moving from `previous` to `next` can change what an identity already in the Vault is or gets. */
export function planChangesIdentities(previous: SyncPlan | undefined, next: SyncPlan): boolean {
  if (previous === undefined) return true;
  return !isDeepStrictEqual(identityFacingParts(previous), identityFacingParts(next));
}

/**
 * An identity batch that read the previous plan started before the applying transaction commits, and its
 * identities carry its start time as created_at: those created up to the request, and this margin for the
 * commit itself, are looked at; later ones were created with the new plan.
 */
const COMMIT_MARGIN = '1 second';

/**
 * Asks for the tenant's identities to be looked at with `planVersion`, as the last step of the transaction
 * that applies it. A pass still running for an older version starts over: the newer version is what counts.
 */
export async function requestReconciliation(
  tx: EntityManager,
  tenantId: string,
  planVersion: number,
): Promise<void> {
  await sql`
    insert into plan_reconciliation (tenant_id, plan_version, after_identity_id, identities, identities_done,
      after_group_id, groups, requested_at, created_before, completed_at)
    values (${tenantId}, ${planVersion}, null, 0, false, null, 0, now(),
      clock_timestamp() + ${COMMIT_MARGIN}::interval, null)
    on conflict (tenant_id) do update set plan_version = excluded.plan_version, after_identity_id = null,
      identities = 0, identities_done = false, after_group_id = null, groups = 0,
      requested_at = excluded.requested_at, created_before = excluded.created_before,
      completed_at = null`.execute(tx.getKysely());
}

export interface ReconciliationStatus {
  planVersion: number;
  /** Identities sent the plan so far. */
  identities: number;
  /** Vault groups decided again so far (after every identity was sent). */
  groups: number;
  requestedAt: string;
  /** Null while identities or groups remain. */
  completedAt: string | null;
}

/** The tenant's latest reconciliation, or undefined when none was ever requested. */
export async function reconciliationStatus(
  em: EntityManager,
  tenantId: string,
): Promise<ReconciliationStatus | undefined> {
  const { rows } = await sql<{
    plan_version: number;
    identities: string;
    groups: string;
    requested_at: Date;
    completed_at: Date | null;
  }>`
    select plan_version, identities, groups, requested_at, completed_at from plan_reconciliation
    where tenant_id = ${tenantId}`.execute(em.getKysely());
  const row = rows[0];
  if (row === undefined) return undefined;
  return {
    planVersion: row.plan_version,
    identities: Number(row.identities),
    groups: Number(row.groups),
    requestedAt: new Date(row.requested_at).toISOString(),
    completedAt: row.completed_at === null ? null : new Date(row.completed_at).toISOString(),
  };
}

export interface ReconciliationTarget {
  /** The identity topic the `plan.applied` events are written to. */
  identityTopic: string;
  /** ce_source of the events, e.g. /joinery/engine/<group>/reconcile. */
  source: string;
  /** Where the Vault groups' exports it queues are told; not told when absent. */
  logstream?: LogstreamTarget;
}

function planAppliedRow(
  target: ReconciliationTarget,
  tenantId: string,
  identityId: string,
  planVersion: number,
  at: string,
): OutboxRow {
  const data: MessageData<'joinery.identity.event.v1'> = {
    tenantId,
    identityId,
    event: { type: 'plan.applied', at, version: planVersion },
  };
  return outboxMessage(target.identityTopic, {
    // The same identity and version always have the same id: a consumer can tell a repeat.
    id: `plan/${String(planVersion)}/${identityId}`,
    type: 'joinery.identity.event.v1',
    source: target.source,
    time: at,
    tenantId,
    data,
  });
}

interface BatchOutcome {
  tenantId: string;
  planVersion: number;
  /** Identities sent, or groups decided, by this batch. */
  sent: number;
  identities: number;
  groups: number;
  done: boolean;
}

/**
 * Does the next batch of one pending reconciliation (its row locked, so two engine processes never do the
 * same batch): identities first, then Vault groups. Returns what it did, or undefined when none is waiting.
 */
async function reconcileBatch(
  em: EntityManager,
  deps: ReconciliationTarget & { plans: PlanCache; logger: Logger },
  sizes: { identities: number; groups: number },
  now: () => Date,
): Promise<BatchOutcome | undefined> {
  return em.fork().transactional(async (tx) => {
    const k = tx.getKysely();
    const { rows: pending } = await sql<{
      tenant_id: string;
      plan_version: number;
      after_identity_id: string | null;
      identities: string;
      identities_done: boolean;
      after_group_id: string | null;
      groups: string;
      created_before: Date;
    }>`
      select tenant_id, plan_version, after_identity_id, identities, identities_done, after_group_id, groups,
        created_before
      from plan_reconciliation
      where completed_at is null order by requested_at limit 1 for update skip locked`.execute(k);
    const job = pending[0];
    if (job === undefined) return undefined;
    const at = now();
    const outcome = { tenantId: job.tenant_id, planVersion: job.plan_version };

    if (!job.identities_done) {
      // Primary-key order: a keyset that new identities (looked at by the new plan anyway) do not disturb.
      const { rows: identities } = await sql<{ id: string }>`
        select id from identity
        where tenant_id = ${job.tenant_id} and state <> 'deleted' and created_at <= ${job.created_before}
          and (${job.after_identity_id}::uuid is null or id > ${job.after_identity_id}::uuid)
        order by id limit ${sizes.identities}`.execute(k);
      await insertOutbox(
        tx,
        identities.map((row) =>
          planAppliedRow(deps, job.tenant_id, row.id, job.plan_version, at.toISOString()),
        ),
      );
      const total = Number(job.identities) + identities.length;
      await sql`
        update plan_reconciliation set after_identity_id = ${identities.at(-1)?.id ?? job.after_identity_id},
          identities = ${total}, identities_done = ${identities.length < sizes.identities}
        where tenant_id = ${job.tenant_id}`.execute(k);
      return { ...outcome, sent: identities.length, identities: total, groups: 0, done: false };
    }

    const { groupIds, failures } = await reconcileGroups(tx, deps.plans, {
      tenantId: job.tenant_id,
      afterGroupId: job.after_group_id,
      limit: sizes.groups,
      now: at,
      ...(deps.logstream === undefined ? {} : { logstream: deps.logstream }),
    });
    const done = groupIds.length < sizes.groups;
    const groups = Number(job.groups) + groupIds.length;
    await sql`
      update plan_reconciliation set after_group_id = ${groupIds.at(-1) ?? job.after_group_id},
        groups = ${groups}, completed_at = ${done ? at : null}
      where tenant_id = ${job.tenant_id}`.execute(k);
    for (const failure of failures)
      deps.logger.warn(
        { err: failure, ...failure.details },
        `group not reconciled in a target: ${failure.message}`,
      );
    return { ...outcome, sent: groupIds.length, identities: Number(job.identities), groups, done };
  });
}

/** The reconciliation the orchestrator runs on every tick: up to `batchesPerTick` batches. */
export function createPlanReconciliation(
  deps: ReconciliationTarget & {
    em: EntityManager;
    logger: Logger;
    /** The plans in force: the Vault groups are decided with them. */
    plans: PlanCache;
    now?: () => Date;
    batchSize?: number;
    groupBatchSize?: number;
    batchesPerTick?: number;
  },
): { tick(): Promise<number> } {
  const now = deps.now ?? (() => new Date());
  const sizes = { identities: deps.batchSize ?? BATCH_SIZE, groups: deps.groupBatchSize ?? GROUP_BATCH_SIZE };
  const batchesPerTick = deps.batchesPerTick ?? BATCHES_PER_TICK;
  return {
    /** Returns how many identities were sent and groups decided. */
    async tick() {
      let sent = 0;
      for (let batch = 0; batch < batchesPerTick; batch++) {
        const result = await reconcileBatch(deps.em, deps, sizes, now);
        if (result === undefined) break;
        sent += result.sent;
        const { tenantId, planVersion, identities, groups } = result;
        if (result.done)
          deps.logger.info(
            { tenantId, planVersion, identities, groups },
            'plan reconciled with every identity and group',
          );
        else deps.logger.debug({ tenantId, planVersion, identities, groups }, 'plan reconciliation progress');
      }
      return sent;
    },
  };
}
