import { Migration } from '@mikro-orm/migrations';

// File imports (src/connectors/): the rows of a file that could not be read, with their line and reason
// (the first ones; `rejected` counts them all), so a run says what it skipped and why.
export class Migration20261206110000_file_imports extends Migration {
  override name = 'Migration20261206110000_file_imports';

  override up(): void | Promise<void> {
    this.addSql(`alter table "import_run" add column "rejected" int not null default 0;`);
    this.addSql(`create table "import_run_error" (
      "run_id" uuid not null references "import_run" ("run_id") on delete cascade,
      "line" int not null,
      "reason" text not null,
      primary key ("run_id", "line"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "import_run_error";`);
    this.addSql(`alter table "import_run" drop column "rejected";`);
  }
}
