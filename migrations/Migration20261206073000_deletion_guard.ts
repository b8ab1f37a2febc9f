import { Migration } from '@mikro-orm/migrations';

// The deletion guard (docs/configuration.md, "Deletion guard"): a full run whose deletions pass the
// application's limits stops as `held`, its would-be deletions recorded here (with the run each object was
// last seen by, so a release deletes only what no later run has seen), until an administrator releases or
// discards it. `released` tells the completing transaction to apply them without asking the guard again.
export class Migration20261206073000_deletion_guard extends Migration {
  override name = 'Migration20261206073000_deletion_guard';

  override up(): void | Promise<void> {
    this.addSql(`alter table "import_run" add column "released" boolean not null default false;`);
    this.addSql(`create table "import_run_held_deletion" (
      "run_id" uuid not null references "import_run" ("run_id") on delete cascade,
      "tenant_id" uuid not null,
      "application_id" uuid not null,
      "external_id" text not null,
      "object_class" text not null,
      "last_run_id" uuid null,
      primary key ("run_id", "external_id"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "import_run_held_deletion";`);
    this.addSql(`alter table "import_run" drop column "released";`);
  }
}
