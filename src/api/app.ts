// The HTTP API as a Fastify app. buildApp() composes it; only the service entry point listens.
import Fastify from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { Readiness } from '../health/readiness.ts';
import { healthRoutes } from './health.routes.ts';
import { authenticationPlugin } from './auth.ts';
import { requestLimitsPlugin } from './request-limits.ts';
import { defaultLimits, type Limits } from '../config/config.schema.ts';
import { tenantRoutes } from './tenant.routes.ts';
import { applicationRoutes } from './applications.routes.ts';
import { serviceAccountRoutes } from './service-accounts.routes.ts';
import { schemaRoutes } from './schemas.routes.ts';
import { planRoutes } from './plan.routes.ts';
import { identityRoutes } from './identities.routes.ts';
import { identitySearchRoutes } from './identity-search.routes.ts';
import { groupRoutes } from './groups.routes.ts';
import { repositoryRoutes } from './repository.routes.ts';
import { joinRoutes } from './joins.routes.ts';
import { exportRoutes } from './exports.routes.ts';
import { runRoutes } from './runs.routes.ts';
import { auditRoutes } from './audit.routes.ts';
import { scheduleRoutes } from './schedules.routes.ts';
import { connectorRoutes } from './connectors.routes.ts';
import { agentChannelRoutes } from './agent-channel.routes.ts';
import { importRoutes } from './imports.routes.ts';
import { scimTokenRoutes } from './scim-tokens.routes.ts';
import { handleScimError, scimRoutes } from '../scim-server/scim.routes.ts';
import { siemRoutes } from './siem.routes.ts';
import { metricsRoutes, type MetricsSource } from './metrics.routes.ts';
import type { MasterKeyring } from '../agent-gateway/master-key.ts';
import websocket from '@fastify/websocket';
import { viewerRoutes } from './viewer.routes.ts';
import { streamSocketRoutes, streamTokenRoutes, type LiveStreams } from './streams.routes.ts';
import { createLogstreamHub, type HubLimits, type LogstreamHub } from '../live/logstream-hub.ts';
import { createStreamTokens, streamTokenKey } from '../live/stream-tokens.ts';
import type { Bus } from '../../streams/bus.ts';
import { createAgentServices, type AgentServices } from '../agent-gateway/agent-services.ts';
import type { PluginSet } from '../plan/plugins.ts';
import { createPlanCheckPool, type PlanCheckSettings } from '../plan/plan-check-pool.ts';
import { planCheckDefaults } from '../config/config.schema.ts';
import {
  handleClientError,
  handleError,
  handleFrameworkError,
  MAX_PARAM_LENGTH,
  refuseLongUrl,
} from './http-errors.ts';
import { refuseUnstorableText, useCanonicalUuidFormat } from './input-hygiene.ts';
import type { ServerTls } from './server-tls.ts';
import { DEFAULT_TENANT_ROLE } from '../storage/tenant-role.ts';

