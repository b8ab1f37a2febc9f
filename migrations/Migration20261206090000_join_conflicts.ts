import { Migration } from '@mikro-orm/migrations';

// Join conflicts (docs/configuration.md, "Joining"): an identity holds at most one object of an application's
// object class unless the plan allows several; a second match is held as join state `conflict`.
//
// `join_claim` serialises the batches that claim one identity for one object class (other partitions, other
// processes): a batch inserts its claims, a concurrent insert of the same claim waits on the primary key until
// the first batch commits, and each batch deletes its claims again before it commits — so the table is empty
// at rest, and a batch that waited then reads the joins the other one committed. Unlogged: nothing in it
// outlives a transaction. The partial index finds the objects held in conflict over an identity.
export class Migration20261206090000_join_conflicts extends Migration {
  override name = 'Migration20261206090000_join_conflicts';

  override up(): void | Promise<void> {
    this.addSql(`create unlogged table "join_claim" (
      "tenant_id" uuid not null,
      "application_id" uuid not null,
      "object_class" text not null,
      "identity_id" uuid not null,
      primary key ("tenant_id", "application_id", "object_class", "identity_id"));`);
    this.addSql(`create index "repository_object_conflict_index" on "repository_object"
      ("tenant_id", "application_id", (("join_candidates"->'identityIds'->>0)))
      where "join_state" = 'conflict';`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index if exists "repository_object_conflict_index";`);
    this.addSql(`drop table if exists "join_claim";`);
  }
}
