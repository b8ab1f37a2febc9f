// The Application Repository: Joinery's copy of every application object (one row per object, with its
// attributes and a content hash, so an unchanged object stops at the hash compare), and the import runs
// that read them (a completed full run detects deletions; an aborted one never does).
import { defineEntity, p } from '@mikro-orm/core';
import { Tenant } from './tenant.entity.ts';
import { tenantFilter } from './tenant-filter.ts';

const RepositoryObjectSchema = defineEntity({
  name: 'RepositoryObject',
  tableName: 'repository_object',
  properties: {
    tenant: () => p.manyToOne(Tenant).primary().createForeignKeyConstraint(false), // see tenant.entity.ts
    applicationId: p.uuid().primary(),
    externalId: p.string().length(1024).primary(),
    objectClass: p.string().length(128),
    attributes: p.json<Record<string, unknown>>(),
    /** SHA-256 of the object class and the attributes in canonical form. */
    contentHash: p.string().length(64),
    deleted: p.boolean().default(false),
    /**
     * joined (to identityId), unjoined (a disconnector: no rule matched and the application does not
     * create identities), or ambiguous (several identities matched: held for an administrator).
     */
    joinState: p.string().length(16).nullable(),
    identityId: p.uuid().nullable(),
    /** The identities an ambiguous join matched, and the rule that matched them. */
    joinCandidates: p.json<{ rule: string; identityIds: string[] }>().nullable(),
    /** The last import run that saw it: a completed full run deletes what it did not see. */
    lastRunId: p.uuid().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
  indexes: [
    // Group members named by DN are resolved against the `dn` of their application's objects (partial:
    // only objects that carry one, e.g. directory entries).
    {
      name: 'repository_object_dn_index',
      expression:
        'create index "repository_object_dn_index" on "repository_object" ("tenant_id", "application_id", lower("attributes"->>\'dn\')) where "attributes" ? \'dn\'',
    },
  ],
  filters: tenantFilter,
});
export class RepositoryObject extends RepositoryObjectSchema.class {}
RepositoryObjectSchema.setClass(RepositoryObject);

const ImportRunSchema = defineEntity({
  name: 'ImportRun',
  tableName: 'import_run',
  properties: {
    runId: p.uuid().primary(),
    tenant: () => p.manyToOne(Tenant).deleteRule('cascade'),
    applicationId: p.uuid(),
    /** full or delta; unknown until the run's "started" or "completed" marker arrives. */
    kind: p.string().length(8).nullable(),
    /**
     * running → completing (marker seen, objects still arriving) → completed; or aborted; or incomplete (it
     * cannot complete: `reason` says why); or held by the deletion guard (`reason` says why) until an
     * administrator releases it (completing again, then completed) or discards it (discarded).
     */
    status: p.string().length(16),
    /** Why the run is incomplete (e.g. a full run's completion marker without its objectCount). */
    reason: p.text().nullable(),
    /** Objects the connector sent, from the "completed" marker. */
    objectCount: p.integer().nullable(),
    seen: p.integer(),
    deletions: p.integer(),
    /** An administrator released the held run: its completion applies its deletions without the guard. */
    released: p.boolean().default(false),
    startedAt: p.datetime(),
    finishedAt: p.datetime().nullable(),
  },
  filters: tenantFilter,
});
export class ImportRun extends ImportRunSchema.class {}
ImportRunSchema.setClass(ImportRun);
