// npm run bench:audit: "everything that happened to identity X" in a tenant of N identities (1,000,000 by
// default) with their initial-load history, on the real PostgreSQL. The history is generated set-based in
// PostgreSQL (generate_series), as the audit consumer stores it: per identity the HR object's projection,
// its attributes received (old → new), the directory account joined by a joining rule, the update queued
// for it and the connector's result — five events, in the day partitions of the load — plus the runs'
// own events. Then random identities' histories are asked for through the API (GET
// /v1/identities/:id/history, authentication included), and the same query alone, beside the raw limit
// measured in the same run: a bare primary-key lookup of one stored event.
//
//   npm run bench:audit                        # 1,000,000 identities
//   npm run bench:audit -- --identities 100000 --queries 2000
import { createHash, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { buildApp } from '../../src/api/app.ts';
import { ensurePartitions, daysFrom } from '../../src/audit/audit-partitions.ts';
import { readAuditPage } from '../../src/audit/audit-query.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { createInfraService } from '../../src/infra/stack.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { createLogger } from '../../kernel/logger.ts';
import { createTestDatabase } from '../support/database.ts';
import { recordBenchmark, say, thousands } from './bench-support.ts';

const { values: args } = parseArgs({
  options: {
    identities: { type: 'string', default: '1000000' },
    queries: { type: 'string', default: '2000' },
    keep: { type: 'boolean', default: false },
  },
});
const N = Number(args.identities);
const QUERIES = Number(args.queries);
const CHUNK = 100_000;
const TARGET_P99_MS = 50;
const logger = createLogger({ level: 'warn' });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}
const ms = (value: number) => `${value.toFixed(2)} ms`;

async function timed(count: number, run: (index: number) => Promise<void>) {
  const times: number[] = [];
  for (let index = 0; index < count; index++) {
    const start = performance.now();
    await run(index);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), max: times.at(-1) ?? 0 };
}

