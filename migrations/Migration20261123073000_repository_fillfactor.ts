import { Migration } from '@mikro-orm/migrations';

// A full import rewrites every object it sees (the run that saw it, for deletion detection). With room
// left in each page, PostgreSQL does that as a heap-only update: no new index entries, far less WAL.
export class Migration20261123073000_repository_fillfactor extends Migration {

  override name = 'Migration20261123073000_repository_fillfactor';

  override up(): void | Promise<void> {
    this.addSql(`alter table "repository_object" set (fillfactor = 70);`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "repository_object" reset (fillfactor);`);
  }

}
