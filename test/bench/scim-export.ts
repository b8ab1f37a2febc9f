// npm run bench:connectors — the SCIM export rate against the in-test SCIM server (SCIMMY, with an added
// latency per request), beside that server's own raw capacity measured in the same run: the same number of
// creates POSTed straight at it by a plain HTTP client at the same concurrency. Joinery's path adds the
// export queue (claim under a lease, one result transaction per operation) and the connector's mapping.
// Target: the server, not Joinery, is the bound — the two rates close together.
//
//   BENCH_SCIM_USERS (default 2000), BENCH_SCIM_LATENCY_MS (default 20), BENCH_SCIM_CONCURRENCY (default 8)
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { startConnectorRunner } from '../../src/connectors/connector-runner.ts';
import { enqueueExports, type NewExport } from '../../src/engine/export-queue.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { createEmbeddedBus } from '../../streams/embedded-bus.ts';
import { createTestDatabase } from '../support/database.ts';
import { silentLogger } from '../support/factories.ts';
import { startScimTestServer } from '../support/scim-server.ts';
import { rate, say, thousands } from './bench-support.ts';

const users = Number(process.env.BENCH_SCIM_USERS ?? 2000);
const latencyMs = Number(process.env.BENCH_SCIM_LATENCY_MS ?? 20);
const concurrency = Number(process.env.BENCH_SCIM_CONCURRENCY ?? 8);

const person = (index: number, prefix: string) => ({
  userName: `${prefix}${String(index)}@example.org`,
  givenName: `Given${String(index)}`,
  familyName: `Family${String(index)}`,
  email: `${prefix}${String(index)}@example.org`,
  department: `Dept${String(index % 20)}`,
  employeeNumber: String(index),
});

/** The server's raw capacity: `count` creates POSTed by a plain client, `concurrency` at a time. */
async function rawCapacity(url: string, token: string, count: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < count) {
      const index = next++;
      const p = person(index, 'raw');
      const response = await fetch(`${url}/Users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
        body: JSON.stringify({
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
          userName: p.userName,
          name: { givenName: p.givenName, familyName: p.familyName },
          emails: [{ type: 'work', value: p.email, primary: true }],
        }),
      });
      if (response.status !== 201) throw new Error(`raw POST answered ${String(response.status)}`);
      await response.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return performance.now() - started;
}

async function main(): Promise<void> {
  const scim = await startScimTestServer({ latencyMs });
  const database = await createTestDatabase();
  const orm = await openDatabase({ url: database.url, poolSize: 10, logger: silentLogger });
  try {
    await migrate(orm);
    const { tenantId } = await createTenant(orm.em, { tenant: `bench-${randomUUID().slice(0, 8)}` });
    const applied = await applyPlan(orm.em, {
      tenantId,
      sourceName: 'bench.yaml',
      appliedBy: 'bench',
      source: [
        'version: 1',
        'vault:',
        '  attributes: { email: {} }',
        'applications:',
        '  - name: saas',
        '    type: scim',
        '    mode: live',
        '    objectClasses:',
        '      user: { attributes: { userName: {}, givenName: {}, familyName: {}, email: {}, department: {}, employeeNumber: {} } }',
        '    scim:',
        `      baseUrl: ${scim.url}`,
        '      auth: { bearer: env:BENCH_TOKEN }',
        `      concurrency: ${String(concurrency)}`,
        "      users: { match: '' }",
      ].join('\n'),
    });
    const applicationId = applied.applications[0]?.id ?? '';
    say(
      `${thousands(users)} SCIM creates, ${String(latencyMs)} ms added per request, concurrency ${String(concurrency)} (ideal bound ${thousands(Math.round((concurrency * 1000) / latencyMs))}/s)`,
    );

    const rawMs = await rawCapacity(scim.url, scim.token, users);
    say(`raw: the server alone, a plain client      ${thousands(rate(users, rawMs))} creates/s`);

    const exports: NewExport[] = Array.from({ length: users }, (_, index) => ({
      tenantId,
      applicationId,
      identityId: randomUUID(),
      objectClass: 'user',
      externalId: null,
      operation: 'create',
      attributes: person(index, 'joinery'),
      status: 'pending',
    }));
    await orm.em.fork().transactional((tx) => enqueueExports(tx, exports, new Date()));
    const started = performance.now();
    const runner = startConnectorRunner({
      orm,
      bus: createEmbeddedBus({ em: orm.em, logger: silentLogger }),
      topicPrefix: 'bench.',
      logger: silentLogger,
      source: '/bench',
      secrets: () => scim.token,
      pollMs: 50,
    });
    for (;;) {
      const { rows } = await sql<{ done: string }>`
        select count(*) as done from export_item where application_id = ${applicationId} and status <> 'pending' and status <> 'delivering'`.execute(
        orm.em.fork().getKysely(),
      );
      if (Number(rows[0]?.done) >= users) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const joineryMs = performance.now() - started;
    await runner.stop();
    const { rows: outcome } = await sql<{ status: string; count: string }>`
      select status, count(*) from export_item where application_id = ${applicationId} group by status`.execute(
      orm.em.fork().getKysely(),
    );
    const joineryRate = rate(users, joineryMs);
    const rawRate = rate(users, rawMs);
    say(
      `joinery: export queue → SCIM connector      ${thousands(joineryRate)} creates/s (${String(Math.round((joineryRate * 100) / rawRate))}% of raw; ${outcome.map((row) => `${row.count} ${row.status}`).join(', ')})`,
    );
  } finally {
    await orm.close();
    await database.drop();
    await scim.close();
  }
}

await main();
