// The HTTP API as a Fastify app. buildApp() composes it; only the service entry point listens.
import Fastify, { type FastifyError } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { JoineryError } from '../errors.ts';
import type { Readiness } from '../health/readiness.ts';
import { healthRoutes } from './health.routes.ts';
import { authenticationPlugin } from './auth.ts';
import { tenantRoutes } from './tenant.routes.ts';
import { applicationRoutes } from './applications.routes.ts';
import { serviceAccountRoutes } from './service-accounts.routes.ts';
import { schemaRoutes } from './schemas.routes.ts';
import { planRoutes } from './plan.routes.ts';
import { identityRoutes } from './identities.routes.ts';

export interface AppDeps {
  orm: MikroORM;
  readiness: Readiness;
  logger: Logger;
}

export async function buildApp(deps: AppDeps) {
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'api' }),
    // Keeps a slow client from holding shutdown forever; in-flight requests still finish.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setErrorHandler((error: FastifyError | JoineryError | Error, request, reply) => {
    if (error instanceof JoineryError) {
      if (error.httpStatus >= 500) request.log.error({ err: error }, error.message);
      return reply.status(error.httpStatus).send({
        error: {
          code: error.code,
          message: error.message,
          ...(error.details ? { details: error.details } : {}),
        },
      });
    }
    if ('validation' in error && error.validation !== undefined) {
      return reply.status(400).send({ error: { code: 'JNY_VALIDATION', message: error.message } });
    }
    if ('statusCode' in error && typeof error.statusCode === 'number' && error.statusCode < 500) {
      return reply.status(error.statusCode).send({ error: { code: error.code, message: error.message } });
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply
      .status(500)
      .send({ error: { code: 'JNY_INTERNAL', message: 'internal error; see the service log' } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: { code: 'JNY_NOT_FOUND', message: `no route ${request.method} ${request.url}` } }),
  );

  await app.register(healthRoutes, { readiness: deps.readiness });
  await app.register(schemaRoutes, { prefix: '/v1/schemas' });
  await app.register(
    async (api) => {
      await api.register(authenticationPlugin, { orm: deps.orm });
      await api.register(tenantRoutes);
      await api.register(applicationRoutes, { prefix: '/applications' });
      await api.register(serviceAccountRoutes, { prefix: '/service-accounts' });
      await api.register(planRoutes, { prefix: '/plan' });
      await api.register(identityRoutes, { prefix: '/identities' });
    },
    { prefix: '/v1' },
  );
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
