import { Migration } from '@mikro-orm/migrations';

// In-engine connectors (src/connectors/connector-runner.ts): the objects a run has sent so far (its
// progress, beside `seen`, what the Import stage recorded), and where the application's next delta
// import starts (a SCIM service's last modification time seen).
export class Migration20261207090000_connector_runs extends Migration {
  override name = 'Migration20261207090000_connector_runs';

  override up(): void | Promise<void> {
    this.addSql(`alter table "import_run" add column "sent" int not null default 0;`);
    this.addSql(`alter table "import_run" add column "cursor" text null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "import_run" drop column "cursor";`);
    this.addSql(`alter table "import_run" drop column "sent";`);
  }
}
