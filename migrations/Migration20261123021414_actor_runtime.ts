import { Migration } from '@mikro-orm/migrations';

export class Migration20261123021414_actor_runtime extends Migration {

  override name = 'Migration20261123021414_actor_runtime';

  override up(): void | Promise<void> {
    this.addSql(`create table "outbox" ("id" bigserial primary key, "tenant_id" uuid null, "topic" varchar(255) not null, "key" text null, "value" bytea null, "headers" jsonb not null, "created_at" timestamptz not null default clock_timestamp());`);

    this.addSql(`create table "stream_offset" ("group_id" varchar(255) not null, "topic" varchar(255) not null, "partition" int not null, "next_offset" bigint not null, "updated_at" timestamptz not null, primary key ("group_id", "topic", "partition"));`);

    this.addSql(`create table "identity_timer" ("tenant_id" uuid not null, "identity_id" uuid not null, "timer_id" varchar(256) not null, "kind" varchar(32) not null, "due_at" timestamptz not null, "created_at" timestamptz not null, primary key ("tenant_id", "identity_id", "timer_id"));`);
    this.addSql(`create index "identity_timer_due_at_index" on "identity_timer" ("due_at");`);

    this.addSql(`create table "identity_source" ("tenant_id" uuid not null, "application_id" uuid not null, "external_id" varchar(1024) not null, "identity_id" uuid not null, "created_at" timestamptz not null, primary key ("tenant_id", "application_id", "external_id"));`);

    this.addSql(`create table "identity" ("id" uuid not null, "tenant_id" uuid not null, "version" int not null, "state" varchar(16) not null, "snapshot" jsonb not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);

    this.addSql(`alter table "identity_timer" add constraint "identity_timer_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);

    this.addSql(`alter table "identity_source" add constraint "identity_source_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);

    this.addSql(`alter table "identity" add constraint "identity_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "outbox" cascade;`);
    this.addSql(`drop table if exists "stream_offset" cascade;`);
    this.addSql(`drop table if exists "identity_timer" cascade;`);
    this.addSql(`drop table if exists "identity_source" cascade;`);
    this.addSql(`drop table if exists "identity" cascade;`);
  }

}
