// A durable timer of an identity (e.g. its scheduled deletion). XState's own delays live in memory and a
// persisted snapshot does not keep them; these rows survive restarts and fire once through `schedules`.
import { defineEntity, p } from '@mikro-orm/core';
import { Tenant } from './tenant.entity.ts';
import { tenantFilter } from './tenant-filter.ts';

const IdentityTimerSchema = defineEntity({
  name: 'IdentityTimer',
  tableName: 'identity_timer',
  properties: {
    tenant: () => p.manyToOne(Tenant).primary().createForeignKeyConstraint(false), // see tenant.entity.ts
    identityId: p.uuid().primary(),
    timerId: p.string().length(256).primary(),
    kind: p.string().length(32),
    dueAt: p.datetime().index(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  filters: tenantFilter,
});

export class IdentityTimer extends IdentityTimerSchema.class {}
IdentityTimerSchema.setClass(IdentityTimer);
export { IdentityTimerSchema };
