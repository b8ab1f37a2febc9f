import { Migration } from '@mikro-orm/migrations';

export class Migration20261123031545_application_repository extends Migration {

  override name = 'Migration20261123031545_application_repository';

  override up(): void | Promise<void> {
    this.addSql(`create table "repository_object" ("tenant_id" uuid not null, "application_id" uuid not null, "external_id" varchar(1024) not null, "object_class" varchar(128) not null, "attributes" jsonb not null, "content_hash" varchar(64) not null, "deleted" boolean not null default false, "last_run_id" uuid null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("tenant_id", "application_id", "external_id"));`);

    this.addSql(`create table "import_run" ("run_id" uuid not null, "tenant_id" uuid not null, "application_id" uuid not null, "kind" varchar(8) null, "status" varchar(16) not null, "object_count" int null, "seen" int not null, "deletions" int not null, "started_at" timestamptz not null, "finished_at" timestamptz null, primary key ("run_id"));`);

    this.addSql(`alter table "repository_object" add constraint "repository_object_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);

    this.addSql(`alter table "import_run" add constraint "import_run_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "repository_object" cascade;`);
    this.addSql(`drop table if exists "import_run" cascade;`);
  }

}
