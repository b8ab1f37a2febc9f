// The sync plan in force for each tenant, compiled once per version, with the tenant's application ids:
// the stages ask for it per batch and get the compiled plan back unless a new version was applied.
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { checkPlan, type CompiledPlan } from '../plan/check-plan.ts';
import type { ApplicationPlan, SyncPlan } from '../plan/plan.schema.ts';
import { noPlugins, type PluginSet } from '../plan/plugins.ts';
import { joinAttributes } from './join-keys.ts';

export interface PlanInForce {
  version: number;
  compiled: CompiledPlan;
  /** The plan's applications by application id, with their index in the plan (for expression paths). */
  applications: Map<string, { plan: ApplicationPlan; index: number }>;
  /**
   * Per application id, a digest of what turns its objects into Vault attributes (inbound mappers,
   * lifecycle, import and inbound filters, whether it creates identities); empty when it has none. It is
   * part of each object's content hash, so after a change the next full import takes every object
   * through Inbound again instead of stopping it at the hash.
   */
  inboundDigests: Map<string, string>;
  /** The Vault attributes the plan's joining rules compare (a change of one may let a disconnector join). */
  joinAttributes: readonly string[];
  /** The Vault attributes the plan marks sensitive: their values are masked in the logstream. */
  sensitiveAttributes: ReadonlySet<string>;
  /**
   * Per application id, the attributes its plan marks sensitive, by object class: the Import stage seals
   * them (src/secrets/sensitive-values.ts). Applications without any are absent.
   */
  sensitive: Map<string, Map<string, ReadonlySet<string>>>;
}

/** An application's sensitive attributes by object class; undefined when it has none. */
function sensitiveApplicationAttributes(plan: ApplicationPlan): Map<string, ReadonlySet<string>> | undefined {
  const classes = new Map<string, ReadonlySet<string>>();
  for (const [className, objectClass] of Object.entries(plan.objectClasses)) {
    const names = Object.entries(objectClass.attributes)
      .filter(([, spec]) => spec.sensitive === true)
      .map(([name]) => name);
    if (names.length > 0) classes.set(className, new Set(names));
  }
  return classes.size === 0 ? undefined : classes;
}

function inboundDigest(application: ApplicationPlan): string {
  const parts = {
    inbound: application.inbound ?? [],
    lifecycle: application.lifecycle ?? null,
    filters: { import: application.filters?.import ?? null, inbound: application.filters?.inbound ?? null },
    createsIdentities: application.createsIdentities ?? false,
  };
  const empty =
    parts.inbound.length === 0 &&
    parts.lifecycle === null &&
    parts.filters.import === null &&
    parts.filters.inbound === null &&
    !parts.createsIdentities;
  // The stored document comes from jsonb: its keys are in one order for one content.
  return empty ? '' : createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

/** `plugins` must be the set the plans were applied with (the process's plugins.dir). */
export function createPlanCache(plugins: PluginSet = noPlugins) {
  const cache = new Map<string, PlanInForce>();
  // Within one transaction (one batch) the plan in force is asked for by several steps (inbound, rules,
  // classification): it is looked up once per tenant.
  const perTransaction = new WeakMap<EntityManager, Map<string, Promise<PlanInForce | undefined>>>();

  const load = async (tx: EntityManager, tenantId: string): Promise<PlanInForce | undefined> => {
    const k = tx.getKysely();
    const { rows } = await sql<{ version: number | null }>`
        select max(version) as version from plan_version where tenant_id = ${tenantId}`.execute(k);
    const version = rows[0]?.version ?? null;
    if (version === null) return undefined;
    const cached = cache.get(tenantId);
    if (cached?.version === version) return cached;
    const { rows: documents } = await sql<{ document: SyncPlan }>`
        select document from plan_version where tenant_id = ${tenantId} and version = ${version}`.execute(k);
    const document = documents[0]?.document;
    if (document === undefined) return undefined;
    // Validated when applied (a stored plan always compiles); limits added since apply to new plans only,
    // every evaluation runs under the expression budget.
    const { compiled } = checkPlan(document, plugins, { staticLimits: false });
    if (compiled === undefined) return undefined;
    const { rows: ids } = await sql<{ id: string; name: string }>`
        select id, name from application where tenant_id = ${tenantId}`.execute(k);
    const byName = new Map(ids.map((row) => [row.name, row.id]));
    const applications = new Map<string, { plan: ApplicationPlan; index: number }>();
    const inboundDigests = new Map<string, string>();
    const sensitive = new Map<string, Map<string, ReadonlySet<string>>>();
    document.applications.forEach((plan, index) => {
      const id = byName.get(plan.name);
      if (id === undefined) return;
      applications.set(id, { plan, index });
      inboundDigests.set(id, inboundDigest(plan));
      const classes = sensitiveApplicationAttributes(plan);
      if (classes !== undefined) sensitive.set(id, classes);
    });
    const entry: PlanInForce = {
      version,
      compiled,
      applications,
      inboundDigests,
      joinAttributes: joinAttributes(document),
      sensitive,
      sensitiveAttributes: new Set(
        Object.entries(document.vault.attributes).flatMap(([name, spec]) =>
          spec.sensitive === true ? [name] : [],
        ),
      ),
    };
    cache.set(tenantId, entry);
    return entry;
  };

  return {
    /** The plan in force for a tenant, or undefined when none was applied. */
    get(tx: EntityManager, tenantId: string): Promise<PlanInForce | undefined> {
      let known = perTransaction.get(tx);
      if (known === undefined) {
        known = new Map();
        perTransaction.set(tx, known);
      }
      let plan = known.get(tenantId);
      if (plan === undefined) {
        plan = load(tx, tenantId);
        known.set(tenantId, plan);
      }
      return plan;
    },
  };
}

export type PlanCache = ReturnType<typeof createPlanCache>;

/** The Vault attributes each tenant's joining rules compare, for the identity host (streams/identity-host.ts). */
export function createJoinKeyLookup(plans: PlanCache) {
  return async (tx: EntityManager, tenantIds: string[]): Promise<(tenantId: string) => readonly string[]> => {
    const keys = new Map<string, readonly string[]>();
    for (const tenantId of tenantIds)
      keys.set(tenantId, (await plans.get(tx, tenantId))?.joinAttributes ?? []);
    return (tenantId) => keys.get(tenantId) ?? [];
  };
}

const noneSensitive: ReadonlySet<string> = new Set();

/** The Vault attributes each tenant's plan marks sensitive, for the identity host's logstream events. */
export function createSensitiveLookup(plans: PlanCache) {
  return async (
    tx: EntityManager,
    tenantIds: string[],
  ): Promise<(tenantId: string) => ReadonlySet<string>> => {
    const sensitive = new Map<string, ReadonlySet<string>>();
    for (const tenantId of tenantIds)
      sensitive.set(tenantId, (await plans.get(tx, tenantId))?.sensitiveAttributes ?? noneSensitive);
    return (tenantId) => sensitive.get(tenantId) ?? noneSensitive;
  };
}
