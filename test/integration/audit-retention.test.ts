// The audit history's retention on the real PostgreSQL: the days every tenant's retention has passed are
// dropped as whole partitions, a tenant whose plan keeps its history for less loses its older events too,
// and the coming days' partitions exist before their events arrive.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { existingPartitionDays } from '../../src/audit/audit-partitions.ts';
import { keepAuditHistory } from '../../src/audit/audit-retention.ts';
import { insertAuditEvents } from '../../src/audit/audit-store.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';

const DAY_MS = 86_400_000;

describe('audit history retention (real PostgreSQL)', () => {
  let database: TestDatabase;
  let orm: MikroORM;
  const now = new Date('2026-12-06T12:00:00Z');
  const tenants = { keeps: '', forgets: '' };

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: true });
    orm = await openDatabase({ url: database.url, poolSize: 2, logger: silentLogger });
    await migrate(orm);
    tenants.keeps = (await createTenant(orm.em, { tenant: uniqueName('keeps') })).tenantId;
    tenants.forgets = (await createTenant(orm.em, { tenant: uniqueName('forgets') })).tenantId;
    await applyPlan(orm.em, {
      tenantId: tenants.forgets,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
      source: [
        'version: 1',
        'vault: { attributes: { employeeId: {} } }',
        'applications: [{ name: hr, type: csv, objectClasses: { worker: { attributes: { id: {} } } } }]',
        'audit: { retentionDays: 3 }',
      ].join('\n'),
    });
    // Each tenant: an event 10, 5 and 1 days ago.
    const entries = [10, 5, 1].flatMap((days) =>
      Object.values(tenants).map((tenantId) => ({
        eventId: `test/${tenantId}/${String(days)}`,
        event: {
          tenantId,
          at: new Date(now.getTime() - days * DAY_MS).toISOString(),
          level: 'info' as const,
          category: 'test',
          message: `${String(days)} days ago`,
        },
      })),
    );
    await orm.em.fork().transactional((tx) => insertAuditEvents(tx, entries, new Set()));
  });
  afterAll(async () => {
    await orm.close();
    await database.drop();
  });

  const ages = async (tenantId: string) =>
    (
      await sql<{ message: string }>`
        select event->>'message' as message from audit_event where tenant_id = ${tenantId} order by at`.execute(
        orm.em.getKysely(),
      )
    ).rows.map((row) => row.message);

  it("drops the days past the longest retention, and deletes a shorter tenant's older events", async () => {
    const outcome = await keepAuditHistory(orm.em, { retentionDays: 7, now });
    expect(outcome.dropped).toEqual(['2026-11-26']);
    expect(outcome.deleted).toBe(1);
    expect(await ages(tenants.keeps)).toEqual(['5 days ago', '1 days ago']);
    expect(await ages(tenants.forgets)).toEqual(['1 days ago']);
    // Yesterday to three days ahead exist.
    const days = await existingPartitionDays(orm.em);
    for (const day of ['2026-12-05', '2026-12-06', '2026-12-07', '2026-12-08', '2026-12-09'])
      expect(days.has(day), day).toBe(true);
    // A second pass has nothing left to do.
    expect(await keepAuditHistory(orm.em, { retentionDays: 7, now })).toEqual({
      created: [],
      dropped: [],
      deleted: 0,
    });
  });
});
