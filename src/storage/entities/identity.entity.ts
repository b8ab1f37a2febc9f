// A Vault identity as its actor left it: the persisted XState snapshot, its lifecycle state for queries,
// and a version that makes concurrent writers (a pulse and a bulk batch in two processes) detect each other.
import { defineEntity, p } from '@mikro-orm/core';
import { Tenant } from './tenant.entity.ts';
import { tenantFilter } from './tenant-filter.ts';

const IdentitySchema = defineEntity({
  name: 'Identity',
  tableName: 'identity',
  properties: {
    id: p.uuid().primary(),
    tenant: () => p.manyToOne(Tenant).createForeignKeyConstraint(false), // see tenant.entity.ts
    /** Incremented by every committed batch that changed the snapshot. */
    version: p.integer(),
    state: p.string().length(16),
    snapshot: p.json<Record<string, unknown>>(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
  // The disconnector sweep asks each tenant for its newest identity (see src/engine/rejoin.ts).
  indexes: [{ properties: ['tenant', 'createdAt'] }],
  filters: tenantFilter,
});

export class Identity extends IdentitySchema.class {}
IdentitySchema.setClass(Identity);
export { IdentitySchema };
