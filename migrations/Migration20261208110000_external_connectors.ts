import { Migration } from '@mikro-orm/migrations';

// An application served by a connector outside Joinery, over Kafka (the plan's `connector: external`): the
// engine publishes its exports on the exports topic instead of delivering them itself, and a requested run
// fails at once, saying the connector sends its own runs. Kept on the record like type and mode, so the
// orchestrator and the runs API read it without the plan.
export class Migration20261208110000_external_connectors extends Migration {
  override name = 'Migration20261208110000_external_connectors';

  override up(): void | Promise<void> {
    this.addSql(`alter table "application" add column "connector" text null;`);
    this.addSql(
      `alter table "application" add constraint "application_connector_check" check ("connector" in ('external'));`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "application" drop constraint "application_connector_check";`);
    this.addSql(`alter table "application" drop column "connector";`);
  }
}
