import { Migration } from '@mikro-orm/migrations';

// An export counts in the import run that caused it (docs/live.md, a run's export counters): its run id,
// with an index that holds only the exports that have one, so a run's counts read its exports alone.
export class Migration20261208120000_export_item_run extends Migration {
  override name = 'Migration20261208120000_export_item_run';

  override up(): void | Promise<void> {
    this.addSql(`alter table "export_item" add column "run_id" uuid null;`);
    this.addSql(
      `create index "export_item_run_id_status_index" on "export_item" ("run_id", "status") where "run_id" is not null;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index if exists "export_item_run_id_status_index";`);
    this.addSql(`alter table "export_item" drop column "run_id";`);
  }
}
