import { Migration } from '@mikro-orm/migrations';

// Row-level security on the tenant tables added beside Migration20261207090000_row_level_security: each
// shows a role other than its owner only the rows of the tenant set for the transaction (joinery.tenant_id),
// no setting, no rows (test/integration/row-level-security.test.ts fails on a tenant table without one).
const currentTenant = `nullif(current_setting('joinery.tenant_id', true), '')::uuid`;

// audit_event is partitioned by day: its policy holds for every partition reached through it.
export const tenantTables = [
  'tenant_data_key',
  'scim_token',
  'scim_resource',
  'audit_event',
  'siem_destination',
];

export class Migration20261207100000_row_level_security_more_tables extends Migration {
  override name = 'Migration20261207100000_row_level_security_more_tables';

  override up(): void | Promise<void> {
    for (const table of tenantTables) {
      this.addSql(`alter table "${table}" enable row level security;`);
      this.addSql(
        `create policy tenant_isolation on "${table}" using (tenant_id = ${currentTenant}) with check (tenant_id = ${currentTenant});`,
      );
    }
    // A destination's positions belong to it: visible when the destination is (its policy applies inside).
    const ofDestination = `exists (select 1 from siem_destination d where d.id = siem_delivery.destination_id)`;
    this.addSql(`alter table "siem_delivery" enable row level security;`);
    this.addSql(
      `create policy tenant_isolation on "siem_delivery" using (${ofDestination}) with check (${ofDestination});`,
    );
  }

  override down(): void | Promise<void> {
    for (const table of [...tenantTables, 'siem_delivery']) {
      this.addSql(`drop policy if exists tenant_isolation on "${table}";`);
      this.addSql(`alter table "${table}" disable row level security;`);
    }
  }
}
