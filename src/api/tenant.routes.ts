// The caller's own tenant.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Tenant } from '../storage/entities/tenant.entity.ts';
import { NotFoundError } from '../../kernel/errors.ts';

export const tenantRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/tenant', { config: { scope: 'read' } }, async (request) => {
    const tenant = await request.em.findOne(Tenant, { id: request.principal.tenantId });
    if (tenant === null) throw new NotFoundError('tenant not found');
    return { id: tenant.id, name: tenant.name, createdAt: tenant.createdAt.toISOString() };
  });
};
