import { Migration } from '@mikro-orm/migrations';

// ANALYZE builds most-common-value lists and histograms for every column, comparing the sampled values:
// for the large JSON documents (identity snapshots, application objects' attributes, target objects and
// export payloads) that is most of its cost, and no query filters on those columns as a whole — lookups go
// through expression indexes, which keep statistics of their own. The engine analyzes its growing tables
// itself during a bulk load (streams/table-statistics.ts), so this is paid many times over a million rows.
const COLUMNS: [table: string, column: string][] = [
  ['identity', 'snapshot'],
  ['repository_object', 'attributes'],
  ['repository_object', 'join_candidates'],
  ['outbound_object', 'desired'],
  ['export_item', 'attributes'],
  ['export_item', 'members'],
  ['export_item', 'secret'],
  ['export_item', 'last_error'],
];

export class Migration20261203083500_jsonb_statistics extends Migration {
  override name = 'Migration20261203083500_jsonb_statistics';

  override up(): void | Promise<void> {
    for (const [table, column] of COLUMNS)
      this.addSql(`alter table "${table}" alter column "${column}" set statistics 0;`);
  }

  override down(): void | Promise<void> {
    for (const [table, column] of COLUMNS)
      this.addSql(`alter table "${table}" alter column "${column}" set statistics -1;`);
  }
}
