import { Migration } from '@mikro-orm/migrations';

// A plan version that changes classification, rules or outbound is reconciled with the tenant's identities:
// the progress of that pass, one row per tenant (src/engine/plan-reconciliation.ts).

export class Migration20261202152007_plan_reconciliation extends Migration {

  override name = 'Migration20261202152007_plan_reconciliation';

  override up(): void | Promise<void> {
    this.addSql(`create table "plan_reconciliation" ("tenant_id" uuid not null, "plan_version" int not null, "after_identity_id" uuid null, "identities" bigint not null default '0', "requested_at" timestamptz not null, "created_before" timestamptz not null, "completed_at" timestamptz null, primary key ("tenant_id"));`);

    this.addSql(`alter table "plan_reconciliation" add constraint "plan_reconciliation_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update cascade on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "plan_reconciliation" cascade;`);
  }

}
