import { Migration } from '@mikro-orm/migrations';

// A target state decided in sandbox mode was only reported: once the application leaves sandbox, Outbound
// ignores it and compares with what the application really holds (src/engine/outbound.ts).

export class Migration20261202152437_outbound_sandbox extends Migration {

  override name = 'Migration20261202152437_outbound_sandbox';

  override up(): void | Promise<void> {
    this.addSql(`alter table "outbound_object" add "sandbox" boolean not null default false;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "outbound_object" drop column "sandbox";`);
  }

}
