// GET /metrics: the Prometheus exposition (src/metrics/engine-metrics.ts). Unauthenticated, like the health
// routes, so any Prometheus can scrape it: it shows counts and ids, never names, attribute values or
// secrets. Restrict who reaches it at the network or reverse proxy (docs/operations.md).
import type { FastifyPluginAsync } from 'fastify';

export interface MetricsSource {
  scrape(): Promise<string>;
  contentType: string;
}

export const metricsRoutes: FastifyPluginAsync<{ metrics: MetricsSource }> = async (app, options) => {
  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', options.metrics.contentType).send(await options.metrics.scrape()),
  );
};
