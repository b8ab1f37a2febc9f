import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import { buildApp, type App } from '../../src/api/app.ts';
import { defaultLimits } from '../../src/config/config.schema.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { projectRoot } from '../../src/infra/process.ts';
import { ServiceAccount } from '../../src/storage/entities/service-account.entity.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import type { Scope } from '../../src/tenancy/scopes.ts';
import { createTenant, type IssuedServiceAccount } from '../../src/tenancy/tenants.ts';
import { routesOf } from '../support/api-routes.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';

/**
 * The scope each route needs: the access policy docs/api.md states. A route the app has and this table
 * does not (or the other way round) fails the first test, so a new route cannot skip its declaration.
 */
const documented: Record<string, Scope> = {
  'GET /v1/tenant': 'read',
  'GET /v1/applications': 'read',
  'POST /v1/applications': 'write',
  'GET /v1/applications/:id': 'read',
  'PATCH /v1/applications/:id': 'write',
  'DELETE /v1/applications/:id': 'write',
  'GET /v1/applications/:id/summary': 'read',
  'GET /v1/applications/:id/objects': 'read',
  'GET /v1/applications/:id/objects/:externalId': 'read',
  'POST /v1/applications/:id/rejoin': 'write',
  'POST /v1/applications/:id/runs': 'write',
  'POST /v1/applications/:id/imports': 'write',
  'POST /v1/joins/resolve': 'write',
  'GET /v1/applications/:id/scim-tokens': 'admin',
  'POST /v1/applications/:id/scim-tokens': 'admin',
  'DELETE /v1/applications/:id/scim-tokens/:tokenId': 'admin',
  'GET /v1/service-accounts': 'admin',
  'POST /v1/service-accounts': 'admin',
  'POST /v1/service-accounts/:id/rotate': 'admin',
  'DELETE /v1/service-accounts/:id': 'admin',
  'GET /v1/plan': 'read',
  'PUT /v1/plan': 'admin',
  'GET /v1/plan/reconciliation': 'read',
  'GET /v1/plan/versions': 'read',
  'GET /v1/plan/versions/:id': 'read',
  'GET /v1/identities': 'read',
  'GET /v1/identities/:id': 'read',
  'GET /v1/identities/:id/history': 'read',
  'GET /v1/audit': 'read',
  'DELETE /v1/identities/:id/timers/:timerId': 'write',
  'GET /v1/groups': 'read',
  'GET /v1/groups/:id': 'read',
  'POST /v1/joins': 'write',
  'POST /v1/joins/unjoin': 'write',
  'GET /v1/exports': 'read',
  'POST /v1/exports/approve': 'approve',
  'POST /v1/exports/cancel': 'approve',
  'GET /v1/runs': 'read',
  'GET /v1/runs/:id': 'read',
  'GET /v1/runs/:id/deletions': 'read',
  'GET /v1/runs/:id/errors': 'read',
  'POST /v1/runs/:id/release': 'approve',
  'POST /v1/runs/:id/discard': 'approve',
  'POST /v1/streams/tokens': 'read',
  'GET /v1/schedules': 'read',
  'POST /v1/schedules': 'write',
  'DELETE /v1/schedules/:id': 'write',
  'GET /v1/siem/destinations': 'admin',
  'POST /v1/siem/destinations': 'admin',
  'GET /v1/siem/destinations/:id': 'admin',
  'PUT /v1/siem/destinations/:id': 'admin',
  'DELETE /v1/siem/destinations/:id': 'admin',
  'GET /v1/connectors': 'read',
  'POST /v1/connectors': 'admin',
  'GET /v1/connectors/:id': 'read',
  'POST /v1/connectors/:id/revoke': 'admin',
};

// Parameter names and a trailing slash aside (the route tree merges both).
const normal = (route: string) => route.replace(/:[A-Za-z]+/g, ':id').replace(/\/$/, '');
const policy: Record<string, Scope> = Object.fromEntries(
  Object.entries(documented).map(([route, scope]) => [normal(route), scope]),
);

/** Keys whose scopes do not grant the one needed. */
const tooSmall: Record<Scope, Scope[]> = {
  read: [],
  write: ['read', 'approve'],
  approve: ['read', 'write'],
  admin: ['read', 'write', 'approve'],
};

