import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import { buildApp, type App } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant, type IssuedServiceAccount } from '../../src/tenancy/tenants.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';

describe('HTTP API on PostgreSQL (real): service accounts and tenant isolation', () => {
  let database: TestDatabase;
  let orm: MikroORM;
  let app: App;
  let acme: IssuedServiceAccount;
  let globex: IssuedServiceAccount;

  const as = (account: IssuedServiceAccount) => ({ authorization: `Bearer ${account.apiKey}` });

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

  it('refuses a request without a bearer token, or with a forged one', async () => {
    const missing = await app.inject({ method: 'GET', url: '/v1/applications' });
    expect(missing.statusCode).toBe(401);
    expect(missing.json()).toMatchObject({ error: { code: 'JNY_UNAUTHENTICATED' } });
    const forged = acme.apiKey.slice(0, -4) + 'AAAA';
    const wrong = await app.inject({
      method: 'GET',
      url: '/v1/applications',
      headers: { authorization: `Bearer ${forged}` },
    });
    expect(wrong.statusCode).toBe(401);
  });

  it('shows each tenant its own tenant record', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/tenant', headers: as(acme) });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ id: acme.tenantId });
  });

  it("answers 404 to another tenant's application, for reading, changing and deleting", async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/v1/applications',
      headers: as(acme),
      payload: { name: 'Active Directory', type: 'active-directory' },
    });
    expect(created.statusCode).toBe(201);
    const { id } = created.json<{ id: string }>();

    expect(
      (await app.inject({ method: 'GET', url: `/v1/applications/${id}`, headers: as(acme) })).statusCode,
    ).toBe(200);
    expect(
      (await app.inject({ method: 'GET', url: `/v1/applications/${id}`, headers: as(globex) })).statusCode,
    ).toBe(404);
    const patch = await app.inject({
      method: 'PATCH',
      url: `/v1/applications/${id}`,
      headers: as(globex),
      payload: { mode: 'live' },
    });
    expect(patch.statusCode).toBe(404);
    expect(
      (await app.inject({ method: 'DELETE', url: `/v1/applications/${id}`, headers: as(globex) })).statusCode,
    ).toBe(404);

    const list = await app.inject({ method: 'GET', url: '/v1/applications', headers: as(globex) });
    expect(list.json()).toEqual({ items: [] });
    const mine = await app.inject({ method: 'GET', url: `/v1/applications/${id}`, headers: as(acme) });
    expect(mine.json()).toMatchObject({ id, mode: 'sandbox' });
  });

  it('lets two tenants use the same application name, but not one tenant twice', async () => {
    const payload = { name: 'Workday', type: 'csv' };
    expect(
      (await app.inject({ method: 'POST', url: '/v1/applications', headers: as(acme), payload })).statusCode,
    ).toBe(201);
    expect(
      (await app.inject({ method: 'POST', url: '/v1/applications', headers: as(globex), payload }))
        .statusCode,
    ).toBe(201);
    const again = await app.inject({ method: 'POST', url: '/v1/applications', headers: as(acme), payload });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({
      error: { code: 'JNY_CONFLICT', message: 'an application named "Workday" already exists' },
    });
  });

  it('rejects a bad body with a message naming the field', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/applications',
      headers: as(acme),
      payload: { name: 'HR', type: 'mainframe' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: { code: 'JNY_VALIDATION' } });
    expect(response.json<{ error: { message: string } }>().error.message).toMatch(/body\/type/);
  });

  it('issues a new service account key once and stops accepting it when revoked', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/v1/service-accounts',
      headers: as(acme),
      payload: { name: 'ci' },
    });
    expect(created.statusCode).toBe(201);
    const { id, apiKey } = created.json<{ id: string; apiKey: string }>();
    const withKey = { authorization: `Bearer ${apiKey}` };
    expect((await app.inject({ method: 'GET', url: '/v1/tenant', headers: withKey })).json()).toMatchObject({
      id: acme.tenantId,
    });

    const listed = await app.inject({ method: 'GET', url: '/v1/service-accounts', headers: as(acme) });
    expect(JSON.stringify(listed.json())).not.toContain(apiKey.slice(-43));

    expect(
      (await app.inject({ method: 'DELETE', url: `/v1/service-accounts/${id}`, headers: as(globex) }))
        .statusCode,
    ).toBe(404);
    expect(
      (await app.inject({ method: 'DELETE', url: `/v1/service-accounts/${id}`, headers: as(acme) }))
        .statusCode,
    ).toBe(204);
    expect((await app.inject({ method: 'GET', url: '/v1/tenant', headers: withKey })).statusCode).toBe(401);
  });
});
