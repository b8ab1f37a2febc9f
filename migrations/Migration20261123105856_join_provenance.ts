import { Migration } from '@mikro-orm/migrations';

// How each hard join came to be: projected, rule:<rule name> or manual:<service-account id>.
export class Migration20261123105856_join_provenance extends Migration {

  override name = 'Migration20261123105856_join_provenance';

  override up(): void | Promise<void> {
    this.addSql(`alter table "identity_source" add "provenance" varchar(300) null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "identity_source" drop column "provenance";`);
  }

}
