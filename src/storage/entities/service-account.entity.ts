// A tenant's API service account. Only a hash of its secret is stored; the key is shown once at creation
// (and at each rotation).
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
    /** What the key may do (src/tenancy/scopes.ts); keys made before scopes existed are `admin`. */
    scopes: p.array(),
    /**
     * The secret a rotation replaced, still accepted until previousSecretExpiresAt so callers can move to
     * the new key without a gap.
     */
    previousSecretHash: p.string().length(64).nullable().hidden(),
    previousSecretExpiresAt: p.datetime().nullable(),
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
