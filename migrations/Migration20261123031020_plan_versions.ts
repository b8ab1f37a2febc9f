import { Migration } from '@mikro-orm/migrations';

export class Migration20261123031020_plan_versions extends Migration {

  override name = 'Migration20261123031020_plan_versions';

  override up(): void | Promise<void> {
    this.addSql(`create table "plan_version" ("tenant_id" uuid not null, "version" int not null, "source" text not null, "document" jsonb not null, "diff" text not null, "applied_by" varchar(200) not null, "applied_at" timestamptz not null, primary key ("tenant_id", "version"));`);

    this.addSql(`alter table "plan_version" add constraint "plan_version_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "plan_version" cascade;`);
  }

}
