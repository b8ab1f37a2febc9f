import { Migration } from '@mikro-orm/migrations';

// Service account scopes (read, write, approve, admin) and key rotation with an overlap. Keys that exist
// before scopes become `admin`, so nothing that worked stops working.
export class Migration20261206120000_service_account_scopes extends Migration {
  override name = 'Migration20261206120000_service_account_scopes';

  override up(): void | Promise<void> {
    this.addSql(`alter table "service_account" add column "scopes" text[] not null default '{admin}';`);
    this.addSql(`alter table "service_account" alter column "scopes" drop default;`);
    this.addSql(
      `alter table "service_account" add column "previous_secret_hash" varchar(64) null, add column "previous_secret_expires_at" timestamptz null;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(
      `alter table "service_account" drop column "scopes", drop column "previous_secret_hash", drop column "previous_secret_expires_at";`,
    );
  }
}
