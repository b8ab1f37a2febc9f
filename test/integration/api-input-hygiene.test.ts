// Hostile input at the HTTP edge, against the real API on PostgreSQL: every refusal is a 4xx in the
// documented error shape with a stable code, says what was wrong and where, and stores nothing.
import { connect } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { buildApp, type App } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant, type IssuedServiceAccount } from '../../src/tenancy/tenants.ts';
import { isErrorCode } from '../../kernel/errors.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';
import { routesOf } from '../support/api-routes.ts';

interface Answer {
  status: number;
  body: string;
}

/** The answer is a refusal (4xx) in the documented shape: a catalogued code, a message, optional details. */
function expectRefusal(answer: Answer, status?: number, code?: string): { code: string; message: string } {
  expect(answer.status, answer.body).toBeGreaterThanOrEqual(400);
  expect(answer.status, answer.body).toBeLessThan(500);
  if (status !== undefined) expect(answer.status, answer.body).toBe(status);
  const body = JSON.parse(answer.body) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).filter((key) => !['code', 'message', 'details'].includes(key))).toEqual([]);
  expect(isErrorCode(body.error.code), body.error.code).toBe(true);
  if (code !== undefined) expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message).not.toMatch(/\n\s+at /); // never a stack trace
  return body.error;
}

/** One raw HTTP request over a socket: what Node's HTTP parser answers never reaches app.inject(). */
function rawRequest(port: number, request: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(request));
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
  });
}

/** A SCIM refusal (RFC 7644 §3.12): the Error schema, status as a string, a detail, never a stack trace. */
function expectScimRefusal(answer: Answer): { detail: string; status: string } {
  expect(answer.status, answer.body).toBeGreaterThanOrEqual(400);
  expect(answer.status, answer.body).toBeLessThan(500);
  const body = JSON.parse(answer.body) as { schemas: string[]; status: string; detail: string };
  expect(body.schemas).toEqual(['urn:ietf:params:scim:api:messages:2.0:Error']);
  expect(body.status).toBe(String(answer.status));
  expect(body.detail).not.toMatch(/\n\s+at /);
  return body;
}

const NUL = 'x\u0000y';
const LONE_SURROGATE = 'x\ud800y';

