import { Migration } from '@mikro-orm/migrations';

// The audit history: every logstream event, persisted by the audit consumer (src/audit/). Partitioned by day
// on `at`, so retention drops whole days; the service creates the partitions ahead of time
// (src/audit/audit-partitions.ts). The CloudEvents id makes a redelivered event a no-op (the primary key
// holds `at`, the partition key, which a redelivery carries unchanged). Each index answers one filter of
// GET /v1/audit newest first; the partial ones cost nothing for events without that field.
export class Migration20261206130000_audit_history extends Migration {
  override name = 'Migration20261206130000_audit_history';

  override up(): void | Promise<void> {
    this.addSql(`
      create table "audit_event" (
        "tenant_id" uuid not null,
        "at" timestamptz not null,
        "event_id" text not null,
        "stage" text null,
        "outcome" text null,
        "level" text not null,
        "category" text not null,
        "run_id" uuid null,
        "identity_id" uuid null,
        "group_id" uuid null,
        "application_id" uuid null,
        "external_id" text null,
        "actor_id" text null,
        "event" jsonb not null,
        primary key ("tenant_id", "at", "event_id")
      ) partition by range ("at");`);
    this.addSql(
      `create index "audit_event_identity_index" on "audit_event" ("tenant_id", "identity_id", "at", "event_id") where "identity_id" is not null;`,
    );
    this.addSql(
      `create index "audit_event_group_index" on "audit_event" ("tenant_id", "group_id", "at", "event_id") where "group_id" is not null;`,
    );
    this.addSql(
      `create index "audit_event_object_index" on "audit_event" ("tenant_id", "application_id", "external_id", "at", "event_id") where "external_id" is not null;`,
    );
    this.addSql(
      `create index "audit_event_run_index" on "audit_event" ("tenant_id", "run_id", "at", "event_id") where "run_id" is not null;`,
    );
    this.addSql(
      `create index "audit_event_actor_index" on "audit_event" ("tenant_id", "actor_id", "at", "event_id") where "actor_id" is not null;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "audit_event" cascade;`);
  }
}
