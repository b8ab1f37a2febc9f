// One tenant's plan cannot lock another tenant out (issue 18 item 2), on the real PostgreSQL: a plan whose
// joining rules compare hundreds of attributes adds join keys for its own tenant's identities only — no
// column, no index, no lock on a table every tenant shares — while another tenant reads and writes its
// identities; and the new keys find the identities at once.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { applyJoinKeys, holdJoinKeys } from '../../src/engine/join-keys.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';

/** Joining attributes of the hostile plan (the probe used 1,700; each was a column of the shared table). */
const ATTRIBUTES = 400;
const IDENTITIES = 200;

const attributeNames = Array.from({ length: ATTRIBUTES }, (_, n) => `key${String(n)}`);

/** A plan whose one application's joining rules compare every one of `names`. */
function planComparing(names: string[]): string {
  return [
    'version: 1',
    'vault:',
    `  attributes: { ${['employeeId', ...names].map((name) => `${name}: {}`).join(', ')} }`,
    'applications:',
    '  - name: directory',
    '    type: ldap',
    '    objectClasses:',
    `      user: { attributes: { ${['employeeNumber', ...names.map((name) => `s${name}`)].map((name) => `${name}: {}`).join(', ')} } }`,
    '    joining:',
    '      - { name: employee number, all: [{ source: employeeNumber, vault: employeeId }] }',
    ...names.map(
      (name) => `      - { name: by ${name}, any: [{ source: s${name}, vault: ${name}, ignoreCase: true }] }`,
    ),
  ].join('\n');
}

describe('a plan applied by one tenant while another works (real PostgreSQL)', () => {
  let database: TestDatabase;
  let orm: MikroORM;
  let hostile: string;
  let bystander: string;

  const seedIdentities = async (tenantId: string, count: number) => {
    const rows = Array.from({ length: count }, (_, n) => {
      const id = randomUUID();
      return {
        id,
        tenant_id: tenantId,
        state: 'active',
        snapshot: {
          state: 'active',
          context: {
            tenantId,
            identityId: id,
            attributes: {
              employeeId: `E${String(n)}`,
              ...Object.fromEntries(attributeNames.map((name) => [name, `${name}-Value-${String(n)}`])),
            },
            sources: [],
            deletionDelayDays: 90,
          },
        },
      };
    });
    await sql`
      insert into identity (id, tenant_id, version, state, snapshot, created_at, updated_at)
      select id, tenant_id, 1, state, snapshot, now(), now()
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as u(id uuid, tenant_id uuid, state text, snapshot jsonb)`.execute(
      orm.em.getKysely(),
    );
    return rows.map((row) => row.id);
  };

  const identityColumns = async () =>
    (
      await sql<{ count: string }>`
        select count(*) from pg_attribute where attrelid = 'identity'::regclass and attnum > 0 and not attisdropped`.execute(
        orm.em.getKysely(),
      )
    ).rows[0]?.count;

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: true });
    orm = await openDatabase({ url: database.url, poolSize: 6, logger: silentLogger });
    await migrate(orm);
    hostile = (await createTenant(orm.em, { tenant: uniqueName('hostile') })).tenantId;
    bystander = (await createTenant(orm.em, { tenant: uniqueName('bystander') })).tenantId;
    await applyPlan(orm.em, {
      tenantId: bystander,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
      source: planComparing([]),
    });
    await seedIdentities(hostile, IDENTITIES);
    await seedIdentities(bystander, 50);
  });
  afterAll(async () => {
    await orm.close();
    await database.drop();
  });

  it("holds none of another tenant's reads or writes while its join keys are built", async () => {
    const plan = loadPlan(planComparing(attributeNames), 'plan.yaml').plan;
    // The apply's work, held open: everything it locks stays locked until this transaction ends.
    await orm.em
      .fork()
      .transactional(async (tx) => {
        await holdJoinKeys(tx, hostile);
        const change = await applyJoinKeys(tx, hostile, undefined, plan);
        expect(change.added).toHaveLength(ATTRIBUTES + 1);

        // Meanwhile the other tenant, on other connections, waiting at most 100 ms for any lock.
        const other = orm.em.fork();
        await other.transactional(async (bystanderTx) => {
          const k = bystanderTx.getKysely();
          await sql`set local lock_timeout = '100ms'`.execute(k);
          await holdJoinKeys(bystanderTx, bystander);
          const { rows } = await sql<{ id: string }>`
          select id from identity where tenant_id = ${bystander} limit 5`.execute(k);
          expect(rows).toHaveLength(5);
          await sql`update identity set version = version + 1, updated_at = now()
          where tenant_id = ${bystander} and id = ${rows[0]?.id}`.execute(k);
          await sql`insert into identity_join_key (tenant_id, attribute, value, identity_id)
          values (${bystander}, 'employeeId', 'E-new', ${rows[0]?.id})`.execute(k);
        });
        throw new RolledBack();
      })
      .catch((error: unknown) => {
        if (!(error instanceof RolledBack)) throw error;
      });
  });

  it('applies a plan comparing hundreds of attributes with no new column, and its keys find identities', async () => {
    const columns = await identityColumns();
    const started = Date.now();
    const applied = applyPlan(orm.em, {
      tenantId: hostile,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
      source: planComparing(attributeNames),
    });
    // The other tenant's reads while the plan is applied.
    const latencies: number[] = [];
    const apply = { done: false };
    void applied.finally(() => {
      apply.done = true;
    });
    while (!apply.done || latencies.length < 20) {
      const before = performance.now();
      await sql`select id from identity where tenant_id = ${bystander} order by id limit 10`.execute(
        orm.em.getKysely(),
      );
      latencies.push(performance.now() - before);
    }
    await applied;
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? 0;
    expect(
      p99,
      `p99 of ${String(latencies.length)} reads during a ${String(Date.now() - started)} ms apply`,
    ).toBeLessThan(100);
    expect(await identityColumns()).toBe(columns);

    const { rows } = await sql<{ count: string }>`
      select count(*) from identity_join_key where tenant_id = ${hostile}`.execute(orm.em.getKysely());
    expect(Number(rows[0]?.count)).toBe(IDENTITIES * (ATTRIBUTES + 1));
    const { rows: found } = await sql<{ identity_id: string }>`
      select identity_id from identity_join_key
      where tenant_id = ${hostile} and attribute = 'key7' and lower(value) = 'key7-value-3'`.execute(
      orm.em.getKysely(),
    );
    expect(found).toHaveLength(1);

    // The next plan compares one attribute only: the other keys go, again only this tenant's rows.
    await applyPlan(orm.em, {
      tenantId: hostile,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
      source: planComparing([]),
    });
    const { rows: left } = await sql<{ attribute: string; count: string }>`
      select attribute, count(*) from identity_join_key where tenant_id = ${hostile} group by attribute`.execute(
      orm.em.getKysely(),
    );
    expect(left).toEqual([{ attribute: 'employeeId', count: String(IDENTITIES) }]);
  });
});

class RolledBack extends Error {}
