import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { logRow } from '../../streams/logstream.ts';
import type { OutboxRow } from '../../streams/outbox.ts';
import { buildApp, type App } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { projectRoot } from '../../src/infra/process.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant, type IssuedServiceAccount } from '../../src/tenancy/tenants.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';

const example = readFileSync(join(projectRoot, 'docs/examples/sync-plan.yaml'), 'utf8');

describe('sync plan versions through the HTTP API (real PostgreSQL)', () => {
  let database: TestDatabase;
  let orm: MikroORM;
  let app: App;
  let acme: IssuedServiceAccount;
  let globex: IssuedServiceAccount;

  const put = (account: IssuedServiceAccount, payload: string, contentType = 'application/yaml') =>
    app.inject({
      method: 'PUT',
      url: '/v1/plan',
      headers: { authorization: `Bearer ${account.apiKey}`, 'content-type': contentType },
      payload,
    });
  const get = (account: IssuedServiceAccount, url: string) =>
    app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${account.apiKey}` } });

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: true });
    orm = await openDatabase({ url: database.url, poolSize: 4, logger: silentLogger });
    await migrate(orm);
    app = await buildApp({ orm, readiness: createReadiness({}), logger: silentLogger });
    acme = await createTenant(orm.em, { tenant: uniqueName('acme') });
    globex = await createTenant(orm.em, { tenant: uniqueName('globex') });
  });
  afterAll(async () => {
    await app.close();
    await orm.close();
    await database.drop();
  });

  it('keeps every applied version with who applied it and the diff, and refuses an invalid plan without changing the one in force', async () => {
    const first = await put(acme, example);
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({
      version: 1,
      changed: true,
      appliedBy: `service-account:${acme.serviceAccountId}`,
      diff: '',
    });

    // The plan's applications exist as application records, with the ids connectors send.
    const { applications } = first.json<{ applications: { name: string; id: string }[] }>();
    expect(applications.map((a) => a.name)).toEqual(['workday', 'active-directory', 'salesforce']);
    const listed = await get(acme, '/v1/applications');
    expect(listed.json<{ items: { id: string; name: string }[] }>().items).toEqual(
      expect.arrayContaining(
        applications.map((a) => expect.objectContaining({ id: a.id, name: a.name }) as unknown),
      ),
    );

    const again = await put(acme, example);
    expect(again.json<{ applications: { id: string }[] }>().applications.map((a) => a.id)).toEqual(
      applications.map((a) => a.id),
    );
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ version: 1, changed: false });

    const broken = example.replace(
      'source.FirstName + " " + source.LastName',
      'source.FirstName + source.Nickname',
    );
    const refused = await put(acme, broken);
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({
      error: {
        code: 'JNY_PLAN_INVALID',
        details: {
          problems: [
            {
              line: expect.any(Number) as number,
              path: 'applications[0].inbound[4].expression',
              message:
                'expression "source.FirstName + source.Nickname" does not compile: No such key: Nickname',
            },
          ],
        },
      },
    });
    expect((await get(acme, '/v1/plan')).json()).toMatchObject({ version: 1 });

    const renamed = example.replace('name: by worker id', 'name: by worker number');
    const second = await put(acme, renamed);
    expect(second.statusCode).toBe(201);
    const { diff } = second.json<{ diff: string }>();
    expect(diff).toContain('-      - name: by worker id');
    expect(diff).toContain('+      - name: by worker number');

    const versions = await get(acme, '/v1/plan/versions');
    expect(versions.json<{ versions: { version: number }[] }>().versions.map((v) => v.version)).toEqual([
      2, 1,
    ]);
    const one = await get(acme, '/v1/plan/versions/1');
    expect(one.json()).toMatchObject({ version: 1, source: example });
    expect((await get(acme, '/v1/plan')).json()).toMatchObject({ version: 2, document: { version: 1 } });
  });

  it('accepts the same plan as JSON', async () => {
    const json = JSON.stringify({
      version: 1,
      vault: { attributes: { mail: { type: 'string' } } },
      applications: [
        {
          name: 'hr',
          type: 'csv',
          objectClasses: { person: { attributes: { email: {} } } },
          inbound: [{ vault: 'mail', from: 'email' }],
        },
      ],
    });
    const response = await put(globex, json, 'application/json');
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ version: 1 });
  });

  it('leaves the name and mode of the applications it defines to the plan, and reports its reconciliation', async () => {
    const tenant = await createTenant(orm.em, { tenant: uniqueName('umbrella') });
    expect((await get(tenant, '/v1/plan/reconciliation')).statusCode).toBe(404);
    const applied = await put(tenant, example);
    expect(applied.json()).toMatchObject({ version: 1, reconciles: true });
    expect((await get(tenant, '/v1/plan/reconciliation')).json()).toMatchObject({
      planVersion: 1,
      identities: 0,
      completedAt: null,
    });
    const salesforce = applied
      .json<{ applications: { name: string; id: string }[] }>()
      .applications.find((a) => a.name === 'salesforce');
    const patch = (id: string, payload: Record<string, string>) =>
      app.inject({
        method: 'PATCH',
        url: `/v1/applications/${id}`,
        headers: { authorization: `Bearer ${tenant.apiKey}` },
        payload,
      });
    const refused = await patch(salesforce?.id ?? '', { mode: 'live' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({
      error: {
        code: 'JNY_CONFLICT',
        message:
          'application "salesforce" is defined by the sync plan (version 1): change its name or mode there and apply it',
      },
    });
    expect((await get(tenant, `/v1/applications/${salesforce?.id ?? ''}`)).json()).toMatchObject({
      mode: 'sandbox',
    });
    // An application the plan does not name is the API's to change.
    const other = await app.inject({
      method: 'POST',
      url: '/v1/applications',
      headers: { authorization: `Bearer ${tenant.apiKey}` },
      payload: { name: 'legacy-crm', type: 'sql' },
    });
    expect((await patch(other.json<{ id: string }>().id, { mode: 'live' })).json()).toMatchObject({
      mode: 'live',
    });
  });

  it('tells the logstream of each version applied, in the transaction that applies it', async () => {
    const tenant = await createTenant(orm.em, { tenant: uniqueName('hooli') });
    /** The tenant's logstream events waiting in the outbox (no relay runs here), oldest first. */
    const told = async () => {
      const { rows } = await sql<{ value: Buffer }>`
        select value from outbox_message where topic = 'joinery.logstream' and tenant_id = ${tenant.tenantId}
        order by outbox_id, position`.execute(orm.em.getKysely());
      return rows.map((row) => JSON.parse(row.value.toString('utf8')) as Record<string, unknown>);
    };
    expect((await put(tenant, example)).statusCode).toBe(201);
    expect(await told()).toEqual([
      expect.objectContaining({
        category: 'admin',
        stage: 'admin',
        outcome: 'succeeded',
        message: 'sync plan version 1 applied',
        actor: { kind: 'service-account', id: tenant.serviceAccountId },
      }),
    ]);
    // The same text again and an invalid plan apply nothing, and tell nothing.
    expect((await put(tenant, example)).statusCode).toBe(200);
    expect((await put(tenant, 'version: 1\napplications: nope\n')).statusCode).toBe(400);
    expect(await told()).toHaveLength(1);

    // An apply whose transaction rolls back leaves neither the version nor its event.
    const renamed = example.replace('name: by worker id', 'name: by worker number');
    const tell = (version: number): OutboxRow[] => [
      logRow({ topic: 'joinery.logstream', source: '/test' }, `plan/${String(version)}`, {
        tenantId: tenant.tenantId,
        at: new Date().toISOString(),
        level: 'info',
        category: 'admin',
        stage: 'admin',
        outcome: 'succeeded',
        message: `sync plan version ${String(version)} applied`,
      }),
    ];
    const rolledBack = orm.em.fork().transactional(async (tx) => {
      const applied = await applyPlan(tx, {
        tenantId: tenant.tenantId,
        source: renamed,
        sourceName: 'renamed.yaml',
        appliedBy: 'test',
        tell,
      });
      expect(applied).toMatchObject({ version: 2, changed: true });
      throw new Error('the caller fails after the apply');
    });
    await expect(rolledBack).rejects.toThrow('the caller fails after the apply');
    expect((await get(tenant, '/v1/plan')).json()).toMatchObject({ version: 1 });
    expect(await told()).toHaveLength(1);
    // Committed, the version and its event exist together.
    await applyPlan(orm.em, {
      tenantId: tenant.tenantId,
      source: renamed,
      sourceName: 'renamed.yaml',
      appliedBy: 'test',
      tell,
    });
    expect((await get(tenant, '/v1/plan')).json()).toMatchObject({ version: 2 });
    expect((await told()).map((event) => event.message)).toEqual([
      'sync plan version 1 applied',
      'sync plan version 2 applied',
    ]);
  });

  it("never shows a tenant another tenant's plan", async () => {
    const fresh = await createTenant(orm.em, { tenant: uniqueName('initech') });
    const response = await get(fresh, '/v1/plan');
    expect(response.statusCode).toBe(404);
    expect((await get(fresh, '/v1/plan/versions')).json()).toEqual({ versions: [] });
    expect((await get(fresh, '/v1/plan/versions/1')).statusCode).toBe(404);
  });
});