describe('HTTP API input hygiene (real PostgreSQL): hostile input answers 4xx in the error shape', () => {
  let database: TestDatabase;
  let orm: MikroORM;
  let app: App;
  let port: number;
  let acme: IssuedServiceAccount;
  let applicationId: string;
  let applicationName: string;
  let scimToken = '';
  const auth = () => ({ authorization: `Bearer ${acme.apiKey}` });

  const send = async (
    method: string,
    url: string,
    payload?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> => {
    const response = await app.inject({
      method: method as 'GET',
      url,
      headers: { ...auth(), ...headers },
      ...(payload === undefined ? {} : { payload: payload as string }),
    });
    return { status: response.statusCode, body: response.body };
  };

  // What a refused write must not leave behind.
  const storedTables = [
    'application',
    'service_account',
    'connector',
    'schedule',
    'import_run',
    'plan_version',
    'identity_source',
    'outbox',
  ];
  const countRows = async (): Promise<Record<string, number>> => {
    const counts: Record<string, number> = {};
    for (const table of storedTables) {
      const { rows } = await sql<{
        count: string;
      }>`select count(*) as count from ${sql.table(table)}`.execute(orm.em.getKysely());
      counts[table] = Number(rows[0]?.count);
    }
    return counts;
  };

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: true });
    orm = await openDatabase({ url: database.url, poolSize: 4, logger: silentLogger });
    await migrate(orm);
    app = await buildApp({ orm, readiness: createReadiness({}), logger: silentLogger });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    port = typeof address === 'object' && address !== null ? address.port : 0;
    acme = await createTenant(orm.em, { tenant: uniqueName('acme') });
    applicationName = uniqueName('hr');
    const created = await send('POST', '/v1/applications', { name: applicationName, type: 'csv' });
    expect(created.status).toBe(201);
    applicationId = (JSON.parse(created.body) as { id: string }).id;
    const scimApplication = await send('POST', '/v1/applications', { name: uniqueName('idp'), type: 'scim' });
    const scimApplicationId = (JSON.parse(scimApplication.body) as { id: string }).id;
    scimToken = (
      JSON.parse((await send('POST', `/v1/applications/${scimApplicationId}/scim-tokens`)).body) as {
        token: string;
      }
    ).token;
  });
  afterAll(async () => {
    await app.close();
    await orm.close();
    await database.drop();
  });

  describe('every route, every path parameter', () => {
    it('refuses a NUL character, a lone surrogate and a urn:uuid: id in any path parameter with a 4xx', async () => {
      const routes = routesOf(app).filter((route) => route.path.includes(':'));
      expect(routes.length).toBeGreaterThan(20);
      for (const { method, path } of routes) {
        const params = path.match(/:[A-Za-z]+/g) ?? [];
        for (let position = 0; position < params.length; position++) {
          for (const bad of [NUL, LONE_SURROGATE, `urn:uuid:${randomUUID()}`]) {
            let index = 0;
            const url = path.replace(/:[A-Za-z]+/g, () =>
              index++ === position
                ? bad === LONE_SURROGATE
                  ? 'x%ED%A0%80y' // how a lone surrogate travels in a URL: bytes that are not UTF-8
                  : encodeURIComponent(bad)
                : applicationId,
            );
            const body = ['POST', 'PUT', 'PATCH'].includes(method) ? {} : undefined;
            if (path.startsWith('/scim/')) {
              // The SCIM server answers in SCIM's error shape, to its own tokens (scim-server.test.ts).
              const scim = await send(method, url, body, { authorization: `Bearer ${scimToken}` });
              const refusal = expectScimRefusal(scim);
              if (bad === NUL)
                expect(refusal.detail, `${method} ${url}`).toMatch(/^params\/\w+: contains a NUL/);
              continue;
            }
            const answer = await send(method, url, body);
            // A WebSocket route refuses a plain GET; anything else must be the refusal, in the shape.
            if (path.endsWith('/channel')) continue;
            const error = expectRefusal(answer);
            if (bad === NUL)
              expect(error.message, `${method} ${url}`).toMatch(/^params\/\w+: contains a NUL/);
          }
        }
      }
    });

    it('says which parameter is not a canonical UUID', async () => {
      for (const url of [
        `/v1/applications/urn:uuid:${applicationId}`,
        `/v1/applications/{${applicationId}}`,
        `/v1/applications/${applicationId.replaceAll('-', '')}`,
        `/v1/identities/urn:uuid:${randomUUID()}`,
        `/v1/runs/urn:uuid:${randomUUID()}/deletions`,
        `/v1/groups/urn:uuid:${randomUUID()}`,
        `/v1/applications/urn:uuid:${applicationId}/objects/uid=ada`,
      ]) {
        const error = expectRefusal(await send('GET', url), 400, 'JNY_VALIDATION');
        expect(error.message).toMatch(/^params\/\w+: not a canonical UUID/);
      }
    });
  });

  describe('every write route, every string of its body', () => {
    // A valid body for each route that takes one; each of its strings is made hostile in turn.
    const bodies = (): Record<string, unknown> => ({
      'POST /v1/applications': { name: uniqueName('app'), type: 'csv' },
      'PATCH /v1/applications/:id': { name: uniqueName('app') },
      'POST /v1/service-accounts': { name: uniqueName('sa') },
      'POST /v1/connectors': { name: uniqueName('agent'), applications: [applicationName] },
      'POST /v1/schedules': { applicationId, kind: 'full', cron: '0 * * * *' },
      'POST /v1/siem/destinations': { kind: 'kafka', name: uniqueName('siem'), format: 'ocsf', settings: {} },
      'PUT /v1/siem/destinations/:id': {
        kind: 'syslog',
        name: uniqueName('siem'),
        format: 'cef',
        settings: { host: '127.0.0.1', port: 6514 },
      },
      'POST /v1/applications/:applicationId/runs': { kind: 'full' },
      'POST /v1/exports/approve': { ids: [randomUUID()] },
      'POST /v1/exports/cancel': { ids: [randomUUID()] },
      'POST /v1/joins': { applicationId, externalId: 'uid=ada', identityId: randomUUID() },
      'POST /v1/joins/unjoin': { applicationId, externalId: 'uid=ada' },
      'POST /v1/joins/resolve': { applicationId, externalId: 'uid=ada', identityId: randomUUID() },
      'POST /v1/applications/:applicationId/scim-tokens': { name: 'okta' },
      'POST /v1/agent/enrol': {
        tenantId: acme.tenantId,
        connectorId: randomUUID(),
        clientKey: 'a-client-key',
        publicKeys: { x25519: 'A'.repeat(43), ed25519: 'A'.repeat(43) },
      },
    });
    // Writes without a body of their own, and the plan (its own tests below).
    const bodiless = [
      'POST /v1/applications/:applicationId/rejoin',
      // A file, streamed: its rows are checked by the CSV reader (csv-reader tests), not as JSON.
      'POST /v1/applications/:applicationId/imports',
      'POST /v1/streams/tokens',
      'POST /v1/runs/:id/release',
      'POST /v1/runs/:id/discard',
      'POST /v1/connectors/:id/revoke',
      'POST /v1/service-accounts/:id/rotate',
      'PUT /v1/plan',
      // SCIM resources, with SCIM's own tokens and error shape: their bodies are checked in scim-server.test.ts.
      'POST /scim/v2/Users',
      'PUT /scim/v2/Users/:id',
      'PATCH /scim/v2/Users/:id',
      'POST /scim/v2/Groups',
      'PUT /scim/v2/Groups/:id',
      'PATCH /scim/v2/Groups/:id',
    ];

    /** The body with the string at `path` replaced. */
    function variants(body: unknown): { path: string; replace: (value: string) => unknown; value: string }[] {
      const found: { path: string; replace: (value: string) => unknown; value: string }[] = [];
      const walk = (value: unknown, path: string, rebuild: (next: unknown) => unknown) => {
        if (typeof value === 'string') found.push({ path, value, replace: (next) => rebuild(next) });
        else if (Array.isArray(value))
          (value as unknown[]).forEach((item, index) => {
            walk(item, `${path}/${String(index)}`, (next) =>
              rebuild((value as unknown[]).map((old, at) => (at === index ? next : old))),
            );
          });
        else if (typeof value === 'object' && value !== null)
          for (const [key, item] of Object.entries(value))
            walk(item, `${path}/${key}`, (next) => rebuild({ ...value, [key]: next }));
      };
      walk(body, 'body', (next) => next);
      return found;
    }

    it('has a body for every write route the app has', () => {
      // Parameter names and a trailing slash aside (the route tree merges both).
      const normal = (route: string) => route.replace(/:[A-Za-z]+/g, ':param').replace(/\/$/, '');
      const known = [...Object.keys(bodies()), ...bodiless].map(normal);
      const writes = routesOf(app)
        .filter((route) => ['POST', 'PUT', 'PATCH'].includes(route.method))
        .map((route) => normal(`${route.method} ${route.path}`));
      expect(writes.length).toBeGreaterThan(10);
      expect(writes.filter((route) => !known.includes(route))).toEqual([]);
    });

    it('refuses a NUL, a lone surrogate or a urn:uuid: id in any string of any body, and stores nothing', async () => {
      const before = await countRows();
      for (const [route, body] of Object.entries(bodies())) {
        const [method = '', path = ''] = route.split(' ');
        const url = path.replace(/:[A-Za-z]+/g, applicationId);
        for (const { path: where, value, replace } of variants(body)) {
          const nul = expectRefusal(
            await send(method, url, replace(value + '\u0000')),
            400,
            'JNY_VALIDATION',
          );
          expect(nul.message, `${route} ${where}`).toBe(
            `${where}: contains a NUL character (U+0000), which cannot be stored`,
          );
          const lone = expectRefusal(
            await send(method, url, replace(value + '\ud800')),
            400,
            'JNY_VALIDATION',
          );
          expect(lone.message, `${route} ${where}`).toMatch(
            new RegExp(`^${where}: contains a lone UTF-16 surrogate`),
          );
          if (/^[0-9a-f-]{36}$/.test(value)) {
            const urn = expectRefusal(
              await send(method, url, replace(`urn:uuid:${value}`)),
              400,
              'JNY_VALIDATION',
            );
            expect(urn.message, `${route} ${where}`).toMatch(new RegExp(`^${where}: not a canonical UUID`));
          }
        }
      }
      // A NUL in a property name is refused as well.
      const key = expectRefusal(
        await send('POST', '/v1/applications', { 'na\u0000me': 'x', type: 'csv' }),
        400,
      );
      expect(key.message).toMatch(/^body: a property name contains a NUL/);
      expect(await countRows()).toEqual(before);
    });

    it('refuses the unauthenticated enrolment with a urn:uuid: tenant id before looking anything up', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/agent/enrol',
        payload: {
          tenantId: `urn:uuid:${acme.tenantId}`,
          connectorId: randomUUID(),
          clientKey: 'a-client-key',
          publicKeys: { x25519: 'A'.repeat(43), ed25519: 'A'.repeat(43) },
        },
      });
      const error = expectRefusal(
        { status: response.statusCode, body: response.body },
        400,
        'JNY_VALIDATION',
      );
      expect(error.message).toBe(
        'body/tenantId: not a canonical UUID (8-4-4-4-12 hexadecimal digits, without urn:uuid: or braces)',
      );
    });
  });

  describe('query strings and paging cursors', () => {
    it('refuses a NUL in a query value, naming it', async () => {
      for (const url of [
        `/v1/identities?attribute=mail&value=${encodeURIComponent(NUL)}`,
        `/v1/groups?name=${encodeURIComponent(NUL)}`,
        `/v1/applications/${applicationId}/objects?after=${encodeURIComponent(NUL)}`,
      ]) {
        const error = expectRefusal(await send('GET', url), 400, 'JNY_VALIDATION');
        expect(error.message).toMatch(/^querystring\/\w+: contains a NUL/);
      }
    });

    it('refuses a urn:uuid: id in a query', async () => {
      for (const url of [
        `/v1/runs?applicationId=urn:uuid:${applicationId}`,
        `/v1/exports?applicationId=urn:uuid:${applicationId}`,
      ])
        expect(expectRefusal(await send('GET', url), 400, 'JNY_VALIDATION').message).toMatch(
          /^querystring\/applicationId: not a canonical UUID/,
        );
    });

    it('refuses a cursor this API could not have returned: past bigint, a NUL key, bytes that are not UTF-8', async () => {
      const cursor = (key: string | Buffer) => Buffer.from(key).toString('base64url');
      for (const url of [
        `/v1/exports?after=${cursor('99999999999999999999')}`,
        `/v1/exports?after=${cursor('9223372036854775808')}`,
        `/v1/applications/${applicationId}/objects?after=${cursor('uid=\u0000')}`,
        `/v1/applications/${applicationId}/objects?after=${cursor(Buffer.from([0xed, 0xa0, 0x80]))}`,
        `/v1/identities?after=${cursor(`urn:uuid:${randomUUID()}`)}`,
        `/v1/groups?after=${cursor('not-a-uuid')}`,
      ]) {
        const error = expectRefusal(await send('GET', url), 400, 'JNY_VALIDATION');
        expect(error.message).toBe('querystring/after is not a cursor this API returned (use nextCursor)');
      }
      // The largest bigint is still a cursor.
      expect((await send('GET', `/v1/exports?after=${cursor('9223372036854775807')}`)).status).toBe(200);
    });
  });

  describe('the sync plan', () => {
    const put = (text: string, contentType: string) =>
      send('PUT', '/v1/plan', text, { 'content-type': contentType });

    it('refuses a lone surrogate or a NUL escaped in a JSON plan, naming where, and applies nothing', async () => {
      const before = await countRows();
      for (const [text, where] of [
        [
          '{"applications":[{"name":"\\ud800","type":"csv"}]}',
          /applications\[0\]\.name: contains a lone UTF-16 surrogate/,
        ],
        ['{"applications":[{"name":"a\\u0000b","type":"csv"}]}', /applications\[0\]\.name: contains a NUL/],
      ] as const) {
        const answer = await put(text, 'application/json');
        expectRefusal(answer, 400, 'JNY_PLAN_INVALID');
        expect(answer.body).toMatch(where);
      }
      expect(await countRows()).toEqual(before);
    });

    it('refuses a NUL in a plan’s text', async () => {
      const error = expectRefusal(await put('applications: []\n# \u0000\n', 'application/yaml'), 400);
      expect(error.message).toMatch(/NUL/);
    });

    it('refuses a YAML alias bomb (billion laughs) with a plan problem, not a 500', async () => {
      const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
      for (const [previous, name] of [
        ['a', 'b'],
        ['b', 'c'],
        ['c', 'd'],
        ['d', 'e'],
        ['e', 'f'],
        ['f', 'g'],
      ])
        levels.push(
          `${name ?? ''}: &${name ?? ''} [${Array(9)
            .fill(`*${previous ?? ''}`)
            .join(',')}]`,
        );
      const answer = await put(levels.join('\n') + '\n', 'application/yaml');
      const error = expectRefusal(answer, 400, 'JNY_PLAN_INVALID');
      expect(error.message).toMatch(/aliases expand too far/);
    });

    it('names the plan route’s own body limit when a plan is too large', async () => {
      const error = expectRefusal(await put(`# ${'x'.repeat(5 * 1024 * 1024)}\n`, 'application/yaml'), 413);
      expect(error.message).toBe('body: larger than the 4194304 bytes PUT /v1/plan accepts');
    });
  });

  describe("Fastify's and Node's own refusals", () => {
    it('answers bad JSON, an empty JSON body, an unsupported content type and a large body in the shape', async () => {
      const malformed = expectRefusal(
        await send('POST', '/v1/applications', '{"name": ', { 'content-type': 'application/json' }),
        400,
        'JNY_BODY_MALFORMED',
      );
      expect(malformed.message).toMatch(/^body: /);
      expectRefusal(
        await send('POST', '/v1/applications', '', { 'content-type': 'application/json' }),
        400,
        'JNY_BODY_MALFORMED',
      );
      const media = expectRefusal(
        await send('POST', '/v1/applications', 'name,type', { 'content-type': 'text/csv' }),
        415,
        'JNY_MEDIA_TYPE_UNSUPPORTED',
      );
      expect(media.message).toMatch(
        /^headers\/content-type: "text\/csv" is not accepted by POST \/v1\/applications/,
      );
      const large = expectRefusal(
        await send(
          'POST',
          '/v1/applications',
          JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024), type: 'csv' }),
          {
            'content-type': 'application/json',
          },
        ),
        413,
        'JNY_BODY_TOO_LARGE',
      );
      expect(large.message).toMatch(/^body: larger than the 1048576 bytes POST \/v1\/applications accepts/);
    });

    it('answers a URL that does not decode, a path parameter too long and a URL too long in the shape', async () => {
      expectRefusal(await send('GET', '/v1/applications/%zz'), 400, 'JNY_BAD_REQUEST');
      expectRefusal(
        await send('GET', `/v1/applications/${applicationId}/objects/${'a'.repeat(5000)}`),
        414,
        'JNY_URI_TOO_LONG',
      );
      expectRefusal(await send('GET', `/v1/identities?value=${'a'.repeat(9000)}`), 414, 'JNY_URI_TOO_LONG');
    });

    it('answers over a real socket: 414 for a URL too long, 431 for headers too large, 400 for a malformed request', async () => {
      const longUrl = await rawRequest(
        port,
        `GET /v1/applications?x=${'a'.repeat(10_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      expectRefusal(longUrl, 414, 'JNY_URI_TOO_LONG');
      const hugeUrl = await rawRequest(
        port,
        `GET /v1/applications?x=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      expectRefusal(hugeUrl, 414, 'JNY_URI_TOO_LONG');
      const headers = await rawRequest(
        port,
        `GET /v1/applications HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      );
      expectRefusal(headers, 431, 'JNY_HEADERS_TOO_LARGE');
      const nulInPath = await rawRequest(port, `GET /v1/appli\u0000cations HTTP/1.1\r\nHost: x\r\n\r\n`);
      expectRefusal(nulInPath, 400, 'JNY_BAD_REQUEST');
      const nulInHeader = await rawRequest(
        port,
        `GET /v1/applications HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n`,
      );
      expectRefusal(nulInHeader, 400, 'JNY_BAD_REQUEST');
    });
  });
});
