import { Migration } from '@mikro-orm/migrations';

export class Migration20261123064128_outbound_export_schedules extends Migration {

  override name = 'Migration20261123064128_outbound_export_schedules';

  override up(): void | Promise<void> {
    this.addSql(`create table "schedule" ("id" uuid not null, "tenant_id" uuid not null, "application_id" uuid not null, "kind" varchar(16) not null, "every_minutes" int null, "cron" varchar(128) null, "origin" varchar(8) not null, "enabled" boolean not null, "next_run_at" timestamptz not null, "last_run_at" timestamptz null, "last_run_id" uuid null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "schedule_enabled_next_run_at_index" on "schedule" ("enabled", "next_run_at");`);

    this.addSql(`create table "outbound_object" ("tenant_id" uuid not null, "application_id" uuid not null, "identity_id" uuid not null, "object_class" varchar(128) not null, "external_id" varchar(1024) null, "desired" jsonb not null, "state" varchar(16) not null, "enabled" boolean not null, "updated_at" timestamptz not null, primary key ("tenant_id", "application_id", "identity_id"));`);

    this.addSql(`create table "export_item" ("export_id" uuid not null, "seq" bigserial, "tenant_id" uuid not null, "application_id" uuid not null, "identity_id" uuid not null, "object_class" varchar(128) not null, "external_id" varchar(1024) null, "operation" varchar(16) not null, "attributes" jsonb null, "members" jsonb null, "secret" jsonb null, "status" varchar(16) not null, "hold_reason" varchar(64) null, "attempts" int not null default 0, "next_attempt_at" timestamptz not null, "lease_until" timestamptz null, "last_error" jsonb null, "created_at" timestamptz not null, "completed_at" timestamptz null, primary key ("export_id"));`);
    this.addSql(`alter table "export_item" add constraint "export_item_seq_unique" unique ("seq");`);
    this.addSql(`create index "export_item_tenant_id_application_id_status_next_a_dc0ad_index" on "export_item" ("tenant_id", "application_id", "status", "next_attempt_at");`);
    this.addSql(`create index "export_item_identity_id_index" on "export_item" ("identity_id");`);

    this.addSql(`alter table "schedule" add constraint "schedule_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);

    this.addSql(`alter table "outbound_object" add constraint "outbound_object_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);

    this.addSql(`alter table "export_item" add constraint "export_item_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "schedule" cascade;`);
    this.addSql(`drop table if exists "outbound_object" cascade;`);
    this.addSql(`drop table if exists "export_item" cascade;`);
  }

}
