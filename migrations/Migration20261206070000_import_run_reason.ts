import { Migration } from '@mikro-orm/migrations';

// Why an import run could not complete (status `incomplete`), e.g. a full run's completion marker without
// its objectCount: shown on the run (GET /v1/runs) instead of a run left `completing` for ever.
export class Migration20261206070000_import_run_reason extends Migration {
  override name = 'Migration20261206070000_import_run_reason';

  override up(): void | Promise<void> {
    this.addSql(`alter table "import_run" add column "reason" text null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "import_run" drop column "reason";`);
  }
}
