// Stopping the connector runner mid-delivery (a SCIM application, the SCIMMY test server with latency, real
// PostgreSQL): the requests in flight finish and are recorded; the exports claimed ahead and not started go
// back to the queue at once — pending, their attempt not counted — instead of being delivered before the
// process may stop, or staying leased to a process that is gone.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConnectorRunner } from '../../src/connectors/connector-runner.ts';
import { claimExports, enqueueExports, type NewExport } from '../../src/engine/export-queue.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { createEmbeddedBus } from '../../streams/embedded-bus.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { silentLogger } from '../support/factories.ts';
import { startScimTestServer, type ScimTestServer } from '../support/scim-server.ts';
import { waitFor } from '../support/streams.ts';

const EXPORTS = 60;
const CONCURRENCY = 4;

describe('stopping the connector runner while it delivers', () => {
  let scim: ScimTestServer;
  let database: TestDatabase;
  let orm: MikroORM;
  let tenantId: string;
  let applicationId: string;

  beforeAll(async () => {
    // Slow enough that the runner has claimed far more than it has in flight when it is told to stop.
    scim = await startScimTestServer({ latencyMs: 150 });
    database = await createTestDatabase();
    orm = await openDatabase({ url: database.url, poolSize: 4, logger: silentLogger });
    await migrate(orm);
    ({ tenantId } = await createTenant(orm.em, { tenant: `stop-${randomUUID().slice(0, 8)}` }));
    const applied = await applyPlan(orm.em, {
      tenantId,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
      source: [
        'version: 1',
        'vault:',
        '  attributes: { email: {} }',
        'applications:',
        '  - name: saas',
        '    type: scim',
        '    mode: live',
        '    objectClasses:',
        '      user: { attributes: { userName: {}, email: {} } }',
        '    scim:',
        `      baseUrl: ${scim.url}`,
        '      auth: { bearer: env:SAAS_TOKEN }',
        `      concurrency: ${String(CONCURRENCY)}`,
        "      users: { match: '' }",
      ].join('\n'),
    });
    applicationId = applied.applications[0]?.id ?? '';
  });
  afterAll(async () => {
    await orm.close();
    await database.drop();
    await scim.close();
  });

  const statuses = async () => {
    const { rows } = await sql<{ status: string; attempts: number; count: string }>`
      select status, attempts, count(*) from export_item where application_id = ${applicationId}
      group by status, attempts`.execute(orm.em.fork().getKysely());
    return rows.map((row) => ({ status: row.status, attempts: row.attempts, count: Number(row.count) }));
  };

  it('finishes the requests in flight and gives the claimed, unstarted exports back, due at once', async () => {
    const exports: NewExport[] = Array.from({ length: EXPORTS }, (_, index) => ({
      tenantId,
      applicationId,
      identityId: randomUUID(),
      objectClass: 'user',
      externalId: null,
      operation: 'create',
      attributes: { userName: `u${String(index)}@example.org`, email: `u${String(index)}@example.org` },
      status: 'pending',
    }));
    await orm.em.fork().transactional((tx) => enqueueExports(tx, exports, new Date()));
    const runner = startConnectorRunner({
      orm,
      bus: createEmbeddedBus({ em: orm.em, logger: silentLogger }),
      topicPrefix: 'stop.',
      logger: silentLogger,
      source: '/tests',
      secrets: () => scim.token,
      pollMs: 50,
    });
    // Delivering: the first users created while most of the queue is claimed ahead.
    await waitFor('the first users created', () =>
      Promise.resolve(scim.users().length >= CONCURRENCY ? true : undefined),
    );
    // Read in the same tick as the stop: from here no request may start, only those in flight finish.
    const createdAtStop = scim.users().length;
    await runner.stop();

    const after = await statuses();
    const count = (status: string) =>
      after.filter((row) => row.status === status).reduce((sum, row) => sum + row.count, 0);
    // Every export is accounted for, none left leased to the stopped process.
    expect(count('succeeded') + count('pending')).toBe(EXPORTS);
    expect(count('delivering')).toBe(0);
    // What was delivered is in the SCIM service, exactly once each.
    expect(scim.users().length).toBe(count('succeeded'));
    // It stopped after the requests in flight, not after everything it had claimed (4 workers x 4 ahead x 2).
    expect(scim.users().length).toBeLessThanOrEqual(createdAtStop + CONCURRENCY);
    expect(count('pending')).toBeGreaterThan(0);
    // The ones given back were never attempted: their attempt is not counted, and they are due now.
    expect(after.filter((row) => row.status === 'pending').every((row) => row.attempts === 0)).toBe(true);
    const due = await claimExports(orm.em.fork(), {
      tenantId,
      applicationIds: [applicationId],
      limit: EXPORTS,
      leaseMs: 60_000,
    });
    expect(due.length).toBe(count('pending'));
  }, 60_000);
});
