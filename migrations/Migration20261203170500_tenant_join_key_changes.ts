import { Migration } from '@mikro-orm/migrations';

// How many batches changed an identity's value of an attribute the joining rules compare: the disconnector
// sweep re-feeds the tenant's disconnectors when it grew since its last look, as it does after new
// identities (src/engine/rejoin.ts). A counter, not a time: it only grows, whatever the clocks do.

export class Migration20261203170500_tenant_join_key_changes extends Migration {
  override name = 'Migration20261203170500_tenant_join_key_changes';

  override up(): void | Promise<void> {
    this.addSql(`alter table "tenant" add column "join_key_changes" bigint not null default 0;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "tenant" drop column "join_key_changes";`);
  }
}
