import { Migration } from '@mikro-orm/migrations';

export class Migration20261123070954_connectors extends Migration {

  override name = 'Migration20261123070954_connectors';

  override up(): void | Promise<void> {
    this.addSql(`create table "connector" ("id" uuid not null, "tenant_id" uuid not null, "name" varchar(200) not null, "application_ids" jsonb not null, "enrolment_state" text not null default 'awaiting-enrolment', "client_key_hash" varchar(64) not null, "client_key_used_at" timestamptz null, "agent_encryption_key" varchar(64) null, "agent_signing_key" varchar(64) null, "enrolled_at" timestamptz null, "revoked_at" timestamptz null, "last_connected_at" timestamptz null, "last_heartbeat_at" timestamptz null, "agent_version" varchar(64) null, "health" jsonb null, "queue_depth" int null, "last_produced_seq" bigint not null default '0', "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "connector" add constraint "connector_tenant_id_name_unique" unique ("tenant_id", "name");`);

    this.addSql(`create table "tenant_key" ("key_id" uuid not null, "tenant_id" uuid not null, "suite" varchar(128) not null, "public_key" varchar(64) not null, "sealed_private_key" text not null, "created_at" timestamptz not null, primary key ("key_id"));`);
    this.addSql(`alter table "tenant_key" add constraint "tenant_key_tenant_id_unique" unique ("tenant_id");`);

    this.addSql(`alter table "connector" add constraint "connector_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);
    this.addSql(`alter table "connector" add constraint "connector_enrolment_state_check" check ("enrolment_state" in ('awaiting-enrolment', 'enrolled'));`);

    this.addSql(`alter table "tenant_key" add constraint "tenant_key_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "connector" cascade;`);
    this.addSql(`drop table if exists "tenant_key" cascade;`);
  }

}