export interface AppDeps {
  orm: MikroORM;
  readiness: Readiness;
  logger: Logger;
  /**
   * The agent channel (tenant keys, channel parameters, the gateway), built by the composition root;
   * without it enrolment works without a master key's keys and the channel answers 503.
   */
  agents?: AgentServices;
  /** The Kafka topic prefix (kafka.topicPrefix) of what routes write through the outbox; default joinery. */
  topicPrefix?: string;
  /** The plugins plans are validated with (plugins.dir); none when absent. */
  plugins?: PluginSet;
  /** http.trustProxy: reverse proxies whose X-Forwarded-For names the client; none when absent. */
  trustProxy?: string[];
  /** The bus the engine consumes: file imports are sent on it; without it they answer 503. */
  bus?: Bus;
  /** Abuse limits (the service config's `limits`); the schema's defaults when absent. */
  limits?: Limits;
  /** The role requests run as under row-level security (database.tenantRole); joinery_tenant when absent. */
  tenantRole?: string;
  /** The clock API keys are checked with (rotation overlaps, last use); the system clock when absent. */
  now?: () => Date;
  /** How submitted plans are checked off the event loop (plan.checkTimeoutMs, plan.checkMemoryMb). */
  planCheck?: Partial<Pick<PlanCheckSettings, 'timeoutMs' | 'memoryMb' | 'workers'>> & {
    /** Start a check thread now rather than at the first plan (the service does). */
    warm?: boolean;
  };
  /**
   * Live streams: the key stream tokens are signed with (the service derives it from the master key, so
   * every process accepts every process's tokens; random per app when absent) and the hub's limits, or the
   * hub itself when the caller started it earlier (the service does, before the engine); closed with the app.
   */
  live?: { tokenKey?: Buffer; limits?: Partial<HubLimits>; hub?: LogstreamHub };
  /** Certificate and key (http.tls, read by serverTls()): the API, and the agent channel, then serve TLS only. */
  tls?: ServerTls;
  /** The master key that wraps SIEM destinations' secrets; without it a destination with a secret is refused. */
  siemKeyring?: MasterKeyring;
  /**
   * Whether this process stores the audit history (audit.consumer); when false the audit API says so with
   * every answer. True when absent.
   */
  auditRecording?: boolean;
  /** The Prometheus metrics served at GET /metrics (unauthenticated); no route without them. */
  metrics?: MetricsSource;
}

