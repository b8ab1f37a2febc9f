// Vault groups: a group object of an application (kind group in the sync plan) kept as a group, not an
// identity, with its members resolved to identities. The source application and external id are the
// group's hard join; a member reference (a DN or external id, as the source names it) stays unresolved
// until the object it names is joined to an identity.
import { defineEntity, p } from '@mikro-orm/core';
import { Tenant } from './tenant.entity.ts';
import { tenantFilter } from './tenant-filter.ts';

const VaultGroupSchema = defineEntity({
  name: 'VaultGroup',
  tableName: 'vault_group',
  properties: {
    /** uuid v5 of tenant, source application and external id: a replayed import finds the same group. */
    id: p.uuid().primary(),
    tenant: () => p.manyToOne(Tenant).deleteRule('cascade'),
    applicationId: p.uuid(),
    externalId: p.string().length(1024),
    objectClass: p.string().length(128),
    /** The group's name as its source states it (cn, name, displayName, else the external id). */
    name: p.string().length(1024),
    attributes: p.json<Record<string, unknown>>(),
    /** Deleted in its source application (its exported copies are deleted too). */
    deleted: p.boolean().default(false),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
  uniques: [{ properties: ['tenant', 'applicationId', 'externalId'] }],
  indexes: [{ properties: ['tenant', 'name'] }],
  filters: tenantFilter,
});
export class VaultGroup extends VaultGroupSchema.class {}
VaultGroupSchema.setClass(VaultGroup);

const VaultGroupMemberSchema = defineEntity({
  name: 'VaultGroupMember',
  tableName: 'vault_group_member',
  properties: {
    group: () => p.manyToOne(VaultGroup).primary().deleteRule('cascade'),
    /** The member as the source application names it (a DN or an external id). */
    reference: p.string().length(2048).primary(),
    tenant: () => p.manyToOne(Tenant).deleteRule('cascade'),
    /** The group's source application: a reference names an object of that application. */
    applicationId: p.uuid(),
    /** The identity the referenced object is joined to; null while it is not (yet) joined. */
    identityId: p.uuid().nullable(),
  },
  indexes: [
    { properties: ['identityId'] },
    // Member references are matched without case (DNs).
    {
      name: 'vault_group_member_reference_index',
      expression:
        'create index "vault_group_member_reference_index" on "vault_group_member" ("tenant_id", "application_id", lower("reference"))',
    },
  ],
  filters: tenantFilter,
});
export class VaultGroupMember extends VaultGroupMemberSchema.class {}
VaultGroupMemberSchema.setClass(VaultGroupMember);
