import { Migration } from '@mikro-orm/migrations';

export class Migration20261123032614_join_state extends Migration {

  override name = 'Migration20261123032614_join_state';

  override up(): void | Promise<void> {
    this.addSql(`alter table "repository_object" add "join_state" varchar(16) null, add "identity_id" uuid null, add "join_candidates" jsonb null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "repository_object" drop column "join_state", drop column "identity_id", drop column "join_candidates";`);
  }

}
