// The hard join: which application object belongs to which identity. Permanent: attribute changes never
// break it. Pulses that name only an application object find their identity here.
import { defineEntity, p } from '@mikro-orm/core';
import { Tenant } from './tenant.entity.ts';
import { tenantFilter } from './tenant-filter.ts';

const IdentitySourceSchema = defineEntity({
  name: 'IdentitySource',
  tableName: 'identity_source',
  properties: {
    tenant: () => p.manyToOne(Tenant).primary().createForeignKeyConstraint(false), // see tenant.entity.ts
    applicationId: p.uuid().primary(),
    externalId: p.string().length(1024).primary(),
    identityId: p.uuid(),
    /**
     * How the object came to be joined: projected, rule:<rule name> or manual:<service-account id>; null
     * for a hard join recorded otherwise (an export's new object, or before provenance was kept).
     */
    provenance: p.string().length(300).nullable(),
    /** When the hard join was made (a manual re-join moves it). */
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  // The Outbound stage reads an identity's joined objects by identity id.
  indexes: [{ properties: ['identityId'] }],
  filters: tenantFilter,
});

export class IdentitySource extends IdentitySourceSchema.class {}
IdentitySourceSchema.setClass(IdentitySource);
export { IdentitySourceSchema };
