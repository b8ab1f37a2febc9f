import { Migration } from '@mikro-orm/migrations';

// Row-level security on the tenant tables added beside Migration20261207090000_row_level_security: each
// shows a role other than its owner only the rows of the tenant set for the transaction (joinery.tenant_id),
// no setting, no rows (test/integration/row-level-security.test.ts fails on a tenant table without one).
const currentTenant = `nullif(current_setting('joinery.tenant_id', true), '')::uuid`;

export const tenantTables = ['tenant_data_key', 'scim_token', 'scim_resource'];

export class Migration20261207100000_row_level_security_more_tables extends Migration {
  override name = 'Migration20261207100000_row_level_security_more_tables';

  override up(): void | Promise<void> {
    for (const table of tenantTables) {
      this.addSql(`alter table "${table}" enable row level security;`);
      this.addSql(
        `create policy tenant_isolation on "${table}" using (tenant_id = ${currentTenant}) with check (tenant_id = ${currentTenant});`,
      );
    }
  }

  override down(): void | Promise<void> {
    for (const table of tenantTables) {
      this.addSql(`drop policy if exists tenant_isolation on "${table}";`);
      this.addSql(`alter table "${table}" disable row level security;`);
    }
  }
}
