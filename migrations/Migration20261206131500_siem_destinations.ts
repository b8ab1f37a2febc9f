import { Migration } from '@mikro-orm/migrations';

// SIEM destinations per tenant (docs/siem.md) and each one's delivery position: the next logstream offset
// per partition that it has not yet acknowledged, with what went wrong last.
export class Migration20261206131500_siem_destinations extends Migration {
  override name = 'Migration20261206131500_siem_destinations';

  override up(): void | Promise<void> {
    this.addSql(`create table "siem_destination" (
      "id" uuid not null primary key,
      "tenant_id" uuid not null references "tenant" ("id") on delete cascade,
      "name" varchar(200) not null,
      "kind" varchar(16) not null,
      "format" varchar(16) not null,
      "settings" jsonb not null,
      "secret" text null,
      "enabled" boolean not null,
      "created_at" timestamptz not null,
      "updated_at" timestamptz not null,
      unique ("tenant_id", "name"));`);
    this.addSql(`create table "siem_delivery" (
      "destination_id" uuid not null references "siem_destination" ("id") on delete cascade,
      "partition" int not null,
      "next_offset" bigint not null,
      "delivered" bigint not null default 0,
      "last_delivered_at" timestamptz null,
      "last_event_at" timestamptz null,
      "failures" int not null default 0,
      "last_error" text null,
      "last_error_at" timestamptz null,
      primary key ("destination_id", "partition"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "siem_delivery";`);
    this.addSql(`drop table if exists "siem_destination";`);
  }
}
