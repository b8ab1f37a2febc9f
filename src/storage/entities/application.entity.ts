// An application connected to a tenant's Vault: an HR system, a directory, a SaaS app or a database.
import { defineEntity, p } from '@mikro-orm/core';
import { Tenant } from './tenant.entity.ts';
import { tenantFilter } from './tenant-filter.ts';

export const applicationTypes = ['ldap', 'active-directory', 'csv', 'scim', 'sql'] as const;
/** Safe go-live: nothing leaves in sandbox; approval holds changes for sign-off; live exports. */
export const applicationModes = ['sandbox', 'approval', 'live'] as const;
/** Who serves the application when not Joinery's own connector for its type: a connector outside, over Kafka. */
export const applicationConnectors = ['external'] as const;

const ApplicationSchema = defineEntity({
  name: 'Application',
  properties: {
    id: p.uuid().primary(),
    tenant: () => p.manyToOne(Tenant).deleteRule('cascade'),
    name: p.string().length(200),
    type: p.enum(applicationTypes),
    mode: p.enum(applicationModes).default('sandbox'),
    /** The plan's `connector` (external), null for Joinery's own connector of the type. */
    connector: p.enum(applicationConnectors).nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
  uniques: [{ properties: ['tenant', 'name'] }],
  filters: tenantFilter,
});

export class Application extends ApplicationSchema.class {}
ApplicationSchema.setClass(Application);
export { ApplicationSchema };
