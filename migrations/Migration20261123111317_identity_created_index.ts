import { Migration } from '@mikro-orm/migrations';

// The disconnector sweep finds each tenant's newest identity by this index (created_at never changes, so
// identity updates stay as cheap as before).
export class Migration20261123111317_identity_created_index extends Migration {

  override name = 'Migration20261123111317_identity_created_index';

  override up(): void | Promise<void> {
    this.addSql(`create index "identity_tenant_id_created_at_index" on "identity" ("tenant_id", "created_at");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "identity_tenant_id_created_at_index";`);
  }

}
