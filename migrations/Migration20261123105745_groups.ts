import { Migration } from '@mikro-orm/migrations';

// Vault groups and their members. Two expression indexes the entities cannot declare: member references
// are matched without case (DNs), and a group's member DNs are resolved against the `dn` attribute of
// the source application's objects (partial: only objects that carry a dn, e.g. directory entries).

export class Migration20261123105745_groups extends Migration {

  override name = 'Migration20261123105745_groups';

  override up(): void | Promise<void> {
    this.addSql(`create table "vault_group" ("id" uuid not null, "tenant_id" uuid not null, "application_id" uuid not null, "external_id" varchar(1024) not null, "object_class" varchar(128) not null, "name" varchar(1024) not null, "attributes" jsonb not null, "deleted" boolean not null default false, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "vault_group_tenant_id_name_index" on "vault_group" ("tenant_id", "name");`);
    this.addSql(`alter table "vault_group" add constraint "vault_group_tenant_id_application_id_external_id_unique" unique ("tenant_id", "application_id", "external_id");`);

    this.addSql(`create table "vault_group_member" ("group_id" uuid not null, "reference" varchar(2048) not null, "tenant_id" uuid not null, "application_id" uuid not null, "identity_id" uuid null, primary key ("group_id", "reference"));`);
    this.addSql(`create index "vault_group_member_identity_id_index" on "vault_group_member" ("identity_id");`);

    this.addSql(`create index "vault_group_member_reference_index" on "vault_group_member" ("tenant_id", "application_id", lower("reference"));`);
    this.addSql(`create index "repository_object_dn_index" on "repository_object" ("tenant_id", "application_id", lower("attributes"->>'dn')) where "attributes" ? 'dn';`);
    this.addSql(`alter table "vault_group_member" add constraint "vault_group_member_group_id_foreign" foreign key ("group_id") references "vault_group" ("id") on delete cascade;`);

    this.addSql(`alter table "vault_group" add constraint "vault_group_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);

    this.addSql(`alter table "vault_group_member" add constraint "vault_group_member_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index if exists "repository_object_dn_index";`);
    this.addSql(`drop table if exists "vault_group" cascade;`);
    this.addSql(`drop table if exists "vault_group_member" cascade;`);
  }

}