await (await createInfraService('postgres')).up();
const database = await createTestDatabase();
const orm = await openDatabase({ url: database.url, poolSize: 4, logger });
try {
  await migrate(orm);
  const tenant = await createTenant(orm.em, { tenant: 'bench' });
  const k = orm.em.getKysely();
  const hr = randomUUID();
  const directory = randomUUID();
  const hrRun = randomUUID();
  const directoryRun = randomUUID();
  // The initial load happened over the last two days: its events fall in two day partitions.
  const loadStart = new Date(Date.now() - 36 * 3_600_000);
  const spanMs = 30 * 3_600_000;
  await orm.em.fork().transactional((tx) => ensurePartitions(tx, daysFrom(loadStart, 3)));

  say(`generating the initial-load history of ${thousands(N)} identities (5 events each)...`);
  const generating = performance.now();
  for (let from = 1; from <= N; from += CHUNK) {
    const to = Math.min(N, from + CHUNK - 1);
    // One row per identity and event kind; each identity's five events a few seconds apart, identities
    // spread over the load's span. Ids and values are derived from the identity's number.
    await sql`
      with people as (
        select i, md5(${tenant.tenantId}::text || ':' || i)::uuid as identity_id,
          ${loadStart}::timestamptz + (i::double precision / ${N}) * ${spanMs} * interval '1 millisecond' as at
        from generate_series(${from}::int, ${to}::int) as i),
      events as (
        select p.*, e.kind, p.at + e.kind * interval '2 seconds' as event_at from people p
        cross join generate_series(1, 5) as e(kind))
      insert into audit_event (tenant_id, at, event_id, stage, outcome, level, category, run_id, identity_id,
        group_id, application_id, external_id, actor_id, event)
      select ${tenant.tenantId}::uuid, event_at, event_id, stage, outcome, 'info', category, run_id, identity_id,
        null, application_id, external_id, actor_id,
        jsonb_strip_nulls(jsonb_build_object('tenantId', ${tenant.tenantId}::text, 'at', to_char(event_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'level', 'info', 'category', category, 'stage', stage, 'outcome', outcome, 'message', message,
          'runId', run_id, 'identityId', identity_id, 'applicationId', application_id, 'objectClass', object_class,
          'externalId', external_id, 'decidedBy', decided_by, 'changes', changes,
          'actor', case when actor_id is null then null else jsonb_build_object('kind', 'agent', 'id', actor_id) end))
      from (
        select e.event_at, e.identity_id,
          case e.kind when 1 then 'join/' || ${hr}::text || '/E' || e.i
                      when 2 then 'identity/0/' || e.i || '/log'
                      when 3 then 'join/' || ${directory}::text || '/CN=u' || e.i
                      when 4 then 'export/' || md5('x' || e.i) || '/queued'
                      else 'export/' || md5('x' || e.i) || '/result/1' end as event_id,
          (array['join', 'inbound', 'join', 'outbound', 'export'])[e.kind] as stage,
          'succeeded' as outcome,
          (array['join', 'inbound', 'join', 'export', 'export'])[e.kind] as category,
          (array['projected identity (the application creates identities)',
                 '5 attribute(s) changed by application object E' || e.i,
                 'joined to identity by joining rule "employee id"',
                 'update of CN=u' || e.i || ' queued',
                 'update of CN=u' || e.i || ' succeeded'])[e.kind] as message,
          case when e.kind in (1, 3) then (case e.kind when 1 then ${hrRun}::uuid else ${directoryRun}::uuid end) end as run_id,
          case when e.kind in (1, 2) then ${hr}::uuid else ${directory}::uuid end as application_id,
          case when e.kind = 2 then null when e.kind in (1) then 'worker' else 'user' end as object_class,
          case when e.kind in (1, 2) then 'E' || e.i else 'CN=u' || e.i end as external_id,
          case when e.kind = 5 then 'bench-agent' end as actor_id,
          case e.kind when 1 then jsonb_build_object('kind', 'plan', 'name', 'createsIdentities')
                      when 2 then jsonb_build_object('kind', 'mapper', 'name', 'inbound mappers of application hr')
                      when 3 then jsonb_build_object('kind', 'joining-rule', 'name', 'employee id') end as decided_by,
          case e.kind when 2 then jsonb_build_array(
                        jsonb_build_object('attribute', 'employeeId', 'new', 'E' || e.i),
                        jsonb_build_object('attribute', 'givenName', 'new', 'Given' || e.i),
                        jsonb_build_object('attribute', 'surname', 'new', 'Surname' || e.i),
                        jsonb_build_object('attribute', 'department', 'new', 'Department ' || (e.i % 40)),
                        jsonb_build_object('attribute', 'salary', 'new', '***'))
                      when 4 then jsonb_build_array(
                        jsonb_build_object('attribute', 'displayName', 'new', 'Given' || e.i || ' Surname' || e.i),
                        jsonb_build_object('attribute', 'title', 'new', 'Engineer')) end as changes
        from events e) rows`.execute(k);
    say(
      `  ${thousands(to)} identities (${thousands(to * 5)} events), ${((performance.now() - generating) / 1000).toFixed(0)} s`,
    );
  }
  await sql`analyze audit_event`.execute(k);
  const generatedSeconds = (performance.now() - generating) / 1000;
  const { rows: size } = await sql<{ partitions: string; bytes: string }>`
    select count(*) as partitions, pg_size_pretty(sum(pg_total_relation_size(i.inhrelid))) as bytes
    from pg_inherits i where i.inhparent = 'audit_event'::regclass`.execute(k);
  say(
    `generated in ${generatedSeconds.toFixed(0)} s: ${size[0]?.bytes ?? '?'} with indexes, in ${size[0]?.partitions ?? '?'} day partitions`,
  );

  // md5(tenant:i)::uuid, as the generator derived each identity's id.
  const identityOf = (i: number) =>
    createHash('md5')
      .update(`${tenant.tenantId}:${String(i)}`)
      .digest('hex')
      .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
  const picks = Array.from({ length: QUERIES }, () => identityOf(1 + Math.floor(Math.random() * N)));
  const app = await buildApp({ orm, readiness: createReadiness({}), logger });
  // Warm-up: the first requests compile the route's schemas and fill the caches.
  for (const id of picks.slice(0, 50))
    await app.inject({
      method: 'GET',
      url: `/v1/identities/${id}/history`,
      headers: { authorization: `Bearer ${tenant.apiKey}` },
    });

  const api = await timed(QUERIES, async (q) => {
    const response = await app.inject({
      method: 'GET',
      url: `/v1/identities/${picks[q] ?? ''}/history`,
      headers: { authorization: `Bearer ${tenant.apiKey}` },
    });
    const body = response.json<{ items: unknown[] }>();
    if (response.statusCode !== 200 || body.items.length !== 5)
      throw new Error(`unexpected answer ${String(response.statusCode)}: ${response.body.slice(0, 200)}`);
  });
  // The API's own floor: an authenticated request that reads one row (GET /v1/tenant).
  const floor = await timed(QUERIES, async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/v1/tenant',
      headers: { authorization: `Bearer ${tenant.apiKey}` },
    });
    if (response.statusCode !== 200)
      throw new Error(`GET /v1/tenant answered ${String(response.statusCode)}`);
  });
  const query = await timed(QUERIES, async (q) => {
    const { records } = await readAuditPage(
      orm.em,
      { tenantId: tenant.tenantId, identityId: picks[q] ?? '' },
      100,
    );
    if (records.length !== 5) throw new Error(`expected 5 events, read ${String(records.length)}`);
  });
  // The raw limit: one stored event by its primary key, the cheapest read the table allows.
  const keys = (
    await sql<{ at: Date; event_id: string }>`
      select at, event_id from audit_event tablesample system (0.1) limit ${QUERIES}`.execute(k)
  ).rows;
  const raw = await timed(keys.length, async (q) => {
    const key = keys[q];
    if (key === undefined) return;
    await sql`select event from audit_event
      where tenant_id = ${tenant.tenantId} and at = ${key.at} and event_id = ${key.event_id}`.execute(k);
  });
  await app.close();

  say(
    `"everything that happened to identity X", ${thousands(QUERIES)} random identities of ${thousands(N)}:`,
  );
  say(
    `  through the API      p50 ${ms(api.p50)}, p99 ${ms(api.p99)} (target p99 < ${String(TARGET_P99_MS)} ms), max ${ms(api.max)}`,
  );
  say(`  API floor (GET /v1/tenant, authenticated) p50 ${ms(floor.p50)}, p99 ${ms(floor.p99)}`);
  say(`  the query alone      p50 ${ms(query.p50)}, p99 ${ms(query.p99)}`);
  say(`  raw limit (PK read)  p50 ${ms(raw.p50)}, p99 ${ms(raw.p99)}`);
  recordBenchmark('audit-history', N, {
    benchmark: 'audit-history',
    at: new Date().toISOString(),
    identities: N,
    events: N * 5,
    generatedSeconds: Math.round(generatedSeconds),
    tableSize: size[0]?.bytes,
    queries: QUERIES,
    apiMs: api,
    apiFloorMs: floor,
    queryMs: query,
    rawPrimaryKeyMs: raw,
    targetP99Ms: TARGET_P99_MS,
  });
} finally {
  await orm.close();
  if (!args.keep) await database.drop();
}
