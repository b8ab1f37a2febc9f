// /healthz: the process answers. /readyz: its dependencies answer (and why not, when they do not).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Readiness } from '../health/readiness.ts';

export const healthRoutes: FastifyPluginAsyncTypebox<{ readiness: Readiness }> = async (
  app,
  { readiness },
) => {
  app.get('/healthz', { logLevel: 'warn' }, () => ({ status: 'ok' }));
  app.get('/readyz', { logLevel: 'warn' }, async (_request, reply) => {
    const report = await readiness.report();
    return reply
      .status(report.ready ? 200 : 503)
      .send({ status: report.ready ? 'ready' : 'not-ready', checks: report.checks });
  });
};
