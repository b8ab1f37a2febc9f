// Every sync plan a tenant applied, kept: the document as written, who applied it, when, and the diff
// from the version before. The highest version is the one in force.
import { defineEntity, p } from '@mikro-orm/core';
import { Tenant } from './tenant.entity.ts';
import { tenantFilter } from './tenant-filter.ts';

const PlanVersionSchema = defineEntity({
  name: 'PlanVersion',
  tableName: 'plan_version',
  properties: {
    tenant: () => p.manyToOne(Tenant).primary().deleteRule('cascade'),
    version: p.integer().primary(),
    /** The plan as its author wrote it (YAML or JSON), comments included. */
    source: p.text(),
    /** The validated plan. */
    document: p.json<Record<string, unknown>>(),
    /** Unified diff of the source from the previous version; empty for the first. */
    diff: p.text(),
    /** Who applied it: "service-account:<id>" or "cli". */
    appliedBy: p.string().length(200),
    appliedAt: p.datetime().onCreate(() => new Date()),
  },
  filters: tenantFilter,
});

export class PlanVersion extends PlanVersionSchema.class {}
PlanVersionSchema.setClass(PlanVersion);
export { PlanVersionSchema };
