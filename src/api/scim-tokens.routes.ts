// SCIM tokens of a scim application (admin scope): issue (the token is shown once), list, revoke. An identity
// provider holds one and provisions into /scim/v2 as that application (docs/scim-server.md).
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { issueScimToken, listScimTokens, revokeScimToken } from '../scim-server/scim-tokens.ts';
import { requireApplication } from './tenant-resources.ts';

const ApplicationParams = Type.Object({ applicationId: Type.String({ format: 'uuid' }) });

const ScimTokenBody = Type.Object({
  id: Type.String({ format: 'uuid' }),
  applicationId: Type.String({ format: 'uuid' }),
  name: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

export const scimTokenRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/applications/:applicationId/scim-tokens',
    {
      config: { scope: 'admin' },
      schema: {
        params: ApplicationParams,
        // No body at all names the token "scim" (Fastify validates an absent body as null).
        body: Type.Union([
          Type.Object(
            { name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })) },
            { additionalProperties: false },
          ),
          Type.Null(),
        ]),
      },
    },
    async (request, reply) => {
      const issued = await issueScimToken(request.em, {
        tenantId: request.principal.tenantId,
        applicationId: request.params.applicationId,
        name: request.body?.name ?? 'scim',
      });
      request.log.info({ scimTokenId: issued.id, applicationId: issued.applicationId }, 'SCIM token issued');
      return reply.status(201).send({ ...issued, baseUrl: `${request.protocol}://${request.host}/scim/v2` });
    },
  );

  app.get(
    '/applications/:applicationId/scim-tokens',
    {
      config: { scope: 'admin' },
      schema: {
        params: ApplicationParams,
        response: { 200: Type.Object({ items: Type.Array(ScimTokenBody) }) },
      },
    },
    async (request) => {
      const { tenantId } = request.principal;
      await requireApplication(request.em, tenantId, request.params.applicationId);
      return { items: await listScimTokens(request.em, tenantId, request.params.applicationId) };
    },
  );

  app.delete(
    '/applications/:applicationId/scim-tokens/:tokenId',
    {
      config: { scope: 'admin' },
      schema: {
        params: Type.Object({
          applicationId: Type.String({ format: 'uuid' }),
          tokenId: Type.String({ format: 'uuid' }),
        }),
      },
    },
    async (request, reply) => {
      await revokeScimToken(request.em, {
        tenantId: request.principal.tenantId,
        applicationId: request.params.applicationId,
        tokenId: request.params.tokenId,
      });
      request.log.info({ scimTokenId: request.params.tokenId }, 'SCIM token revoked');
      return reply.status(204).send();
    },
  );
};
