// The Outbound stage, inside the identity actors' transaction: every identity whose events produced an
// outbound effect is compared, for every target application of the plan, with what Joinery last exported
// there; the differences are queued for export in the same transaction as the new snapshot (so a crash
// loses or doubles nothing). Set-based: per batch one query for the joined objects, one for the target
// state, then one upsert and one insert. Which applications an identity belongs in is decided first by
// its classification (a set lookup), then by the application's outbound filter.
import type { EntityManager } from '@mikro-orm/postgresql';
import { ExpressionBudgetError } from '../../kernel/errors.ts';
import { sql } from 'kysely';
import type { Attributes } from '../../kernel/contracts/identity-events.ts';
import type { OutboundHook, OutboundSubject } from '../../streams/identity-host.ts';
import { logRow, maskedValues, type LogstreamTarget } from '../../streams/logstream.ts';
import { insertOutbox } from '../../streams/outbox.ts';
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import { v7 as uuidv7 } from 'uuid';
import { overBudgetAt } from '../plan/expression-budget.ts';
import { celValues, toAttributeValue } from './cel-values.ts';
import { enqueueExports, type NewExport } from './export-queue.ts';
import { decideOutbound, sameTarget } from './outbound.ts';
import { queuedStatus, readTargetStates, saveTargetStates, type KeyedTargetState } from './target-states.ts';
import type { PlanCache, PlanInForce } from './plan-cache.ts';
import { applicationMode, exportClassOf, type ApplicationPlan } from '../plan/plan.schema.ts';
import {
  DEFAULT_DELETION_LIMITS,
  deletionLimits,
  trippedLimit,
  type DeletionLimits,
} from './deletion-guard.ts';

export const DEFAULT_DELETION_THRESHOLD = 100;
const DAY_MS = 86_400_000;

export interface OutboundCounters {
  identities: number;
  exports: number;
  held: number;
}

interface Target {
  applicationId: string;
  index: number;
  plan: ApplicationPlan;
  objectClass: string;
}

/** The applications of a plan Joinery writes to: those with outbound mappers. */
function targetsOf(plan: PlanInForce): Target[] {
  return [...plan.applications].flatMap(([applicationId, { plan: application, index }]) => {
    if (application.outbound === undefined || application.outbound.length === 0) return [];
    const objectClass = exportClassOf(application) ?? 'user';
    return [{ applicationId, index, plan: application, objectClass }];
  });
}

