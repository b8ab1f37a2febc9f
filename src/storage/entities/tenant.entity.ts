// A tenant: one customer organisation. Every other row belongs to exactly one tenant.
//
// The configuration tables reference it with a foreign key (deleted with it). The engine's bulk tables —
// identity, identity_source, identity_timer, repository_object, outbound_object, export_item — do not: a
// foreign key costs every inserted row a lookup and a share lock of the tenant row (about a fifth of such
// an insert, several million times in a million-record load), and the engine checks a message's tenant
// once per batch before writing anything (streams/known-tenants.ts). Deleting a tenant must therefore
// delete its rows of those tables explicitly.
import { defineEntity, p } from '@mikro-orm/core';

const TenantSchema = defineEntity({
  name: 'Tenant',
  properties: {
    id: p.uuid().primary(),
    name: p.string().length(200).unique(),
    createdAt: p.datetime().onCreate(() => new Date()),
    /** Batches that changed an identity's value of an attribute the joining rules compare (src/engine/rejoin.ts). */
    joinKeyChanges: p.bigint().default(0),
  },
});

export class Tenant extends TenantSchema.class {}
TenantSchema.setClass(Tenant);
export { TenantSchema };
