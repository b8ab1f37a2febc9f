import { Migration } from '@mikro-orm/migrations';

// The Outbound stage reads each batch's joined objects and targets by identity id: without these indexes
// every batch scanned identity_source and outbound_object whole, a cost growing with the Vault.
export class Migration20261123105352_identity_lookups extends Migration {

  override name = 'Migration20261123105352_identity_lookups';

  override up(): void | Promise<void> {
    this.addSql(`create index "outbound_object_identity_id_index" on "outbound_object" ("identity_id");`);

    this.addSql(`create index "identity_source_identity_id_index" on "identity_source" ("identity_id");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "identity_source_identity_id_index";`);

    this.addSql(`drop index "outbound_object_identity_id_index";`);
  }

}
