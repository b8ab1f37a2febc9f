import { Migration } from '@mikro-orm/migrations';

export class Migration20261123024248_embedded_bus extends Migration {

  override name = 'Migration20261123024248_embedded_bus';

  override up(): void | Promise<void> {
    this.addSql(`create table "bus_group_offset" ("group_id" varchar(255) not null, "topic" varchar(255) not null, "partition" int not null, "next_offset" bigint not null, primary key ("group_id", "topic", "partition"));`);

    this.addSql(`create table "bus_member" ("group_id" varchar(255) not null, "member_id" varchar(64) not null, "topics" text[] not null, "session_timeout_ms" int not null, "heartbeat_at" timestamptz not null, primary key ("group_id", "member_id"));`);

    this.addSql(`create table "bus_message" ("topic" varchar(255) not null, "partition" int not null, "offset" bigint not null, "key" text null, "value" bytea null, "headers" jsonb not null, "created_at" timestamptz not null default now(), primary key ("topic", "partition", "offset"));`);
    this.addSql(`create index "bus_message_created_at_index" on "bus_message" ("created_at");`);

    this.addSql(`create table "bus_partition" ("topic" varchar(255) not null, "partition" int not null, "next_offset" bigint not null, primary key ("topic", "partition"));`);

    this.addSql(`create table "bus_topic" ("name" varchar(255) not null, "partitions" int not null, "retention_ms" bigint not null, "created_at" timestamptz not null, primary key ("name"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "bus_group_offset" cascade;`);
    this.addSql(`drop table if exists "bus_member" cascade;`);
    this.addSql(`drop table if exists "bus_message" cascade;`);
    this.addSql(`drop table if exists "bus_partition" cascade;`);
    this.addSql(`drop table if exists "bus_topic" cascade;`);
  }

}
