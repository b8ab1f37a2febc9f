// A tenant's identities looked at again after a plan version that changes what they are classified as,
// which rules run or what goes out to the targets: one row per tenant, for the newest such version, with
// how far the reconciliation has come (identities, then Vault groups, each in primary-key order).
import { defineEntity, p } from '@mikro-orm/core';
import { Tenant } from './tenant.entity.ts';
import { tenantFilter } from './tenant-filter.ts';

const PlanReconciliationSchema = defineEntity({
  name: 'PlanReconciliation',
  tableName: 'plan_reconciliation',
  properties: {
    tenant: () => p.manyToOne(Tenant).primary().deleteRule('cascade'),
    /** The plan version the identities are looked at with; a newer one starts over. */
    planVersion: p.integer(),
    /** The last identity sent (identities go in id order); null before the first. */
    afterIdentityId: p.uuid().nullable(),
    /** How many identities have been sent so far. */
    identities: p.bigint('number').default(0),
    /** Every identity has been sent; the Vault groups are decided next. */
    identitiesDone: p.boolean().default(false),
    /** The last Vault group decided again (groups go in id order); null before the first. */
    afterGroupId: p.uuid().nullable(),
    /** How many Vault groups have been decided again so far. */
    groups: p.bigint('number').default(0),
    requestedAt: p.datetime(),
    /** Identities created later were created with this plan version already: they are left out. */
    createdBefore: p.datetime(),
    /** Null while identities or groups remain. */
    completedAt: p.datetime().nullable(),
  },
  filters: tenantFilter,
});

export class PlanReconciliation extends PlanReconciliationSchema.class {}
PlanReconciliationSchema.setClass(PlanReconciliation);
export { PlanReconciliationSchema };
