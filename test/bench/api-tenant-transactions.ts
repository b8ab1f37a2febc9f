// What the API's tenant transactions (row-level security: BEGIN, the tenant and role set, COMMIT around every
// request) cost a read: GET /v1/identities?… through app.inject on real PostgreSQL, one request at a time, for
// a tenant of N identities beside another of N. Each run makes its own tenants in the database given.
//
//   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<a migrated database> \
//     npm exec -- node test/bench/api-tenant-transactions.ts [--identities 50000] [--requests 300]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { createLogger } from '../../kernel/logger.ts';
import { buildApp } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { defaultLimits } from '../../src/config/config.schema.ts';
import { projectRoot } from '../../src/infra/process.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { openDatabase } from '../../src/storage/database.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';

const argument = (name: string): string | undefined => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? undefined : process.argv[index + 1];
};
const IDENTITIES = Number(argument('identities') ?? 50_000);
const REQUESTS = Number(argument('requests') ?? 300);
const url = process.env.DATABASE_URL;
if (url === undefined) throw new Error('set DATABASE_URL to a migrated database');
const logger = createLogger({ level: 'warn' });
const orm = await openDatabase({ url, poolSize: 4, logger });
const plan = readFileSync(join(projectRoot, 'docs/examples/sync-plan.yaml'), 'utf8');

async function tenantWithIdentities(): Promise<{ apiKey: string; tenantId: string }> {
  const tenant = await createTenant(orm.em, {
    tenant: `bench-${String(Date.now())}-${String(Math.random())}`,
  });
  await applyPlan(orm.em, {
    tenantId: tenant.tenantId,
    source: plan,
    sourceName: 'sync-plan.yaml',
    appliedBy: 'bench',
  });
  const k = orm.em.fork().getKysely();
  await sql`
    insert into identity (id, tenant_id, version, state, snapshot, created_at, updated_at)
    select gen_random_uuid(), ${tenant.tenantId}, 1, 'active',
      jsonb_build_object('value', 'active', 'context', jsonb_build_object('attributes',
        jsonb_build_object('employeeId', 'E' || i, 'department', 'Sales'), 'classification', 1)), now(), now()
    from generate_series(1, ${IDENTITIES}) i`.execute(k);
  await sql`
    insert into identity_join_key (tenant_id, attribute, value, identity_id)
    select tenant_id, 'employeeId', snapshot->'context'->'attributes'->>'employeeId', id
    from identity where tenant_id = ${tenant.tenantId}`.execute(k);
  return tenant;
}

const acme = await tenantWithIdentities();
await tenantWithIdentities(); // another tenant's rows beside
await sql`analyze identity, identity_join_key`.execute(orm.em.fork().getKysely());
// The search limit (600 a minute per tenant) is lifted: this measures the database, not the limiter.
const limits = defaultLimits();
const app = await buildApp({
  orm,
  readiness: createReadiness({}),
  logger,
  limits: { ...limits, search: { ...limits.search, max: 1_000_000 } },
});
const headers = { authorization: `Bearer ${acme.apiKey}` };

const queries: Record<string, (i: number) => string> = {
  'joining attribute, exact': (i) =>
    `/v1/identities?attribute=employeeId&value=E${String((i % IDENTITIES) + 1)}`,
  'joining attribute, ignoreCase': (i) =>
    `/v1/identities?attribute=employeeId&value=e${String((i % IDENTITIES) + 1)}&ignoreCase=true`,
  'first page, state=active': () => '/v1/identities?state=active&limit=50',
};
for (const [name, path] of Object.entries(queries)) {
  for (let i = 0; i < 30; i++) await app.inject({ method: 'GET', url: path(i * 7919), headers });
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const started = performance.now();
    const response = await app.inject({ method: 'GET', url: path(i * 104_729), headers });
    times.push(performance.now() - started);
    if (response.statusCode !== 200)
      throw new Error(`${name}: ${String(response.statusCode)} ${response.body}`);
  }
  times.sort((a, b) => a - b);
  const mean = times.reduce((sum, t) => sum + t, 0) / times.length;
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0;
  console.log(
    `${name.padEnd(32)} ${String(REQUESTS)} requests: mean ${mean.toFixed(2)} ms, p50 ${at(0.5).toFixed(2)} ms, p99 ${at(0.99).toFixed(2)} ms`,
  );
}
await app.close();
await orm.close();