export function createOutboundStage(options: {
  plans: PlanCache;
  now?: () => Date;
  /** Where the queued and held exports are told (the logstream); not told when absent. */
  logstream?: LogstreamTarget;
}): {
  decide: OutboundHook;
  counters: OutboundCounters;
} {
  const counters: OutboundCounters = { identities: 0, exports: 0, held: 0 };
  const decide: OutboundHook = async (tx, subjects) => {
    if (subjects.length === 0) return;
    const now = options.now?.() ?? new Date();
    const k = tx.getKysely();
    const ids = subjects.map((subject) => subject.identityId);
    const plans = new Map<string, PlanInForce | undefined>();
    for (const tenantId of new Set(subjects.map((subject) => subject.tenantId)))
      plans.set(tenantId, await options.plans.get(tx, tenantId));
    // The objects joined in target applications (the identity's sources there), read by primary key; an
    // identity joined in no target costs no query at all. The target is the first joined of the class Joinery
    // exports there (an identity may hold objects of other classes beside it, or several with multipleJoins).
    const targetClasses = new Map<string, string>();
    for (const plan of plans.values())
      if (plan !== undefined)
        for (const target of targetsOf(plan)) targetClasses.set(target.applicationId, target.objectClass);
    if (targetClasses.size === 0) return;
    const joinedSources: [string, { tenantId: string; applicationId: string; externalId: string }][] = [];
    for (const subject of subjects)
      for (const source of subject.sources)
        if (targetClasses.has(source.applicationId))
          joinedSources.push([
            `${subject.identityId}|${source.applicationId}`,
            { tenantId: subject.tenantId, ...source },
          ]);
    const joined = new Map<string, { externalId: string; attributes: Attributes }>();
    if (joinedSources.length > 0) {
      const { rows } = await sql<{
        i: string;
        object_class: string | null;
        attributes: Attributes | null;
        deleted: boolean | null;
      }>`
        select u.i, r.object_class, r.attributes, r.deleted
        from unnest(${joinedSources.map(([, s]) => s.tenantId)}::uuid[], ${joinedSources.map(([, s]) => s.applicationId)}::uuid[],
          ${joinedSources.map(([, s]) => s.externalId)}::text[]) with ordinality as u(tenant_id, application_id, external_id, i)
        left join repository_object r on r.tenant_id = u.tenant_id and r.application_id = u.application_id
          and r.external_id = u.external_id
        order by u.i`.execute(k);
      for (const row of rows) {
        const [key, source] = joinedSources[Number(row.i) - 1] ?? [];
        // A deleted object is joined no more; one not imported yet (just created by an export) still is.
        if (key === undefined || source === undefined || row.deleted === true) continue;
        // An object of another class (an admin account beside the user account) is never the target.
        if (row.object_class !== null && row.object_class !== targetClasses.get(source.applicationId))
          continue;
        if (!joined.has(key))
          joined.set(key, { externalId: source.externalId, attributes: row.attributes ?? {} });
      }
    }
    const previous = await readTargetStates(tx, ids, [...targetClasses.keys()]);

    const exports: NewExport[] = [];
    const thresholds = new Map<string, DeletionLimits>();
    const targets: KeyedTargetState[] = [];
    for (const identity of subjects) {
      const plan = plans.get(identity.tenantId);
      if (plan === undefined) continue;
      counters.identities++;
      const { attributes } = identity;
      let celIdentity: Record<string, unknown> | undefined;
      const cel = () => (celIdentity ??= celValues(plan.compiled.plan.vault.attributes, attributes));
      for (const target of targetsOf(plan)) {
        const key = `${identity.identityId}|${target.applicationId}`;
        thresholds.set(`${identity.tenantId}|${target.applicationId}`, exportLimits(target.plan));
        const join = joined.get(key);
        let inTarget: boolean;
        let desired: Attributes;
        try {
          inTarget = belongs(plan, target, identity, join !== undefined, cel);
          desired = mapOutbound(plan, target, cel);
        } catch (error) {
          // Over budget: the identity fails (its event is dead-lettered), never silently.
          throw (
            overBudgetAt(error, { tenantId: identity.tenantId, identityId: identity.identityId }) ?? error
          );
        }
        const decision = decideOutbound({
          identityState: identity.state,
          belongs: inTarget,
          desired,
          objectClass: target.objectClass,
          deprovision: target.plan.export?.deprovision ?? 'disable',
          joined: join,
          previous: previous.get(key),
          passwords: target.plan.export?.passwords === true ? identity.passwords : [],
          sandbox: applicationMode(target.plan) === 'sandbox',
        });
        if (decision.next !== undefined && !sameTarget(decision.next, previous.get(key)))
          targets.push({
            ...decision.next,
            tenantId: identity.tenantId,
            applicationId: target.applicationId,
            ownerId: identity.identityId,
          });
        for (const operation of decision.operations) {
          exports.push({
            exportId: uuidv7(),
            tenantId: identity.tenantId,
            applicationId: target.applicationId,
            identityId: identity.identityId,
            objectClass: target.objectClass,
            externalId: operation.externalId,
            operation: operation.operation,
            ...(operation.attributes === undefined ? {} : { attributes: operation.attributes }),
            ...(operation.secret === undefined ? {} : { secret: operation.secret }),
            ...(identity.runId === undefined ? {} : { runId: identity.runId }),
            ...queuedStatus(target.plan),
          });
        }
      }
    }
    await holdMassDeletions(tx, exports, now, thresholds);
    counters.held += exports.filter((item) => item.holdReason === 'mass-deletion').length;
    await saveTargetStates(tx, targets, now);
    counters.exports += await enqueueExports(tx, exports, now);
    const { logstream } = options;
    if (logstream !== undefined && exports.length > 0)
      await insertOutbox(
        tx,
        exports.map((item) =>
          logRow(
            logstream,
            `export/${item.exportId ?? ''}/queued`,
            queuedEvent(item, now, plans.get(item.tenantId)?.sensitiveAttributes),
          ),
        ),
      );
  };
  return { decide, counters };
}

/** The logstream event of an operation the Outbound stage queued, held or decided in sandbox (pure). */
export function queuedEvent(item: NewExport, at: Date, sensitive?: ReadonlySet<string>): LogEvent {
  const what = `${item.operation} of ${item.externalId ?? `a new ${item.objectClass}`}`;
  const base = {
    tenantId: item.tenantId,
    at: at.toISOString(),
    category: 'export',
    stage: 'outbound' as const,
    identityId: item.identityId,
    ...(item.runId === undefined ? {} : { runId: item.runId }),
    applicationId: item.applicationId,
    objectClass: item.objectClass,
    ...(item.externalId === null ? {} : { externalId: item.externalId }),
    ...(item.attributes === undefined ? {} : { changes: maskedValues(item.attributes, sensitive) }),
  };
  const exportId = item.exportId ?? '';
  if (item.status === 'held')
    return {
      ...base,
      level: 'warn',
      outcome: 'held',
      message: `${what} held (export ${exportId})`,
      decidedBy:
        item.holdReason === 'mass-deletion'
          ? { kind: 'guard', name: 'mass-deletion' }
          : { kind: 'plan', name: 'mode: approval' },
      reason: item.holdReason ?? 'approval',
    };
  if (item.status === 'sandbox')
    return {
      ...base,
      level: 'info',
      outcome: 'skipped',
      message: `${what} decided in sandbox, not sent (export ${exportId})`,
      decidedBy: { kind: 'plan', name: 'mode: sandbox' },
    };
  return { ...base, level: 'info', outcome: 'succeeded', message: `${what} queued (export ${exportId})` };
}

