// Applying a sync plan: validated first (an invalid plan changes nothing: the version in force stays),
// then kept as a new version with who applied it and the diff from the previous one. Applying the same
// text again creates no version. Concurrent applies for one tenant are serialized on the tenant's row. What
// tells of a new version (the API's logstream event) is written in its transaction: it exists iff it did.
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import { syncPlanSchedules } from '../engine/orchestrator.ts';
import { applyJoinKeys, holdJoinKeys } from '../engine/join-keys.ts';
import { planChangesIdentities, requestReconciliation } from '../engine/plan-reconciliation.ts';
import { NotFoundError } from '../../kernel/errors.ts';
import { insertOutbox, type OutboxRow } from '../../streams/outbox.ts';
import { PlanVersion } from '../storage/entities/plan-version.entity.ts';
import { Tenant } from '../storage/entities/tenant.entity.ts';
import { Application } from '../storage/entities/application.entity.ts';
import { applicationMode, type SyncPlan } from './plan.schema.ts';
import { loadPlan } from './load-plan.ts';
import type { PluginSet } from './plugins.ts';
import type { PlanChecker } from './plan-check-pool.ts';
import { planDiff } from './plan-diff.ts';

export interface PlanVersionSummary {
  version: number;
  appliedBy: string;
  appliedAt: string;
}

export interface AppliedPlan extends PlanVersionSummary {
  /** False when the text was the version already in force. */
  changed: boolean;
  diff: string;
  /** The plan's applications and their ids (connectors and agents send these ids with their objects). */
  applications: { name: string; id: string }[];
  /**
   * True when this version changes how identities are classified, which rules run or what goes out to the
   * targets: the identities already in the Vault are looked at again (src/engine/plan-reconciliation.ts).
   */
  reconciles: boolean;
}

/** Checks and diffs on the caller's thread (the CLI, tests). */
const localChecker = (plugins: PluginSet | undefined): PlanChecker => ({
  check: (source, sourceName) => Promise.resolve(loadPlan(source, sourceName, plugins).plan),
  diff: (previous, next) => Promise.resolve(planDiff(previous, next)),
});

/**
 * A fork of em scoped to one tenant: the tenant filter applies to every query on it. It stays in em's
 * transaction (the API request's, under row-level security; its own transaction is then a savepoint), so an
 * apply holds one connection, not two.
 */
function scoped(em: EntityManager, tenantId: string): EntityManager {
  const fork = em.fork({ keepTransactionContext: true });
  fork.setFilterParams('tenant', { tenantId });
  return fork;
}

const summary = (row: Pick<PlanVersion, 'version' | 'appliedBy' | 'appliedAt'>): PlanVersionSummary => ({
  version: row.version,
  appliedBy: row.appliedBy,
  appliedAt: row.appliedAt.toISOString(),
});

