import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import { WebSocket } from 'ws';
import { closeCodes } from '../../kernel/channel/protocol.ts';
import { createAgentServices } from '../../src/agent-gateway/agent-services.ts';
import { buildApp, type App } from '../../src/api/app.ts';
import { defaultLimits, type Limits } from '../../src/config/config.schema.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant, type IssuedServiceAccount } from '../../src/tenancy/tenants.ts';
import { createEmbeddedBus } from '../../streams/embedded-bus.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { recordingLogger, silentLogger, uniqueName } from '../support/factories.ts';
import { waitFor } from '../support/streams.ts';

interface LogLine {
  level: number;
  msg: string;
  remoteAddress?: string;
}

const WARN = 40;

describe('abuse limits (real PostgreSQL, a real socket for the agent channel)', () => {
  let database: TestDatabase;
  let orm: MikroORM;
  let app: App;
  let acme: IssuedServiceAccount;
  let globex: IssuedServiceAccount;
  const log = recordingLogger('debug');
  const limits: Limits = defaultLimits();
  limits.failedAuthentication = { max: 5, windowSeconds: 60 };
  limits.search = { max: 3, windowSeconds: 60 };
  limits.agentConnectionsPerAddress = 3;

  const attacker = '203.0.113.7';
  const bystander = '198.51.100.9';
  const forged = () => `jny_${randomBytes(16).toString('hex')}_${randomBytes(32).toString('base64url')}`;
  const get = (url: string, options: { key?: string; from?: string } = {}) =>
    app.inject({
      method: 'GET',
      url,
      remoteAddress: options.from ?? '192.0.2.1',
      ...(options.key === undefined ? {} : { headers: { authorization: `Bearer ${options.key}` } }),
    });
  const lines = () =>
    log
      .lines()
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: true });
    orm = await openDatabase({ url: database.url, poolSize: 4, logger: silentLogger });
    await migrate(orm);
    const agents = createAgentServices({
      orm,
      logger: silentLogger,
      bus: createEmbeddedBus({ em: orm.em, logger: silentLogger }),
      settings: {
        topicPrefix: `${uniqueName('limits')}.`,
        masterKey: randomBytes(32),
        limits: {
          connectionsPerAddress: limits.agentConnectionsPerAddress,
          connectionsPerTenant: limits.agentConnectionsPerTenant,
          unauthenticatedBytes: limits.agentUnauthenticatedBytes,
        },
      },
    });
    app = await buildApp({ orm, readiness: createReadiness({}), logger: log.logger, limits, agents });
    await app.listen({ host: '127.0.0.1', port: 0 });
    acme = await createTenant(orm.em, { tenant: uniqueName('acme') });
    globex = await createTenant(orm.em, { tenant: uniqueName('globex') });
  });
  afterAll(async () => {
    await app.close();
    await orm.close();
    await database.drop();
  });

  describe('failed authentication, per source address', () => {
    const tried: string[] = [];

    it('answers 401 up to the limit, then 429 with Retry-After in the error shape', async () => {
      for (let attempt = 0; attempt < limits.failedAuthentication.max; attempt++) {
        const key = attempt % 2 === 0 ? forged() : 'not-a-key';
        tried.push(key);
        const answer = await get('/v1/applications', { key, from: attacker });
        expect(answer.statusCode).toBe(401);
      }
      for (const key of [forged(), undefined]) {
        if (key !== undefined) tried.push(key);
        const limited = await get('/v1/tenant', { ...(key === undefined ? {} : { key }), from: attacker });
        expect(limited.statusCode).toBe(429);
        expect(limited.json()).toMatchObject({
          error: { code: 'JNY_RATE_LIMITED', details: { limit: limits.failedAuthentication.max } },
        });
        expect(limited.json<{ error: { message: string } }>().error.message).toMatch(
          /too many failed authentications from 203\.0\.113\.7: retry in \d+ s/,
        );
        const retryAfter = Number(limited.headers['retry-after']);
        expect(retryAfter).toBeGreaterThan(0);
        expect(retryAfter).toBeLessThanOrEqual(limits.failedAuthentication.windowSeconds);
      }
    });

    it('still lets a good key through from that address, and another address still gets 401, not 429', async () => {
      const good = await get('/v1/tenant', { key: acme.apiKey, from: attacker });
      expect(good.statusCode).toBe(200);
      expect(good.json()).toMatchObject({ id: acme.tenantId });
      const elsewhere = await get('/v1/tenant', { key: forged(), from: bystander });
      expect(elsewhere.statusCode).toBe(401);
      expect((await get('/v1/tenant', { key: globex.apiKey, from: bystander })).statusCode).toBe(200);
    });

    it('logs each failure at warn with the source address, one warning when over the limit, and never a key', () => {
      const failures = lines().filter((line) => line.msg === 'API authentication failed');
      expect(failures.filter((line) => line.remoteAddress === attacker)).toHaveLength(
        limits.failedAuthentication.max,
      );
      expect(failures.every((line) => line.level === WARN)).toBe(true);
      expect(failures.some((line) => line.remoteAddress === bystander)).toBe(true);
      const over = lines().filter((line) => line.msg.startsWith('API authentication failed too often'));
      expect(over.map((line) => [line.level, line.remoteAddress])).toEqual([
        [WARN, attacker],
        [20, attacker], // the refusals after the first are debug
      ]);
      const text = log.lines().join('\n');
      for (const key of [...tried, acme.apiKey, globex.apiKey]) expect(text).not.toContain(key);
    });

    it('counts the clients behind a trusted proxy apart (X-Forwarded-For), and IPv6 callers by their /64', async () => {
      const proxied = await buildApp({
        orm,
        readiness: createReadiness({}),
        logger: silentLogger,
        limits,
        trustProxy: ['10.0.0.1'],
      });
      try {
        const through = (client: string) =>
          proxied.inject({
            method: 'GET',
            url: '/v1/applications',
            remoteAddress: '10.0.0.1',
            headers: { authorization: `Bearer ${forged()}`, 'x-forwarded-for': client },
          });
        for (let attempt = 0; attempt < limits.failedAuthentication.max; attempt++)
          expect((await through('192.0.2.50')).statusCode).toBe(401);
        expect((await through('192.0.2.50')).statusCode).toBe(429);
        // Another client of the same proxy is its own count.
        expect((await through('192.0.2.51')).statusCode).toBe(401);
        // Two addresses of one IPv6 /64 share a count.
        for (let attempt = 0; attempt < limits.failedAuthentication.max; attempt++)
          expect((await through(`2001:db8:1:2::${String(attempt + 1)}`)).statusCode).toBe(401);
        expect((await through('2001:db8:1:2:ffff::9')).statusCode).toBe(429);
        expect((await through('2001:db8:1:3::1')).statusCode).toBe(401);
      } finally {
        await proxied.close();
      }
    });

    it('never limits the health routes', async () => {
      for (let request = 0; request < 50; request++) {
        expect((await get('/healthz', { from: attacker })).statusCode).toBe(200);
        expect((await get('/readyz', { from: attacker })).statusCode).toBe(200);
      }
    });
  });

  describe('expensive routes, per tenant', () => {
    it("answers 429 to a tenant past its search limit, shared by the search routes, without touching another tenant's", async () => {
      for (let request = 0; request < limits.search.max; request++)
        expect((await get('/v1/identities', { key: acme.apiKey })).statusCode).toBe(200);
      for (const url of ['/v1/identities?state=active', '/v1/groups']) {
        const limited = await get(url, { key: acme.apiKey });
        expect(limited.statusCode).toBe(429);
        expect(limited.json()).toMatchObject({
          error: { code: 'JNY_RATE_LIMITED', details: { limit: limits.search.max, windowSeconds: 60 } },
        });
        expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      }
      // Another tenant, and an unlimited route of the same tenant, are unaffected.
      expect((await get('/v1/identities', { key: globex.apiKey })).statusCode).toBe(200);
      expect((await get('/v1/applications', { key: acme.apiKey })).statusCode).toBe(200);
    });
  });

  describe('the agent channel', () => {
    const channelUrl = () => {
      const address = app.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      return `ws://127.0.0.1:${String(port)}/v1/agent/channel`;
    };

    /** A socket that has been sent its challenge: accepted, not authenticated. */
    async function challenged(): Promise<WebSocket> {
      const socket = new WebSocket(channelUrl());
      const [data] = (await once(socket, 'message')) as [Buffer];
      expect(JSON.parse(data.toString())).toMatchObject({ type: 'challenge' });
      return socket;
    }

    function closeOf(socket: WebSocket): Promise<{ code: number; reason: string }> {
      return new Promise((resolve) => {
        socket.on('error', () => undefined);
        socket.on('close', (code: number, reason: Buffer) => {
          resolve({ code, reason: reason.toString() });
        });
      });
    }

    it('closes a socket that sends more than the unauthenticated budget before hello (a 15 MB hello)', async () => {
      const socket = await challenged();
      const closed = closeOf(socket);
      const started = Date.now();
      socket.send(JSON.stringify({ type: 'hello', padding: 'x'.repeat(15 * 1024 * 1024) }));
      const { code } = await closed;
      // The close frame is flushed before the connection drops: the client reads why.
      expect(code).toBe(closeCodes.tooLarge);
      expect(Date.now() - started).toBeLessThan(5000);
      expect((await get('/healthz')).statusCode).toBe(200);
    });

    it('refuses connections from one address past the cap with 4429 and a reason, and accepts again once one closes', async () => {
      const open = [];
      for (let count = 0; count < limits.agentConnectionsPerAddress; count++) open.push(await challenged());
      const extra = new WebSocket(channelUrl());
      const refused = await closeOf(extra);
      expect(refused.code).toBe(closeCodes.tooMany);
      expect(refused.reason).toMatch(/too many connections from 127\.0\.0\.1 \(limit 3\); retry later/);

      const first = open.shift();
      const gone = first === undefined ? Promise.resolve() : closeOf(first);
      first?.close();
      await gone;
      // The server counts the close when it sees it: a new socket is admitted (challenged) once it has.
      open.push(
        await waitFor('room for one more socket once one closed', async () => {
          const socket = new WebSocket(channelUrl());
          const first = await Promise.race([
            once(socket, 'message').then(
              () => 'challenged' as const,
              () => new Promise<never>(() => undefined),
            ),
            closeOf(socket).then(() => 'refused' as const),
          ]);
          return first === 'challenged' ? socket : undefined;
        }),
      );
      for (const socket of open) socket.close();
    });
  });
});
