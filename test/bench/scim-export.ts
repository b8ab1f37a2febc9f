// npm run bench:connectors — the SCIM export rate against the in-test SCIM server (SCIMMY, with an added
// latency per request, in a child process of its own: test/support/scim-server-child.ts), beside that
// server's own raw capacity measured in the same run: the same number of creates POSTed straight at it by a
// plain HTTP client at the same concurrency, before and after Joinery's phase (after a warm-up). Joinery's
// path adds the export queue (claims under a lease, results recorded in batches) and the connector's mapping.
// Each phase also reports the CPU the server process and this process spent, and how busy the server was:
// a server busy all the time is the bound. Target: the server, not Joinery, is the bound.
//
//   BENCH_SCIM_USERS (default 2000), BENCH_SCIM_LATENCY_MS (default 20), BENCH_SCIM_CONCURRENCY (default 8)
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import { startConnectorRunner } from '../../src/connectors/connector-runner.ts';
import { enqueueExports, type NewExport } from '../../src/engine/export-queue.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { createEmbeddedBus } from '../../streams/embedded-bus.ts';
import { createTestDatabase } from '../support/database.ts';
import { silentLogger } from '../support/factories.ts';
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

/** The SCIM test server in its own process: its URL and token, from the line it prints once it listens. */
async function spawnScimServer(): Promise<{ child: ChildProcess; url: string; token: string }> {
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, '../support/scim-server-child.ts'), String(latencyMs)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const { url, token } = JSON.parse(line) as { url: string; token: string };
    return { child, url, token };
  }
  throw new Error(`the SCIM server process exited (code ${String(child.exitCode)}) before listening`);
}

/** CPU seconds a process has spent so far (utime + stime, /proc; 0 where there is none). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Runs a phase and says how long it took and what CPU the server process and this one spent in it. */
async function measured(serverPid: number | undefined, phase: () => Promise<void>) {
  const server = cpuSeconds(serverPid);
  const own = process.cpuUsage();
  const started = performance.now();
  await phase();
  const ms = performance.now() - started;
  const used = process.cpuUsage(own);
  return {
    ms,
    serverCpu: cpuSeconds(serverPid) - server,
    benchCpu: (used.user + used.system) / 1e6,
  };
}

const describe = (phase: { ms: number; serverCpu: number; benchCpu: number }) =>
  `server ${phase.serverCpu.toFixed(1)} s CPU (${String(Math.round((phase.serverCpu * 100_000) / phase.ms))}% busy, ${((phase.serverCpu * 1000) / users).toFixed(1)} ms a create), this process ${phase.benchCpu.toFixed(1)} s CPU in ${(phase.ms / 1000).toFixed(1)} s`;

const loadAverage = () =>
  loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');

/** The server's raw capacity: `count` creates POSTed by a plain client, `concurrency` at a time. */
async function rawCapacity(url: string, token: string, count: number, prefix: string): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      const p = person(index, prefix);
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
}

async function main(): Promise<void> {
  const scim = await spawnScimServer();
  const serverPid = scim.child.pid;
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
      `${thousands(users)} SCIM creates, ${String(latencyMs)} ms added per request, concurrency ${String(concurrency)} (ideal bound ${thousands(Math.round((concurrency * 1000) / latencyMs))}/s); load average ${loadAverage()}`,
    );

    // The server's code warmed up first (its JIT): a cold server would make the first phase look slower.
    await rawCapacity(scim.url, scim.token, Math.min(users, 1000), 'warm');
    const raw = await measured(serverPid, () => rawCapacity(scim.url, scim.token, users, 'raw'));
    say(
      `raw, before: the server alone, a plain client  ${thousands(rate(users, raw.ms))} creates/s; ${describe(raw)}`,
    );

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
    let runner: ReturnType<typeof startConnectorRunner> | undefined;
    const joinery = await measured(serverPid, async () => {
      runner = startConnectorRunner({
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
    });
    await runner?.stop();
    const { rows: outcome } = await sql<{ status: string; count: string }>`
      select status, count(*) from export_item where application_id = ${applicationId} group by status`.execute(
      orm.em.fork().getKysely(),
    );
    const joineryRate = rate(users, joinery.ms);
    const rawRate = rate(users, raw.ms);
    say(
      `joinery: export queue → SCIM connector          ${thousands(joineryRate)} creates/s (${String(Math.round((joineryRate * 100) / rawRate))}% of raw before; ${outcome.map((row) => `${row.count} ${row.status}`).join(', ')}); ${describe(joinery)}`,
    );
    const after = await measured(serverPid, () => rawCapacity(scim.url, scim.token, users, 'after'));
    say(
      `raw, after: the server alone, a plain client   ${thousands(rate(users, after.ms))} creates/s; ${describe(after)}; load average ${loadAverage()}`,
    );
  } finally {
    await orm.close();
    await database.drop();
    scim.child.kill('SIGTERM');
  }
}

await main();