export async function applyPlan(
  em: EntityManager,
  options: {
    tenantId: string;
    source: string;
    sourceName: string;
    appliedBy: string;
    plugins?: PluginSet;
    /** Validates and diffs the text: the API's worker threads (plan-check-pool.ts); default this thread. */
    checker?: PlanChecker;
    /** The messages that tell of a new version (none when unchanged), written in the version's transaction. */
    tell?: (version: number) => OutboxRow[];
  },
): Promise<AppliedPlan> {
  const checker = options.checker ?? localChecker(options.plugins);
  const compiled = { plan: await checker.check(options.source, options.sourceName) };
  // The diff from the version in force is computed before any lock is taken (it may wait for a check
  // worker); inside, it is computed again only if another apply got in between.
  const diffFrom = async (latest: Pick<PlanVersion, 'version' | 'source'> | null) =>
    latest === null
      ? ''
      : checker.diff(
          { name: `version ${String(latest.version)}`, text: latest.source },
          { name: `version ${String(latest.version + 1)}`, text: options.source },
        );
  const before = await scoped(em, options.tenantId).findOne(
    PlanVersion,
    { tenant: options.tenantId },
    { orderBy: { version: 'desc' }, fields: ['version', 'source'] },
  );
  const early =
    before === null || before.source === options.source
      ? undefined
      : { version: before.version, diff: await diffFrom(before) };
  return scoped(em, options.tenantId).transactional(async (tx) => {
    // First, before the tenant's row: its identity batches hold the join keys, then may note on that row.
    await holdJoinKeys(tx, options.tenantId);
    await tx.findOneOrFail(Tenant, { id: options.tenantId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    const latest = await tx.findOne(
      PlanVersion,
      { tenant: options.tenantId },
      { orderBy: { version: 'desc' } },
    );
    if (latest !== null && latest.source === options.source) {
      return {
        ...summary(latest),
        changed: false,
        diff: '',
        applications: await syncApplications(tx, options.tenantId, compiled.plan),
        reconciles: false,
      };
    }
    const version = (latest?.version ?? 0) + 1;
    const diff =
      latest !== null && early !== undefined && early.version === latest.version
        ? early.diff
        : await diffFrom(latest);
    const row = tx.create(PlanVersion, {
      tenant: options.tenantId,
      version,
      source: options.source,
      document: compiled.plan,
      diff,
      appliedBy: options.appliedBy,
      appliedAt: new Date(),
    });
    const applications = await syncApplications(tx, options.tenantId, compiled.plan);
    await tx.flush();
    await applyJoinKeys(tx, options.tenantId, latest?.document as SyncPlan | undefined, compiled.plan);
    await syncPlanSchedules(
      tx,
      options.tenantId,
      compiled.plan,
      new Map(applications.map((application) => [application.name, application.id])),
      new Date(),
    );
    // The stored document was validated when it was applied.
    const reconciles = planChangesIdentities(latest?.document as SyncPlan | undefined, compiled.plan);
    if (reconciles) await requestReconciliation(tx, options.tenantId, version);
    if (options.tell !== undefined) await insertOutbox(tx, options.tell(version));
    return { ...summary(row), changed: true, diff, applications, reconciles };
  });
}

/**
 * The plan's applications as application records (created by name, type, mode and connector kept up to date). An
 * application the plan no longer names is kept: its repository and joins outlive a plan edit.
 */
async function syncApplications(
  tx: EntityManager,
  tenantId: string,
  plan: SyncPlan,
): Promise<{ name: string; id: string }[]> {
  const existing = new Map(
    (
      await tx.find(Application, { tenant: tenantId, name: { $in: plan.applications.map((a) => a.name) } })
    ).map((a) => [a.name, a]),
  );
  const result = plan.applications.map((planned) => {
    let application = existing.get(planned.name);
    if (application === undefined) {
      application = tx.create(Application, {
        id: randomUUID(),
        tenant: tenantId,
        name: planned.name,
        type: planned.type,
        mode: applicationMode(planned),
        connector: planned.connector ?? null,
      });
    } else {
      application.type = planned.type;
      // The engine queues by the plan's mode, sandbox when it names none: the record says the same.
      application.mode = applicationMode(planned);
      application.connector = planned.connector ?? null;
    }
    return { name: planned.name, id: application.id };
  });
  await tx.flush();
  return result;
}

/** The versions of a tenant's plan, newest first. */
export async function listPlanVersions(em: EntityManager, tenantId: string): Promise<PlanVersionSummary[]> {
  const rows = await scoped(em, tenantId).find(
    PlanVersion,
    { tenant: tenantId },
    { orderBy: { version: 'desc' }, fields: ['version', 'appliedBy', 'appliedAt'] },
  );
  return rows.map(summary);
}

/** One version (the one in force when no number is given), with its source, document and diff. */
export async function getPlanVersion(
  em: EntityManager,
  tenantId: string,
  version?: number,
): Promise<PlanVersionSummary & { source: string; document: Record<string, unknown>; diff: string }> {
  const row = await scoped(em, tenantId).findOne(
    PlanVersion,
    { tenant: tenantId, ...(version === undefined ? {} : { version }) },
    { orderBy: { version: 'desc' } },
  );
  if (row === null) {
    throw new NotFoundError(
      version === undefined ? 'no sync plan has been applied yet' : `no plan version ${String(version)}`,
    );
  }
  return { ...summary(row), source: row.source, document: row.document, diff: row.diff };
}
