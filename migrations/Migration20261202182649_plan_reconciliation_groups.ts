import { Migration } from '@mikro-orm/migrations';

// A plan reconciliation also decides the tenant's Vault groups again, once its identities are sent: how far
// it has come with them (src/engine/plan-reconciliation.ts).

export class Migration20261202182649_plan_reconciliation_groups extends Migration {

  override name = 'Migration20261202182649_plan_reconciliation_groups';

  override up(): void | Promise<void> {
    this.addSql(`alter table "plan_reconciliation" add "identities_done" boolean not null default false, add "after_group_id" uuid null, add "groups" bigint not null default '0';`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "plan_reconciliation" drop column "identities_done", drop column "after_group_id", drop column "groups";`);
  }

}
