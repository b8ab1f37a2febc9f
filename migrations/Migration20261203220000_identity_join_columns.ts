import { Migration } from '@mikro-orm/migrations';

// The joining rules' lookups move from indexes on expressions of the identity snapshot to indexes on
// generated columns (src/engine/join-indexes.ts), so an identity update that changes no joined value can
// be HOT. The engine creates the columns and their indexes for every tenant's plan in force when it starts
// (ensureAllJoinIndexes); the old indexes go here. The table keeps 40% of each page free for the next
// versions of its identities: an update stays on its page (and writes no index entry) when there is room.
export class Migration20261203220000_identity_join_columns extends Migration {
  override name = 'Migration20261203220000_identity_join_columns';

  override up(): void | Promise<void> {
    this.addSql(`do $$
      declare old record;
      begin
        for old in select indexname from pg_indexes
          where schemaname = current_schema() and tablename = 'identity'
            and indexname like 'identity\\_join\\_%' and indexname not like 'identity\\_join\\_key\\_%'
        loop
          execute format('drop index %I', old.indexname);
        end loop;
      end $$;`);
    this.addSql(`alter table "identity" set (fillfactor = 60);`);
  }

  override down(): void | Promise<void> {
    // The snapshot-expression indexes of the previous version are created again when a plan is applied.
    this.addSql(`alter table "identity" reset (fillfactor);`);
  }
}
