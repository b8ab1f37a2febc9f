// Bearer authentication with a service account's API key. Every request after it runs with an
// EntityManager scoped to the caller's tenant, so a query cannot reach another tenant's rows.
import fp from 'fastify-plugin';
import type { FastifyPluginAsync } from 'fastify';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { UnauthenticatedError } from '../../kernel/errors.ts';
import { authenticate, type Principal } from '../tenancy/tenants.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
    /** Forked per request, with the tenant filter set to the caller's tenant. */
    em: EntityManager;
  }
}

const plugin: FastifyPluginAsync<{ orm: MikroORM }> = async (app, { orm }) => {
  app.decorateRequest('principal');
  app.decorateRequest('em');
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    if (token === undefined || token === '') {
      throw new UnauthenticatedError('missing bearer token: send "Authorization: Bearer <API key>"');
    }
    const principal = await authenticate(orm.em.fork(), token);
    if (principal === undefined) throw new UnauthenticatedError('invalid or revoked API key');
    request.principal = principal;
    request.em = orm.em.fork();
    request.em.setFilterParams('tenant', { tenantId: principal.tenantId });
    request.log = request.log.child({
      tenantId: principal.tenantId,
      serviceAccountId: principal.serviceAccountId,
    });
  });
};

export const authenticationPlugin = fp(plugin, { name: 'joinery-authentication' });
