import { Migration } from '@mikro-orm/migrations';

// Row-level security: every tenant table shows a role other than its owner only the rows of the tenant set
// for the transaction (`joinery.tenant_id`, set with set_config(..., true) by the API) — no setting, no rows.
// The policies are for PUBLIC, so they hold for the API's tenant role (database.tenantRole) and for any
// other role given access later; the owner (the login role that runs migrations and the engine) is exempt,
// as PostgreSQL exempts a table's owner unless FORCE is set. The role itself, its grants and its membership
// are made at start-up (src/storage/tenant-role.ts): its name is configuration, not schema.
const currentTenant = `nullif(current_setting('joinery.tenant_id', true), '')::uuid`;

// The tables with a tenant_id column (test/integration/row-level-security.test.ts fails on one without a policy).
const tenantTables = [
  'application',
  'connector',
  'export_item',
  'identity',
  'identity_join_key',
  'identity_source',
  'identity_timer',
  'import_run',
  'import_run_held_deletion',
  'join_claim',
  'outbound_object',
  'plan_reconciliation',
  'plan_version',
  'repository_object',
  'schedule',
  'service_account',
  'tenant_key',
  'vault_group',
  'vault_group_member',
];

export class Migration20261207090000_row_level_security extends Migration {
  override name = 'Migration20261207090000_row_level_security';

  override up(): void | Promise<void> {
    for (const table of tenantTables) {
      this.addSql(`alter table "${table}" enable row level security;`);
      this.addSql(
        `create policy tenant_isolation on "${table}" using (tenant_id = ${currentTenant}) with check (tenant_id = ${currentTenant});`,
      );
    }
    // The tenant itself: its own row only.
    this.addSql(`alter table "tenant" enable row level security;`);
    this.addSql(
      `create policy tenant_isolation on "tenant" using (id = ${currentTenant}) with check (id = ${currentTenant});`,
    );
    // A run's rejected rows belong to the run: visible when the run is (import_run's policy applies inside).
    this.addSql(`alter table "import_run_error" enable row level security;`);
    this.addSql(
      `create policy tenant_isolation on "import_run_error" using (exists (select 1 from import_run r where r.run_id = import_run_error.run_id)) with check (exists (select 1 from import_run r where r.run_id = import_run_error.run_id));`,
    );
    // The outbox carries many tenants' messages per row (the engine's batches): a tenant session may only
    // add a row whose every message is its own, and reads, changes and deletes none.
    this.addSql(`alter table "outbox" enable row level security;`);
    this.addSql(
      `create policy tenant_insert on "outbox" for insert with check (not exists (select 1 from json_array_elements(messages) m where (m.value ->> 'tenantId') is distinct from current_setting('joinery.tenant_id', true)));`,
    );
    // A case-insensitive join-key lookup cannot use the lower(value) index below a policy: lower() is not
    // leakproof, so PostgreSQL evaluates it after the tenant condition, over every key of the tenant. This
    // function runs the lookup as the owner (by index) and keeps it to the tenant of the transaction itself.
    this.addSql(`create function joinery_folded_join_key_matches(p_tenant uuid, p_attribute text, p_folded text)
      returns setof uuid language sql stable security definer set search_path = pg_catalog, pg_temp as $$
        select identity_id from public.identity_join_key
        where tenant_id = p_tenant and tenant_id = ${currentTenant}
          and attribute = p_attribute and lower(value) = p_folded
      $$;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop function if exists joinery_folded_join_key_matches(uuid, text, text);`);
    for (const table of [...tenantTables, 'tenant', 'import_run_error']) {
      this.addSql(`drop policy if exists tenant_isolation on "${table}";`);
      this.addSql(`alter table "${table}" disable row level security;`);
    }
    this.addSql(`drop policy if exists tenant_insert on "outbox";`);
    this.addSql(`alter table "outbox" disable row level security;`);
  }
}
