import { Migration } from '@mikro-orm/migrations';

// The engine's bulk tables lose their foreign key to tenant (see src/storage/entities/tenant.entity.ts):
// every inserted row paid for a lookup and a share lock of its tenant's row. The engine checks each
// message's tenant before it writes.

export class Migration20261203084112_bulk_tables_without_tenant_keys extends Migration {

  override name = 'Migration20261203084112_bulk_tables_without_tenant_keys';

  override up(): void | Promise<void> {
    this.addSql(`alter table "repository_object" drop constraint "repository_object_tenant_id_foreign";`);

    this.addSql(`alter table "outbound_object" drop constraint "outbound_object_tenant_id_foreign";`);

    this.addSql(`alter table "identity_timer" drop constraint "identity_timer_tenant_id_foreign";`);

    this.addSql(`alter table "identity_source" drop constraint "identity_source_tenant_id_foreign";`);

    this.addSql(`alter table "identity" drop constraint "identity_tenant_id_foreign";`);

    this.addSql(`alter table "export_item" drop constraint "export_item_tenant_id_foreign";`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "export_item" add constraint "export_item_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);

    this.addSql(`alter table "identity" add constraint "identity_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);

    this.addSql(`alter table "identity_source" add constraint "identity_source_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);

    this.addSql(`alter table "identity_timer" add constraint "identity_timer_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);

    this.addSql(`alter table "outbound_object" add constraint "outbound_object_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);

    this.addSql(`alter table "repository_object" add constraint "repository_object_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`);
  }

}