/** Classification first (the fast path), then the filter; an application without classifications keeps its joined objects. */
function belongs(
  plan: PlanInForce,
  target: Target,
  identity: OutboundSubject,
  isJoined: boolean,
  cel: () => Record<string, unknown>,
): boolean {
  const classes = target.plan.classifications;
  if (
    classes === undefined
      ? !isJoined
      : identity.classification === undefined || !classes.includes(identity.classification)
  )
    return false;
  const filter = plan.compiled.expressions.get(`applications[${String(target.index)}].filters.outbound`);
  if (filter === undefined) return true;
  try {
    return filter({ identity: cel() }) === true;
  } catch (error) {
    if (error instanceof ExpressionBudgetError) throw error;
    // An attribute the filter reads is missing on this identity: the filter does not hold.
    return false;
  }
}

/** The object the application should hold: every outbound mapper's value, null when the Vault has none. */
function mapOutbound(plan: PlanInForce, target: Target, cel: () => Record<string, unknown>): Attributes {
  const desired: Attributes = {};
  target.plan.outbound?.forEach((mapper, index) => {
    if (mapper.from !== undefined) {
      const value = cel()[mapper.from];
      desired[mapper.target] = value === undefined ? null : toAttributeValue(value);
      return;
    }
    const expression = plan.compiled.expressions.get(
      `applications[${String(target.index)}].outbound[${String(index)}].expression`,
    );
    try {
      desired[mapper.target] =
        expression === undefined ? null : toAttributeValue(expression({ identity: cel() }));
    } catch (error) {
      if (error instanceof ExpressionBudgetError) throw error;
      // An attribute the expression needs is missing: the target attribute has no value.
      desired[mapper.target] = null;
    }
  });
  return desired;
}

/** The export guard's limits: the application's deletionThreshold (default 100) and its guard's percentage. */
function exportLimits(application: ApplicationPlan): DeletionLimits {
  return {
    maxCount: application.export?.deletionThreshold ?? DEFAULT_DELETION_THRESHOLD,
    maxPercent: deletionLimits(application.deletionGuard).maxPercent,
  };
}

/** What the export guard counts: operations that take an object away from its owner. */
const removals = new Set<string>(['delete', 'disable']);

/**
 * Mass-deletion protection: when an application's deletes and disables (deprovisioning) in the last 24
 * hours (queued or done) and this batch's would pass its limits — more than its count, or more than its
 * percentage of the objects it holds where it holds more than 100 (src/engine/deletion-guard.ts) — this
 * batch's deletes and disables are held for an administrator.
 */
async function holdMassDeletions(
  tx: EntityManager,
  exports: NewExport[],
  now: Date,
  thresholds: Map<string, DeletionLimits>,
): Promise<void> {
  const perApplication = Map.groupBy(
    exports.filter((item) => removals.has(item.operation) && item.status !== 'sandbox'),
    (item) => `${item.tenantId}|${item.applicationId}`,
  );
  // Sorted, so two batches lock the applications they share in the same order (no deadlock).
  for (const [key, deletions] of [...perApplication].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const [tenantId = '', applicationId = ''] = key.split('|');
    // Batches of other partitions count the same deletions: one at a time per application, until commit.
    await sql`select pg_advisory_xact_lock(hashtext(${key}))`.execute(tx.getKysely());
    const { rows } = await sql<{ recent: string; objects: string }>`
      select
        (select count(*) from export_item
         where tenant_id = ${tenantId} and application_id = ${applicationId} and operation in ('delete', 'disable')
           and created_at > ${new Date(now.getTime() - DAY_MS)} and status <> 'sandbox') as recent,
        (select count(*) from repository_object
         where tenant_id = ${tenantId} and application_id = ${applicationId} and not deleted) as objects`.execute(
      tx.getKysely(),
    );
    const limits = thresholds.get(key) ?? {
      maxCount: DEFAULT_DELETION_THRESHOLD,
      maxPercent: DEFAULT_DELETION_LIMITS.maxPercent,
    };
    const tripped = trippedLimit(
      {
        objectClass: 'all',
        deletions: Number(rows[0]?.recent ?? 0) + deletions.length,
        objects: Number(rows[0]?.objects ?? 0),
      },
      limits,
    );
    if (tripped === undefined) continue;
    for (const item of deletions) {
      item.status = 'held';
      item.holdReason = 'mass-deletion';
    }
  }
}
