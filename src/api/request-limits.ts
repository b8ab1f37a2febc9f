// Rate limits on the API's expensive routes, per tenant (@fastify/rate-limit, in this process's memory): a
// route declares its class with `config: { limit: 'search' }` and every route of a class shares one
// counter per tenant. Over it: 429 JNY_RATE_LIMITED with Retry-After. Runs after authentication.
import fp from 'fastify-plugin';
import type { FastifyPluginAsync, preHandlerAsyncHookHandler } from 'fastify';
import { RateLimitedError } from '../../kernel/errors.ts';
import type { Limits } from '../config/config.schema.ts';

export const limitClasses = ['planApply', 'syncRequests', 'search'] as const;
export type LimitClass = (typeof limitClasses)[number];

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The expensive-route limit this route counts against (docs/security.md, Abuse limits). */
    limit?: LimitClass;
  }
}

const plugin: FastifyPluginAsync<{ limits: Pick<Limits, LimitClass> }> = async (app, { limits }) => {
  const limiter = (limitClass: LimitClass): preHandlerAsyncHookHandler => {
    const { max, windowSeconds } = limits[limitClass];
    return app.rateLimit({
      max,
      timeWindow: windowSeconds * 1000,
      keyGenerator: (request) => request.principal.tenantId,
      errorResponseBuilder: (request, context) =>
        new RateLimitedError(
          `${request.method} ${request.routeOptions.url ?? request.url}: this tenant's limit of ${String(context.max)} ${limitClass} requests per ${String(windowSeconds)} s is reached; retry in ${context.after}`,
          {
            details: { limit: context.max, windowSeconds, retryAfterSeconds: Math.ceil(context.ttl / 1000) },
          },
        ),
    });
  };
  // One limiter (one counter per tenant) per class, shared by the class's routes.
  const handlers: Record<LimitClass, preHandlerAsyncHookHandler> = {
    planApply: limiter('planApply'),
    syncRequests: limiter('syncRequests'),
    search: limiter('search'),
  };

  app.addHook('onRoute', (route) => {
    const limitClass = route.config?.limit;
    if (limitClass === undefined) return;
    const existing = route.preHandler;
    const handler = handlers[limitClass];
    route.preHandler =
      existing === undefined
        ? [handler]
        : Array.isArray(existing)
          ? [...existing, handler]
          : [existing, handler];
  });
};

export const requestLimitsPlugin = fp(plugin, {
  name: 'joinery-request-limits',
  dependencies: ['@fastify/rate-limit', 'joinery-authentication'],
});
