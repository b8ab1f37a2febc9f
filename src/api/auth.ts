// Bearer authentication with a service account's API key, and the scope check every authenticated route
// declares (`config: { scope }`). Every request after it runs in one transaction as the tenant role with the
// caller's tenant set (tenant-transaction.ts), so PostgreSQL's row-level security keeps other tenants' rows
// out of reach whatever a route's SQL says. Failed authentications are counted per source
// address: past the limit they answer 429, so keys cannot be tried (or the log flooded) at line rate.
import fp from 'fastify-plugin';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { ForbiddenError, RateLimitedError, UnauthenticatedError } from '../../kernel/errors.ts';
import type { Limits } from '../config/config.schema.ts';
import { grants, grantedScopes, isScope, type Scope } from '../tenancy/scopes.ts';
import { authenticate, recordKeyUse, type Principal } from '../tenancy/tenants.ts';
import {
  abandonTenantTransaction,
  beginTenantTransaction,
  endTenantTransaction,
  tenantEntityManager,
} from './tenant-transaction.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
    /**
     * The request's transaction as the tenant role, with the caller's tenant set: row-level security and the
     * tenant filter both scope every query (tenant-transaction.ts).
     */
    em: EntityManager;
  }
  interface FastifyContextConfig {
    /** The scope an API key needs for this route; every route behind authentication declares one. */
    scope?: Scope;
    /**
     * `short`: the route opens short tenant transactions itself (request.em.transactional) instead of running in
     * the request's one — a streamed upload must not hold a transaction for its whole body.
     */
    tenantTransaction?: 'request' | 'short';
  }
}

export interface AuthenticationOptions {
  orm: MikroORM;
  failedAuthentication: Limits['failedAuthentication'];
  /** The role requests run as under row-level security (database.tenantRole). */
  tenantRole: string;
  /** The clock keys are checked with (rotation overlaps, last use); injectable for tests. */
  now: () => Date;
}

/**
 * What failures are counted by: the address, or for IPv6 its /64 — one host holds a whole /64, and counting
 * each address apart would let it try 2^64 times.
 */
export function sourceKey(ip: string): string {
  if (!ip.includes(':') || ip.startsWith('::ffff:')) return ip;
  const [head = '', tail = ''] = ip.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((group) => group.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

const plugin: FastifyPluginAsync<AuthenticationOptions> = async (app, options) => {
  const { orm, now } = options;
  app.decorateRequest('principal');
  app.decorateRequest('em');

  app.addHook('onRoute', (route) => {
    const scope: unknown = route.config?.scope;
    if (!isScope(scope))
      throw new Error(
        `route ${String(route.method)} ${route.url} declares no scope: add config: { scope: 'read' | 'write' | 'approve' | 'admin' }`,
      );
  });

  const countFailure = app.createRateLimit({
    max: options.failedAuthentication.max,
    timeWindow: options.failedAuthentication.windowSeconds * 1000,
    keyGenerator: (request) => sourceKey(request.ip),
  });

  // When each address over the limit was last warned about: one warning per window, not one per refusal.
  const warnedAt = new LRUCache<string, number>({ max: 10_000 });
  const windowMs = options.failedAuthentication.windowSeconds * 1000;

  /** Counts a failed authentication from the request's address; past the limit it answers 429. */
  async function refuse(request: FastifyRequest, reply: FastifyReply, reason: string): Promise<never> {
    const count = await countFailure(request);
    const remoteAddress = request.ip;
    if (count.isAllowed || !count.isExceeded) {
      request.log.warn({ remoteAddress, reason }, 'API authentication failed');
      throw new UnauthenticatedError(reason);
    }
    const nowMs = Date.now();
    const warned = warnedAt.get(remoteAddress);
    const warn = warned === undefined || nowMs - warned >= windowMs;
    if (warn) warnedAt.set(remoteAddress, nowMs);
    request.log[warn ? 'warn' : 'debug'](
      { remoteAddress, reason, limit: count.max, retryAfterSeconds: count.ttlInSeconds },
      'API authentication failed too often from this address; refusing with 429',
    );
    void reply.header('retry-after', String(count.ttlInSeconds));
    throw new RateLimitedError(
      `too many failed authentications from ${remoteAddress}: retry in ${String(count.ttlInSeconds)} s`,
      { details: { retryAfterSeconds: count.ttlInSeconds, limit: count.max } },
    );
  }

  app.addHook('onRequest', async (request, reply) => {
    const header = request.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    if (token === undefined || token === '') {
      return refuse(request, reply, 'missing bearer token: send "Authorization: Bearer <API key>"');
    }
    const at = now();
    const principal = await authenticate(orm.em.fork(), token, at);
    if (principal === undefined) return refuse(request, reply, 'invalid, revoked or expired API key');
    // A route without a declared scope cannot be registered (onRoute above); admin is the safe fallback.
    const needed = request.routeOptions.config.scope ?? 'admin';
    if (!grants(principal.scopes, needed)) {
      throw new ForbiddenError(
        `this API key's scopes (${grantedScopes(principal.scopes).join(', ')}) do not include "${needed}", which ${request.method} ${request.routeOptions.url ?? request.url} needs`,
        { details: { requiredScope: needed, scopes: principal.scopes } },
      );
    }
    await recordKeyUse(orm.em.fork(), principal, at);
    request.principal = principal;
    request.em = tenantEntityManager(orm, principal.tenantId, options.tenantRole);
    request.log = request.log.child({
      tenantId: principal.tenantId,
      serviceAccountId: principal.serviceAccountId,
    });
  });
  app.addHook('preHandler', beginTenantTransaction);
  app.addHook('onSend', endTenantTransaction);
  app.addHook('onResponse', abandonTenantTransaction);
};

export const authenticationPlugin = fp(plugin, {
  name: 'joinery-authentication',
  dependencies: ['@fastify/rate-limit'],
});
