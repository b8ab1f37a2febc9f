// Plan reconciliation: a new plan version that changes how identities are classified, which rules run
// or what goes out to the targets (a new target application, an outbound mapper, filter or classification
// list, an application leaving sandbox) applies to the identities already in the Vault, not only to those
// that change next. Applying such a version requests a pass over the tenant's identities; the orchestrator
// then sends each living identity a `plan.applied` event on its own topic, in batches, through the
// transactional outbox (the batch and the progress commit together, so a crash neither skips nor repeats
// a batch). The identity actor takes it in order with its other events: it is classified and its rules run
// again, and Outbound compares every target with the new plan — only real differences are exported.
//
// What inbound mappers and joining rules decide is not redone here: they belong to application objects.
// An application's inbound configuration is part of its objects' content hash (plan-cache.ts), so its next
// full import takes every object through Inbound again; joining rules apply to new and changed objects.
import { isDeepStrictEqual } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { MessageData } from '../../streams/messages.ts';
import { insertOutbox, outboxMessage, type OutboxRow } from '../../streams/outbox.ts';
import { applicationMode, type SyncPlan } from '../plan/plan.schema.ts';

/** Identities sent per transaction. */
const BATCH_SIZE = 2_000;
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
          export: application.export ?? null,
          // Leaving sandbox: what the report showed must now really be exported (see outbound.ts).
          sandbox: applicationMode(application) === 'sandbox',
        }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    }),
  );
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
    insert into plan_reconciliation
      (tenant_id, plan_version, after_identity_id, identities, requested_at, created_before, completed_at)
    values (${tenantId}, ${planVersion}, null, 0, now(), clock_timestamp() + ${COMMIT_MARGIN}::interval, null)
    on conflict (tenant_id) do update set plan_version = excluded.plan_version, after_identity_id = null,
      identities = 0, requested_at = excluded.requested_at, created_before = excluded.created_before,
      completed_at = null`.execute(tx.getKysely());
}

export interface ReconciliationStatus {
  planVersion: number;
  /** Identities sent the plan so far. */
  identities: number;
  requestedAt: string;
  /** Null while identities remain. */
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
    requested_at: Date;
    completed_at: Date | null;
  }>`
    select plan_version, identities, requested_at, completed_at from plan_reconciliation
    where tenant_id = ${tenantId}`.execute(em.getKysely());
  const row = rows[0];
  if (row === undefined) return undefined;
  return {
    planVersion: row.plan_version,
    identities: Number(row.identities),
    requestedAt: new Date(row.requested_at).toISOString(),
    completedAt: row.completed_at === null ? null : new Date(row.completed_at).toISOString(),
  };
}

export interface ReconciliationTarget {
  /** The identity topic the `plan.applied` events are written to. */
  identityTopic: string;
  /** ce_source of the events, e.g. /joinery/engine/<group>/reconcile. */
  source: string;
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

/**
 * Sends the next batch of one pending reconciliation (its row locked, so two engine processes never send
 * the same batch); returns what it did, or undefined when no reconciliation is waiting.
 */
async function reconcileBatch(
  em: EntityManager,
  target: ReconciliationTarget,
  batchSize: number,
  now: () => Date,
): Promise<
  { tenantId: string; planVersion: number; sent: number; total: number; done: boolean } | undefined
> {
  return em.fork().transactional(async (tx) => {
    const k = tx.getKysely();
    const { rows: pending } = await sql<{
      tenant_id: string;
      plan_version: number;
      after_identity_id: string | null;
      identities: string;
      created_before: Date;
    }>`
      select tenant_id, plan_version, after_identity_id, identities, created_before from plan_reconciliation
      where completed_at is null order by requested_at limit 1 for update skip locked`.execute(k);
    const job = pending[0];
    if (job === undefined) return undefined;
    // Primary-key order: a keyset that new identities (looked at by the new plan anyway) do not disturb.
    const { rows: identities } = await sql<{ id: string }>`
      select id from identity
      where tenant_id = ${job.tenant_id} and state <> 'deleted' and created_at <= ${job.created_before}
        and (${job.after_identity_id}::uuid is null or id > ${job.after_identity_id}::uuid)
      order by id limit ${batchSize}`.execute(k);
    const at = now();
    await insertOutbox(
      tx,
      identities.map((row) =>
        planAppliedRow(target, job.tenant_id, row.id, job.plan_version, at.toISOString()),
      ),
    );
    const done = identities.length < batchSize;
    const total = Number(job.identities) + identities.length;
    await sql`
      update plan_reconciliation set after_identity_id = ${identities.at(-1)?.id ?? job.after_identity_id},
        identities = ${total}, completed_at = ${done ? at : null}
      where tenant_id = ${job.tenant_id}`.execute(k);
    return { tenantId: job.tenant_id, planVersion: job.plan_version, sent: identities.length, total, done };
  });
}

/** The reconciliation the orchestrator runs on every tick: up to `batchesPerTick` batches. */
export function createPlanReconciliation(
  deps: ReconciliationTarget & {
    em: EntityManager;
    logger: Logger;
    now?: () => Date;
    batchSize?: number;
    batchesPerTick?: number;
  },
): { tick(): Promise<number> } {
  const now = deps.now ?? (() => new Date());
  const batchSize = deps.batchSize ?? BATCH_SIZE;
  const batchesPerTick = deps.batchesPerTick ?? BATCHES_PER_TICK;
  return {
    async tick() {
      let sent = 0;
      for (let batch = 0; batch < batchesPerTick; batch++) {
        const result = await reconcileBatch(deps.em, deps, batchSize, now);
        if (result === undefined) break;
        sent += result.sent;
        const { tenantId, planVersion, total } = result;
        if (result.done)
          deps.logger.info(
            { tenantId, planVersion, identities: total },
            'plan reconciled with every identity',
          );
        else deps.logger.debug({ tenantId, planVersion, identities: total }, 'plan reconciliation progress');
      }
      return sent;
    },
  };
}
