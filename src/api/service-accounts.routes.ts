// Service accounts of the caller's tenant (admin scope): list, create with scopes (the key is returned
// once), rotate with an overlap, revoke — never the tenant's last admin key.
import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox';
import { ForbiddenError } from '../../kernel/errors.ts';
import { ServiceAccount } from '../storage/entities/service-account.entity.ts';
import { scopes, scopesBeyond, isScope, type Scope } from '../tenancy/scopes.ts';
import { createServiceAccount, revokeServiceAccount, rotateServiceAccount } from '../tenancy/tenants.ts';
import { ErrorBody, IdParams } from './common.schemas.ts';

/** How long a rotated key's old secret keeps working by default: a day to roll the new one out. */
export const DEFAULT_ROTATION_OVERLAP_SECONDS = 86_400;
const MAX_ROTATION_OVERLAP_SECONDS = 30 * 86_400;

const ScopeSchema = Type.Enum(scopes);

const ServiceAccountBody = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  scopes: Type.Array(ScopeSchema),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  previousKeyExpiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

const IssuedKeyBody = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(ScopeSchema),
  apiKey: Type.String(),
});

function present(account: ServiceAccount, now: Date): Static<typeof ServiceAccountBody> {
  const previousExpiry = account.previousSecretExpiresAt ?? null;
  return {
    id: account.id,
    name: account.name,
    scopes: account.scopes.filter(isScope),
    createdAt: account.createdAt.toISOString(),
    lastUsedAt: account.lastUsedAt?.toISOString() ?? null,
    previousKeyExpiresAt:
      previousExpiry !== null && previousExpiry > now ? previousExpiry.toISOString() : null,
    revokedAt: account.revokedAt?.toISOString() ?? null,
  };
}

export const serviceAccountRoutes: FastifyPluginAsyncTypebox<{ now: () => Date }> = async (app, { now }) => {
  app.get(
    '/',
    {
      config: { scope: 'admin' },
      schema: { response: { 200: Type.Object({ items: Type.Array(ServiceAccountBody) }) } },
    },
    async (request) => {
      const accounts = await request.em.find(ServiceAccount, {}, { orderBy: { createdAt: 'asc' } });
      const at = now();
      return { items: accounts.map((account) => present(account, at)) };
    },
  );

  app.post(
    '/',
    {
      config: { scope: 'admin' },
      schema: {
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 200 }),
            scopes: Type.Optional(Type.Array(ScopeSchema, { minItems: 1, maxItems: 4, uniqueItems: true })),
          },
          { additionalProperties: false },
        ),
        response: { 201: IssuedKeyBody, 403: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const requested: Scope[] = request.body.scopes ?? ['read'];
      const beyond = scopesBeyond(request.principal.scopes, requested);
      if (beyond.length > 0) {
        throw new ForbiddenError(
          `body/scopes: this API key cannot issue a key with ${beyond.map((scope) => `"${scope}"`).join(', ')}, which it does not hold itself`,
          { details: { path: 'body/scopes', scopes: beyond } },
        );
      }
      const issued = await createServiceAccount(
        request.em,
        request.principal.tenantId,
        request.body.name,
        requested,
      );
      return reply.status(201).send({
        id: issued.serviceAccountId,
        name: issued.name,
        scopes: issued.scopes,
        apiKey: issued.apiKey,
      });
    },
  );

  app.post(
    '/:id/rotate',
    {
      config: { scope: 'admin' },
      schema: {
        params: IdParams,
        // No body at all is the default overlap (Fastify validates an absent body as null).
        body: Type.Union([
          Type.Object(
            {
              overlapSeconds: Type.Optional(
                Type.Integer({ minimum: 0, maximum: MAX_ROTATION_OVERLAP_SECONDS }),
              ),
            },
            { additionalProperties: false },
          ),
          Type.Null(),
        ]),
        response: {
          200: Type.Object({ ...IssuedKeyBody.properties, previousKeyExpiresAt: Type.String() }),
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      const rotated = await rotateServiceAccount(request.em, request.params.id, {
        overlapSeconds: request.body?.overlapSeconds ?? DEFAULT_ROTATION_OVERLAP_SECONDS,
        now: now(),
      });
      request.log.info(
        {
          rotatedServiceAccountId: rotated.serviceAccountId,
          previousKeyExpiresAt: rotated.previousKeyExpiresAt,
        },
        'service account key rotated',
      );
      return {
        id: rotated.serviceAccountId,
        name: rotated.name,
        scopes: rotated.scopes,
        apiKey: rotated.apiKey,
        previousKeyExpiresAt: rotated.previousKeyExpiresAt.toISOString(),
      };
    },
  );

  app.delete(
    '/:id',
    {
      config: { scope: 'admin' },
      schema: { params: IdParams, response: { 204: Type.Null(), 404: ErrorBody, 409: ErrorBody } },
    },
    async (request, reply) => {
      await revokeServiceAccount(request.em, request.principal.tenantId, request.params.id, now());
      request.log.info({ revokedServiceAccountId: request.params.id }, 'service account revoked');
      return reply.status(204).send(null);
    },
  );
};
