import { Migration } from '@mikro-orm/migrations';

export class Migration20261123010518 extends Migration {

  override name = 'Migration20261123010518';

  override up(): void | Promise<void> {
    this.addSql(`create table "tenant" ("id" uuid not null, "name" varchar(200) not null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "tenant" add constraint "tenant_name_unique" unique ("name");`);

    this.addSql(`create table "service_account" ("id" uuid not null, "tenant_id" uuid not null, "name" varchar(200) not null, "secret_hash" varchar(64) not null, "created_at" timestamptz not null, "last_used_at" timestamptz null, "revoked_at" timestamptz null, primary key ("id"));`);
    this.addSql(`alter table "service_account" add constraint "service_account_tenant_id_name_unique" unique ("tenant_id", "name");`);

    this.addSql(`create table "application" ("id" uuid not null, "tenant_id" uuid not null, "name" varchar(200) not null, "type" text not null, "mode" text not null default 'sandbox', "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "application" add constraint "application_tenant_id_name_unique" unique ("tenant_id", "name");`);
    this.addSql(`alter table "application" add constraint "application_type_check" check ("type" in ('ldap', 'active-directory', 'csv', 'scim', 'sql'));`);
    this.addSql(`alter table "application" add constraint "application_mode_check" check ("mode" in ('sandbox', 'approval', 'live'));`);

    this.addSql(`alter table "service_account" add constraint "service_account_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);

    this.addSql(`alter table "application" add constraint "application_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);
  }

}