describe('HTTP API on PostgreSQL (real): scopes, key rotation and recovery', () => {
  let database: TestDatabase;
  let orm: MikroORM;
  let app: App;
  let clock = new Date('2026-12-06T12:00:00Z');
  let acme: IssuedServiceAccount & { tenantName: string };
  let globex: IssuedServiceAccount;
  const acmeKeys = new Map<Scope, { id: string; apiKey: string }>();
  /** Every id and name of acme's that another tenant must never see. */
  const acmeData: string[] = [];
  const ids: Record<string, string> = {};

  const bearer = (apiKey: string) => ({ authorization: `Bearer ${apiKey}` });
  const request = (method: string, url: string, apiKey?: string, payload?: unknown) =>
    app.inject({
      method: method as 'GET',
      url,
      ...(apiKey === undefined ? {} : { headers: bearer(apiKey) }),
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: true });
    orm = await openDatabase({ url: database.url, poolSize: 4, logger: silentLogger });
    await migrate(orm);
    // The matrix sends many unauthenticated requests from one address: its failure limit is out of the way.
    const limits = defaultLimits();
    limits.failedAuthentication.max = 100_000;
    app = await buildApp({
      orm,
      readiness: createReadiness({}),
      logger: silentLogger,
      limits,
      now: () => clock,
    });
    acme = await createTenant(orm.em, { tenant: uniqueName('acme') });
    globex = await createTenant(orm.em, { tenant: uniqueName('globex') });
    for (const scope of ['read', 'write', 'approve'] as const) {
      const created = await request('POST', '/v1/service-accounts', acme.apiKey, {
        name: uniqueName(scope),
        scopes: [scope],
      });
      expect(created.statusCode).toBe(201);
      const body = created.json<{ id: string; apiKey: string; scopes: Scope[] }>();
      expect(body.scopes).toEqual([scope]);
      acmeKeys.set(scope, body);
      acmeData.push(body.id);
    }
    const appName = uniqueName('hr');
    const application = await request('POST', '/v1/applications', acme.apiKey, {
      name: appName,
      type: 'csv',
    });
    ids.application = application.json<{ id: string }>().id;
    const connector = await request('POST', '/v1/connectors', acme.apiKey, {
      name: uniqueName('agent'),
      applications: [appName],
    });
    expect(connector.statusCode).toBe(201);
    ids.connector = connector.json<{ connectorId: string }>().connectorId;
    const schedule = await request('POST', '/v1/schedules', acme.apiKey, {
      applicationId: ids.application,
      kind: 'full',
      cron: '0 * * * *',
    });
    expect(schedule.statusCode).toBe(201);
    ids.schedule = schedule.json<{ id: string }>().id;
    const destination = await request('POST', '/v1/siem/destinations', acme.apiKey, {
      kind: 'kafka',
      name: uniqueName('siem'),
      format: 'ocsf',
      settings: {},
    });
    expect(destination.statusCode).toBe(201);
    ids.siemDestination = destination.json<{ id: string }>().id;
    acmeData.push(acme.tenantId, acme.tenantName, acme.serviceAccountId, appName, ...Object.values(ids));
  });
  afterAll(async () => {
    await app.close();
    await orm.close();
    await database.drop();
  });

  /** A URL of the route with acme's own ids in its parameters. */
  function urlOf(path: string): string {
    return path
      .replace(/\/v1\/applications\/:[A-Za-z]+/, `/v1/applications/${ids.application ?? ''}`)
      .replace(/\/v1\/connectors\/:[A-Za-z]+/, `/v1/connectors/${ids.connector ?? ''}`)
      .replace(/\/v1\/schedules\/:[A-Za-z]+/, `/v1/schedules/${ids.schedule ?? ''}`)
      .replace(/\/v1\/siem\/destinations\/:[A-Za-z]+/, `/v1/siem/destinations/${ids.siemDestination ?? ''}`)
      .replace(/\/v1\/service-accounts\/:[A-Za-z]+/, `/v1/service-accounts/${acmeKeys.get('read')?.id ?? ''}`)
      .replace(/\/v1\/plan\/versions\/:[A-Za-z]+/, '/v1/plan/versions/1')
      .replace(/:externalId/, 'uid=ada')
      .replace(/:[A-Za-z]+/g, () => randomUUID());
  }

  /** A body the route accepts, so another tenant's request reaches the tenancy check, not validation. */
  function bodyOf(route: string): unknown {
    const bodies: Record<string, unknown> = {
      'POST /v1/applications': { name: uniqueName('app'), type: 'csv' },
      'PATCH /v1/applications/:id': { name: uniqueName('app') },
      'POST /v1/applications/:id/runs': { kind: 'full' },
      'POST /v1/service-accounts': { name: uniqueName('sa') },
      'POST /v1/service-accounts/:id/rotate': { overlapSeconds: 60 },
      'POST /v1/connectors': { name: uniqueName('agent'), applications: [] },
      'POST /v1/schedules': { applicationId: ids.application, kind: 'full', cron: '0 * * * *' },
      'POST /v1/siem/destinations': { kind: 'kafka', name: uniqueName('siem'), format: 'ocsf', settings: {} },
      'PUT /v1/siem/destinations/:id': {
        kind: 'kafka',
        name: uniqueName('siem'),
        format: 'ocsf',
        settings: {},
      },
      'POST /v1/exports/approve': { ids: [randomUUID()] },
      'POST /v1/exports/cancel': { ids: [randomUUID()] },
      'POST /v1/joins': { applicationId: ids.application, externalId: 'uid=ada', identityId: randomUUID() },
      'POST /v1/joins/unjoin': { applicationId: ids.application, externalId: 'uid=ada' },
      'POST /v1/joins/resolve': {
        applicationId: ids.application,
        externalId: 'uid=ada',
        identityId: randomUUID(),
      },
    };
    return bodies[route] ?? (route.startsWith('POST') || route.startsWith('PATCH') ? {} : undefined);
  }

  const authenticatedRoutes = () =>
    routesOf(app)
      .filter(({ path }) => path.startsWith('/v1/') && !/^\/v1\/(schemas|agent)(\/|$)/.test(path))
      // The live stream socket authenticates with a stream token, not an API key (its own tests).
      .filter(({ method, path }) => !(method === 'GET' && path === '/v1/streams'))
      .map(({ method, path }) => ({ method, path, route: normal(`${method} ${path}`) }));

  it('declares a scope for every route behind authentication, as the documented policy says', () => {
    const routes = authenticatedRoutes().map(({ route }) => route);
    expect(routes.length).toBeGreaterThan(35);
    expect([...new Set(routes)].sort()).toEqual(Object.keys(policy).sort());
  });

  /** The body of an answer: nothing of acme's but what the request itself carried (URL or body). */
  function expectNothingOfAcme(sent: string, body: string, label: string): void {
    for (const value of acmeData)
      if (!sent.includes(value)) expect(body, `${label} shows ${value}`).not.toContain(value);
  }

  describe('every route × {no credentials, another tenant’s key, a key with too small a scope}', () => {
    it('answers 401 without credentials, in the error shape', async () => {
      for (const { method, path, route } of authenticatedRoutes()) {
        const url = urlOf(path);
        const answer = await request(method, url, undefined, bodyOf(route));
        expect(answer.statusCode, route).toBe(401);
        expect(answer.json(), route).toMatchObject({ error: { code: 'JNY_UNAUTHENTICATED' } });
        expectNothingOfAcme(url, answer.body, route);
      }
    });

    it('answers 403 naming the scope needed to a key without it, before reading anything', async () => {
      let cells = 0;
      for (const { method, path, route } of authenticatedRoutes()) {
        const needed = policy[route] ?? 'admin';
        for (const held of tooSmall[needed]) {
          const url = urlOf(path);
          const answer = await request(method, url, acmeKeys.get(held)?.apiKey, bodyOf(route));
          expect(answer.statusCode, `${route} with ${held}`).toBe(403);
          const error = answer.json<{ error: { code: string; message: string; details: unknown } }>().error;
          expect(error.code).toBe('JNY_FORBIDDEN');
          expect(error.message).toContain(`"${needed}"`);
          expect(error.details).toMatchObject({ requiredScope: needed });
          expectNothingOfAcme(url, answer.body, `${route} with ${held}`);
          cells++;
        }
      }
      expect(cells).toBeGreaterThan(30);
    });

    it("answers 404 to another tenant's admin key on every route that names one of acme's resources, and shows acme's data nowhere", async () => {
      for (const { method, path, route } of authenticatedRoutes()) {
        const url = urlOf(path);
        const payload = bodyOf(route);
        const answer = await request(method, url, globex.apiKey, payload);
        if (path.includes(':')) {
          expect([401, 403, 404], `${route}: ${answer.body}`).toContain(answer.statusCode);
        } else {
          expect(answer.statusCode, `${route}: ${answer.body}`).toBeLessThan(500);
        }
        expectNothingOfAcme(url + JSON.stringify(payload ?? null), answer.body, route);
      }
      // And acme's resources are all still there.
      const application = await request('GET', `/v1/applications/${ids.application ?? ''}`, acme.apiKey);
      expect(application.statusCode).toBe(200);
      const accounts = await request('GET', '/v1/service-accounts', acme.apiKey);
      expect(
        accounts
          .json<{ items: { id: string; revokedAt: string | null }[] }>()
          .items.every((account) => account.revokedAt === null),
      ).toBe(true);
    });

    it('lets each scope do what it grants', async () => {
      expect((await request('GET', '/v1/applications', acmeKeys.get('read')?.apiKey)).statusCode).toBe(200);
      expect((await request('GET', '/v1/exports', acmeKeys.get('approve')?.apiKey)).statusCode).toBe(200);
      // Past the scope check: an unknown export is the answer, not a refusal.
      const approve = await request('POST', '/v1/exports/approve', acmeKeys.get('approve')?.apiKey, {
        ids: [randomUUID()],
      });
      expect(approve.json(), approve.body).not.toMatchObject({ error: { code: 'JNY_FORBIDDEN' } });
      expect([200, 404]).toContain(approve.statusCode);
      const patch = await request(
        'PATCH',
        `/v1/applications/${ids.application ?? ''}`,
        acmeKeys.get('write')?.apiKey,
        { mode: 'live' },
      );
      expect(patch.statusCode).toBe(200);
    });
  });

  describe('service account keys', () => {
    it('issues read keys by default and lists scopes, never a secret', async () => {
      const created = await request('POST', '/v1/service-accounts', acme.apiKey, { name: uniqueName('ci') });
      expect(created.json()).toMatchObject({ scopes: ['read'] });
      const { apiKey } = created.json<{ apiKey: string }>();
      const listed = await request('GET', '/v1/service-accounts', acme.apiKey);
      expect(listed.body).not.toContain(apiKey.slice(-43));
      expect(listed.json<{ items: { scopes: Scope[] }[] }>().items[0]).toMatchObject({ scopes: ['admin'] });
    });

    it("refuses to revoke the tenant's last admin key, itself included, and lets a key revoke itself while another admin remains", async () => {
      const tenant = await createTenant(orm.em, { tenant: uniqueName('solo') });
      const last = await request('DELETE', `/v1/service-accounts/${tenant.serviceAccountId}`, tenant.apiKey);
      expect(last.statusCode).toBe(409);
      expect(last.json()).toMatchObject({ error: { code: 'JNY_CONFLICT' } });
      expect(last.json<{ error: { message: string } }>().error.message).toMatch(/last admin key/);
      expect((await request('GET', '/v1/tenant', tenant.apiKey)).statusCode).toBe(200);

      const second = await request('POST', '/v1/service-accounts', tenant.apiKey, {
        name: 'second admin',
        scopes: ['admin'],
      });
      const other = second.json<{ id: string; apiKey: string }>();
      const itself = await request(
        'DELETE',
        `/v1/service-accounts/${tenant.serviceAccountId}`,
        tenant.apiKey,
      );
      expect(itself.statusCode).toBe(204);
      expect((await request('GET', '/v1/tenant', tenant.apiKey)).statusCode).toBe(401);
      // Now the second is the last one.
      expect((await request('DELETE', `/v1/service-accounts/${other.id}`, other.apiKey)).statusCode).toBe(
        409,
      );
    });

    it('keeps the old secret of a rotated key working until the overlap ends, then only the new one', async () => {
      const created = await request('POST', '/v1/service-accounts', acme.apiKey, {
        name: uniqueName('rotating'),
        scopes: ['read'],
      });
      const { id, apiKey: oldKey } = created.json<{ id: string; apiKey: string }>();
      const rotated = await request('POST', `/v1/service-accounts/${id}/rotate`, acme.apiKey, {
        overlapSeconds: 3600,
      });
      expect(rotated.statusCode).toBe(200);
      const { apiKey: newKey, previousKeyExpiresAt } = rotated.json<{
        apiKey: string;
        previousKeyExpiresAt: string;
      }>();
      expect(newKey).not.toBe(oldKey);
      expect(previousKeyExpiresAt).toBe(new Date(clock.getTime() + 3600_000).toISOString());
      expect((await request('GET', '/v1/tenant', oldKey)).statusCode).toBe(200);
      expect((await request('GET', '/v1/tenant', newKey)).statusCode).toBe(200);

      const start = clock;
      try {
        clock = new Date(start.getTime() + 3600_000 - 1000);
        expect((await request('GET', '/v1/tenant', oldKey)).statusCode).toBe(200);
        clock = new Date(start.getTime() + 3600_000);
        expect((await request('GET', '/v1/tenant', oldKey)).statusCode).toBe(401);
        expect((await request('GET', '/v1/tenant', newKey)).statusCode).toBe(200);
      } finally {
        clock = start;
      }

      // Without a body the overlap is a day.
      const again = await request('POST', `/v1/service-accounts/${id}/rotate`, acme.apiKey);
      expect(again.statusCode).toBe(200);
      expect(again.json<{ previousKeyExpiresAt: string }>().previousKeyExpiresAt).toBe(
        new Date(clock.getTime() + 86_400_000).toISOString(),
      );
    });

    it('records when a key was last used, at most once a minute', async () => {
      const created = await request('POST', '/v1/service-accounts', acme.apiKey, {
        name: uniqueName('used'),
      });
      const { id, apiKey } = created.json<{ id: string; apiKey: string }>();
      const lastUsed = async () =>
        (await orm.em.fork().findOneOrFail(ServiceAccount, { id }, { filters: false })).lastUsedAt;
      expect(await lastUsed()).toBeNull();

      const start = clock;
      try {
        await request('GET', '/v1/tenant', apiKey);
        expect(await lastUsed()).toEqual(start);
        clock = new Date(start.getTime() + 30_000);
        await request('GET', '/v1/tenant', apiKey);
        expect(await lastUsed()).toEqual(start); // not written again within the minute
        clock = new Date(start.getTime() + 61_000);
        await request('GET', '/v1/tenant', apiKey);
        expect(await lastUsed()).toEqual(clock);
      } finally {
        clock = start;
      }
      const listed = await request('GET', '/v1/service-accounts', acme.apiKey);
      const account = listed
        .json<{ items: { id: string; lastUsedAt: string | null }[] }>()
        .items.find((item) => item.id === id);
      expect(account?.lastUsedAt).toBe(new Date(start.getTime() + 61_000).toISOString());
    });
  });

  describe('joinery tenant key', () => {
    async function joinery(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
      const child = spawn(process.execPath, [join(projectRoot, 'src/cli/main.ts'), ...args], {
        cwd: tmpdir(),
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', DATABASE_URL: database.url },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      return { code, stdout, stderr };
    }

    it('issues a working key for an existing tenant, by name or id, with the scopes asked for', async () => {
      const byName = await joinery(['tenant', 'key', acme.tenantName, '--json']);
      expect(byName.code, byName.stderr).toBe(0);
      const admin = JSON.parse(byName.stdout) as { apiKey: string; tenantId: string; scopes: Scope[] };
      expect(admin).toMatchObject({ tenantId: acme.tenantId, scopes: ['admin'] });
      expect((await request('GET', '/v1/service-accounts', admin.apiKey)).statusCode).toBe(200);

      const byId = await joinery(['tenant', 'key', acme.tenantId, '--scopes', 'read', '--json']);
      expect(byId.code, byId.stderr).toBe(0);
      const reader = JSON.parse(byId.stdout) as { apiKey: string };
      expect((await request('GET', '/v1/tenant', reader.apiKey)).json()).toMatchObject({ id: acme.tenantId });
      expect((await request('GET', '/v1/service-accounts', reader.apiKey)).statusCode).toBe(403);

      const unknown = await joinery(['tenant', 'key', uniqueName('nobody')]);
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr).toMatch(/no tenant named or with id/);
      const badScope = await joinery(['tenant', 'key', acme.tenantName, '--scopes', 'root']);
      expect(badScope.code).not.toBe(0);
      expect(badScope.stderr).toMatch(/--scopes: "root" is not a scope/);
    });
  });
});
