// A tenant's API service account. Only a hash of its secret is stored; the key is shown once at creation.
import { defineEntity, p } from '@mikro-orm/core';
import { Tenant } from './tenant.entity.ts';
import { tenantFilter } from './tenant-filter.ts';

const ServiceAccountSchema = defineEntity({
  name: 'ServiceAccount',
  properties: {
    id: p.uuid().primary(),
    tenant: () => p.manyToOne(Tenant).deleteRule('cascade'),
    name: p.string().length(200),
    /** SHA-256 of the key's secret part, hex. API keys are 256-bit random, so a fast hash is enough. */
    secretHash: p.string().length(64).hidden(),
    createdAt: p.datetime().onCreate(() => new Date()),
    lastUsedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
  },
  uniques: [{ properties: ['tenant', 'name'] }],
  filters: tenantFilter,
});

export class ServiceAccount extends ServiceAccountSchema.class {}
ServiceAccountSchema.setClass(ServiceAccount);
export { ServiceAccountSchema };
