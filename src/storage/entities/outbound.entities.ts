// The Outbound and Export stages' state: per identity and target application, the object Joinery wants
// there (so only real differences are exported), and the export queue itself — one row per operation for
// an application's connector, delivered in order per object, retried with backoff, confirmed by the next
// import.
import { defineEntity, p } from '@mikro-orm/core';
import { Tenant } from './tenant.entity.ts';
import { tenantFilter } from './tenant-filter.ts';

const OutboundObjectSchema = defineEntity({
  name: 'OutboundObject',
  tableName: 'outbound_object',
  properties: {
    tenant: () => p.manyToOne(Tenant).primary().createForeignKeyConstraint(false), // see tenant.entity.ts
    applicationId: p.uuid().primary(),
    identityId: p.uuid().primary(),
    objectClass: p.string().length(128),
    /** The application object it is joined to, once known (joined at import, or created by an export). */
    externalId: p.string().length(1024).nullable(),
    /** The attributes last exported (the outbound mappers' result), to export only real differences. */
    desired: p.json<Record<string, unknown>>(),
    /** provisioned (the identity belongs there) or deprovisioned (it left, or no longer belongs). */
    state: p.string().length(16),
    enabled: p.boolean(),
    /** Decided in sandbox mode (only reported): once out of sandbox, it counts for nothing. */
    sandbox: p.boolean().default(false),
    updatedAt: p.datetime(),
  },
  // The Outbound stage reads a batch of identities' targets by identity id.
  indexes: [{ properties: ['identityId'] }],
  filters: tenantFilter,
});
export class OutboundObject extends OutboundObjectSchema.class {}
OutboundObjectSchema.setClass(OutboundObject);

const ExportItemSchema = defineEntity({
  name: 'ExportItem',
  tableName: 'export_item',
  properties: {
    exportId: p.uuid().primary(),
    /** Queue order: per application and identity, an operation is delivered only after the ones before it. */
    seq: p.bigint().autoincrement().unique(),
    tenant: () => p.manyToOne(Tenant).createForeignKeyConstraint(false), // see tenant.entity.ts
    applicationId: p.uuid(),
    identityId: p.uuid(),
    objectClass: p.string().length(128),
    externalId: p.string().length(1024).nullable(),
    operation: p.string().length(16),
    attributes: p.json<Record<string, unknown>>().nullable(),
    members: p.json<{ add: string[]; remove: string[] }>().nullable(),
    /** A sealed secret (password operations): ciphertext only, never clear text. */
    secret: p.json<{ keyId: string; ciphertext: string }>().nullable(),
    /**
     * sandbox (never leaves: a report of what would change), held (waits for approval, or stopped by the
     * mass-deletion threshold), pending, delivering (leased to a connector), succeeded, confirmed (seen
     * by the next import), failed (attempts exhausted or not retriable).
     */
    status: p.string().length(16),
    holdReason: p.string().length(64).nullable(),
    /** The import run that caused it (a run's export counts read it; partial index where set). */
    runId: p.uuid().nullable(),
    attempts: p.integer().default(0),
    nextAttemptAt: p.datetime(),
    leaseUntil: p.datetime().nullable(),
    lastError: p.json<{ code: string; message: string; retriable: boolean }>().nullable(),
    createdAt: p.datetime(),
    completedAt: p.datetime().nullable(),
  },
  indexes: [
    { properties: ['tenant', 'applicationId', 'status', 'nextAttemptAt'] },
    { properties: ['identityId'] },
  ],
  filters: tenantFilter,
});
export class ExportItem extends ExportItemSchema.class {}
ExportItemSchema.setClass(ExportItem);

const ScheduleSchema = defineEntity({
  name: 'Schedule',
  tableName: 'schedule',
  properties: {
    id: p.uuid().primary(),
    tenant: () => p.manyToOne(Tenant).deleteRule('cascade'),
    applicationId: p.uuid(),
    /** What runs: a full or a delta import of the application. */
    kind: p.string().length(16),
    /** Every so many minutes, or a cron expression (one of the two). */
    everyMinutes: p.integer().nullable(),
    cron: p.string().length(128).nullable(),
    /** plan (from the sync plan, replaced when a new version applies) or api. */
    origin: p.string().length(8),
    enabled: p.boolean(),
    nextRunAt: p.datetime(),
    lastRunAt: p.datetime().nullable(),
    lastRunId: p.uuid().nullable(),
    createdAt: p.datetime(),
  },
  indexes: [{ properties: ['enabled', 'nextRunAt'] }],
  filters: tenantFilter,
});
export class Schedule extends ScheduleSchema.class {}
ScheduleSchema.setClass(Schedule);
