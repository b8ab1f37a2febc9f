import { Migration } from '@mikro-orm/migrations';

// When an identity's value of an attribute the joining rules compare last changed (the engine writes it at
// most every few seconds): the disconnector sweep re-feeds the tenant's disconnectors after such a change,
// as it does after new identities (src/engine/rejoin.ts).

export class Migration20261203170500_tenant_join_keys_changed extends Migration {
  override name = 'Migration20261203170500_tenant_join_keys_changed';

  override up(): void | Promise<void> {
    this.addSql(`alter table "tenant" add column "join_keys_changed_at" timestamptz null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "tenant" drop column "join_keys_changed_at";`);
  }
}