export async function buildApp(deps: AppDeps) {
  const app = Fastify({
    // null: plain HTTP. Either way the instance has one type, so routes and tests need not know.
    https: deps.tls ?? null,
    // The proxies allowed to name the client (X-Forwarded-For): request.ip, which the limits count by.
    ...(deps.trustProxy === undefined || deps.trustProxy.length === 0 ? {} : { trustProxy: deps.trustProxy }),
    loggerInstance: deps.logger.child({ component: 'api' }),
    // Keeps a slow client from holding shutdown forever; in-flight requests still finish.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: {
      customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false },
      onCreate: useCanonicalUuidFormat,
    },
    // Node's HTTP parser and Fastify's router refuse some requests before any hook runs: they answer in
    // the API's error shape too (http-errors.ts).
    clientErrorHandler: handleClientError,
    frameworkErrors: (error, request, reply) => {
      if (request.url.startsWith('/scim/')) void handleScimError(error, request, reply);
      else handleFrameworkError(error, request, reply);
    },
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setErrorHandler((error: Error, request, reply) => handleError(error, request, reply));
  // Every route, the unauthenticated ones included: limits and text checks before authentication, the
  // schema and the handler.
  app.addHook('onRequest', refuseLongUrl);
  app.addHook('preValidation', refuseUnstorableText);
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: { code: 'JNY_NOT_FOUND', message: `no route ${request.method} ${request.url}` } }),
  );

  const limits = deps.limits ?? defaultLimits();
  // Only where a route or the authentication asks for it (global: false): health routes are never limited.
  await app.register(rateLimit, { global: false });
  // Submitted plans are checked in worker threads with the same plugins directory (plan-check-pool.ts).
  const { warm, ...planCheck } = deps.planCheck ?? {};
  const planChecks = createPlanCheckPool({
    timeoutMs: planCheckDefaults.checkTimeoutMs,
    memoryMb: planCheckDefaults.checkMemoryMb,
    ...planCheck,
    ...(deps.plugins?.dir === undefined ? {} : { pluginsDir: deps.plugins.dir }),
  });
  if (warm === true) planChecks.warm();
  app.addHook('onClose', () => planChecks.close());

  await app.register(healthRoutes, { readiness: deps.readiness });
  if (deps.metrics !== undefined) await app.register(metricsRoutes, { metrics: deps.metrics });
  await app.register(viewerRoutes);
  await app.register(schemaRoutes, { prefix: '/v1/schemas' });
  const agents =
    deps.agents ??
    createAgentServices({ orm: deps.orm, logger: deps.logger, bus: undefined, settings: undefined });
  const topicPrefix = deps.topicPrefix ?? 'joinery.';
  // Live streams: one logstream consumer per process (when the app has the bus), fanned out to sockets.
  const live: LiveStreams = {
    tokens: createStreamTokens({ key: deps.live?.tokenKey ?? streamTokenKey(undefined) }),
    hub:
      deps.live?.hub ??
      (deps.bus === undefined
        ? undefined
        : createLogstreamHub({
            bus: deps.bus,
            orm: deps.orm,
            logger: deps.logger,
            topicPrefix,
            limits: {
              socketsPerTenant: limits.streamSocketsPerTenant,
              socketsPerAddress: limits.streamSocketsPerAddress,
              ...deps.live?.limits,
            },
          })),
  };
  app.decorate('liveStreams', live);
  // Started beside the API, not before it: a stream opened meanwhile gets events once the consumer runs.
  app.addHook('onReady', async () => {
    live.hub?.start().catch((error: unknown) => {
      app.log.error({ err: error }, 'the logstream consumer of live streams did not start');
    });
  });
  // One WebSocket server for the agent channel and live streams: each route limits its own frames.
  await app.register(websocket, {
    options: { maxPayload: agents.channel.maxFrameBytes },
    // Frames being handled finish (and are acknowledged) before the sockets close.
    preClose: async () => {
      await agents.gateway?.close();
      await live.hub?.close();
      for (const client of app.websocketServer.clients) client.close(1001, 'the API is shutting down');
      await new Promise<void>((resolve) => {
        app.websocketServer.close(() => {
          resolve();
        });
      });
    },
  });
  await app.register(agentChannelRoutes, { prefix: '/v1/agent', orm: deps.orm, ...agents });
  // The SCIM 2.0 server: its own tokens (one scim application each) and error shape (docs/scim-server.md).
  await app.register(scimRoutes, {
    prefix: '/scim/v2',
    orm: deps.orm,
    tenantRole: deps.tenantRole ?? DEFAULT_TENANT_ROLE,
    topicPrefix: deps.topicPrefix ?? 'joinery.',
    failedAuthentication: limits.failedAuthentication,
    now: deps.now ?? (() => new Date()),
  });
  await app.register(streamSocketRoutes, { prefix: '/v1', live, orm: deps.orm });
  await app.register(
    async (api) => {
      await api.register(authenticationPlugin, {
        orm: deps.orm,
        failedAuthentication: limits.failedAuthentication,
        tenantRole: deps.tenantRole ?? DEFAULT_TENANT_ROLE,
        now: deps.now ?? (() => new Date()),
      });
      await api.register(requestLimitsPlugin, { limits });
      await api.register(tenantRoutes);
      await api.register(applicationRoutes, { prefix: '/applications' });
      await api.register(serviceAccountRoutes, {
        prefix: '/service-accounts',
        now: deps.now ?? (() => new Date()),
      });
      await api.register(planRoutes, { prefix: '/plan', checks: planChecks, topicPrefix });
      await api.register(identityRoutes, { prefix: '/identities', topicPrefix });
      await api.register(identitySearchRoutes, { prefix: '/identities' });
      await api.register(groupRoutes, { prefix: '/groups' });
      await api.register(repositoryRoutes, { topicPrefix });
      await api.register(joinRoutes, {
        prefix: '/joins',
        topicPrefix,
      });
      await api.register(exportRoutes, { prefix: '/exports', topicPrefix });
      await api.register(runRoutes, { topicPrefix });
      await api.register(auditRoutes, { recording: deps.auditRecording ?? true });
      await api.register(streamTokenRoutes, { live });
      await api.register(importRoutes, { bus: deps.bus, topicPrefix });
      await api.register(scimTokenRoutes);
      await api.register(scheduleRoutes, { prefix: '/schedules' });
      await api.register(siemRoutes, { prefix: '/siem', keyring: deps.siemKeyring });
      await api.register(connectorRoutes, {
        prefix: '/connectors',
        heartbeatMs: agents.channel.heartbeatMs,
        onRevoked: (connectorId) =>
          agents.gateway?.disconnect(connectorId, 4403, 'the connector was revoked'),
      });
    },
    { prefix: '/v1' },
  );
  return app;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The live streams' tokens and logstream hub (tests wait for the hub to run). */
    liveStreams: LiveStreams;
  }
}

export type App = Awaited<ReturnType<typeof buildApp>>;
