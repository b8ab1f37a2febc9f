import { Migration } from '@mikro-orm/migrations';

// Each tenant's data keys: they encrypt the attribute values a plan marks sensitive (src/secrets/). Stored
// wrapped by the master key; a new version is added by a data key rotation, the older ones still open what
// they sealed.
export class Migration20261206130000_tenant_data_keys extends Migration {
  override name = 'Migration20261206130000_tenant_data_keys';

  override up(): void | Promise<void> {
    this.addSql(`create table "tenant_data_key" (
      "tenant_id" uuid not null references "tenant" ("id") on delete cascade,
      "version" integer not null check ("version" > 0),
      "wrapped_key" text not null,
      "created_at" timestamptz not null default now(),
      primary key ("tenant_id", "version"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "tenant_data_key";`);
  }
}
