// Service accounts of the caller's tenant: list, create (the key is returned once), revoke.
import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox';
import { NotFoundError } from '../../kernel/errors.ts';
import { ServiceAccount } from '../storage/entities/service-account.entity.ts';
import { createServiceAccount } from '../tenancy/tenants.ts';
import { ErrorBody, IdParams } from './common.schemas.ts';

const ServiceAccountBody = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

function present(account: ServiceAccount): Static<typeof ServiceAccountBody> {
  return {
    id: account.id,
    name: account.name,
    createdAt: account.createdAt.toISOString(),
    revokedAt: account.revokedAt?.toISOString() ?? null,
  };
}

export const serviceAccountRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/',
    { schema: { response: { 200: Type.Object({ items: Type.Array(ServiceAccountBody) }) } } },
    async (request) => {
      const accounts = await request.em.find(ServiceAccount, {}, { orderBy: { createdAt: 'asc' } });
      return { items: accounts.map(present) };
    },
  );

  app.post(
    '/',
    {
      schema: {
        body: Type.Object(
          { name: Type.String({ minLength: 1, maxLength: 200 }) },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ id: Type.String(), name: Type.String(), apiKey: Type.String() }),
          409: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const issued = await createServiceAccount(request.em, request.principal.tenantId, request.body.name);
      return reply
        .status(201)
        .send({ id: issued.serviceAccountId, name: issued.name, apiKey: issued.apiKey });
    },
  );

  app.delete(
    '/:id',
    { schema: { params: IdParams, response: { 204: Type.Null(), 404: ErrorBody } } },
    async (request, reply) => {
      const account = await request.em.findOne(ServiceAccount, { id: request.params.id });
      if (account === null) throw new NotFoundError(`service account ${request.params.id} not found`);
      account.revokedAt ??= new Date();
      await request.em.flush();
      return reply.status(204).send(null);
    },
  );
};
