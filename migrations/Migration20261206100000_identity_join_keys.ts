import { Migration } from '@mikro-orm/migrations';

// Joining rules look identities up in `identity_join_key` (streams/identity-join-keys.ts) instead of generated
// columns a plan added to the shared identity table: applying a plan no longer alters a table every tenant
// shares (issue 18). The keys of every tenant's plan in force are filled in here from the identities'
// snapshots, by the same rule as the engine's (scalars as text, arrays by element, at most 1,024 bytes), and
// the old columns go (their indexes with them; dropping a column rewrites nothing).
export class Migration20261206100000_identity_join_keys extends Migration {
  override name = 'Migration20261206100000_identity_join_keys';

  override up(): void | Promise<void> {
    this.addSql(`create table "identity_join_key" (
      "tenant_id" uuid not null,
      "attribute" text not null,
      "value" text not null,
      "identity_id" uuid not null,
      primary key ("tenant_id", "attribute", "value", "identity_id"));`);
    this.addSql(`create index "identity_join_key_folded_index" on "identity_join_key"
      ("tenant_id", "attribute", lower("value"));`);
    this.addSql(`insert into identity_join_key (tenant_id, attribute, value, identity_id)
      with plans as (
        select distinct on (tenant_id) tenant_id, document from plan_version order by tenant_id, version desc),
      compared as (
        select distinct p.tenant_id, a.attribute #>> '{}' as attribute
        from plans p
        cross join lateral (
          select jsonb_path_query(p.document, '$.applications[*].joining[*].all[*].vault') as attribute
          union all
          select jsonb_path_query(p.document, '$.applications[*].joining[*].any[*].vault')) a)
      select i.tenant_id, c.attribute, e.value, i.id
      from compared c
      join identity i on i.tenant_id = c.tenant_id
      cross join lateral (select i.snapshot->'context'->'attributes'->c.attribute as json) x
      cross join lateral (
        select jsonb_array_elements(x.json) as element where jsonb_typeof(x.json) = 'array'
        union all select x.json where jsonb_typeof(x.json) in ('string', 'number', 'boolean')) el
      cross join lateral (select el.element #>> '{}' as value) e
      where (jsonb_typeof(el.element) in ('string', 'boolean')
          or (jsonb_typeof(el.element) = 'number' and e.value ~ '^-?[0-9]+$'))
        and octet_length(e.value) <= 1024
      on conflict do nothing;`);
    this.addSql(`do $$
      declare old record;
      begin
        for old in select attname from pg_attribute
          where attrelid = 'identity'::regclass and attname like 'join\\_%' and attgenerated = 's'
            and not attisdropped
        loop
          execute format('alter table identity drop column %I', old.attname);
        end loop;
      end $$;`);
  }

  override down(): void | Promise<void> {
    // The generated columns of the previous version are created again by its engine when it starts.
    this.addSql(`drop table if exists "identity_join_key";`);
  }
}
