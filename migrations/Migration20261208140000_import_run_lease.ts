import { Migration } from '@mikro-orm/migrations';

// A run read by the engine's connector runner is leased: the runner renews `lease_until` while it reads, and
// clears it once the run's objects are all sent. A run still `running` past its lease lost its engine
// process (a crash, kill -9): the next runner aborts it, saying why, and requests it again.
export class Migration20261208140000_import_run_lease extends Migration {
  override name = 'Migration20261208140000_import_run_lease';

  override up(): void | Promise<void> {
    this.addSql(`alter table "import_run" add column "lease_until" timestamptz null;`);
    this.addSql(
      `create index "import_run_lease_until_index" on "import_run" ("lease_until") where "lease_until" is not null;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "import_run_lease_until_index";`);
    this.addSql(`alter table "import_run" drop column "lease_until";`);
  }
}
