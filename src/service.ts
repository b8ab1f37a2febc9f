// The composition root: the one place the service is built, once, in this order — configuration (already
// validated by the caller) → database and schema → plugins → bus → engine runtime with its threads →
// agent gateway → API — each part handed what it needs. stop() closes everything in reverse order: the
// API stops taking requests (and the agent gateway its frames), the engine finishes and commits its
// in-flight batches, then the database closes.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { sql } from 'kysely';
import type { Config } from './config/config.schema.ts';
import { buildApp, type App } from './api/app.ts';
import { streamTokenKey } from './live/stream-tokens.ts';
import { createLogstreamHub } from './live/logstream-hub.ts';
import { createReadiness, type Probe } from './health/readiness.ts';
import { assertSchemaCurrent, migrate, migrationState } from './storage/database.ts';
import { connectDatabase, type ConnectedDatabase } from './storage/connect-database.ts';
import { ensureTenantRole } from './storage/tenant-role.ts';
import { createKafkaClient } from '../streams/kafka-client.ts';
import { createEmbeddedBus } from '../streams/embedded-bus.ts';
import type { Bus } from '../streams/bus.ts';
import { startEngine } from './runtime/engine-runtime.ts';
import { createAgentServices } from './agent-gateway/agent-services.ts';
import { resolveMasterKey, resolveMasterKeyring } from './agent-gateway/master-key.ts';
import { checkTenantKeys } from './agent-gateway/master-key-rotation.ts';
import { serverTls } from './api/server-tls.ts';
import { loadPlugins, type PluginSet } from './plan/plugins.ts';
import { joineryProduct } from './siem/siem-event.ts';
import { createMetrics } from './metrics/engine-metrics.ts';
import { ensureTopics, topicName } from '../streams/topics.ts';
import type { SecretResolver } from './connectors/connector-secrets.ts';

export interface RunningService {
  /** The address the API listens on, e.g. http://127.0.0.1:8080 (https:// with http.tls). */
  url: string;
  app: App;
  orm: MikroORM;
  stop(): Promise<void>;
}

export async function startService(
  config: Config,
  logger: Logger,
  /** Where in-engine connectors read the secrets their plans name as env:NAME: the CLI gives its environment. */
  options: { connectorSecrets?: SecretResolver } = {},
): Promise<RunningService> {
  // Before anything starts: an unreadable or mismatched certificate is one line, not a half-started service.
  const tls = serverTls(config.http.tls);
  const database = await connectDatabase(config, logger);
  const { orm } = database;
  const cleanups: (() => Promise<void>)[] = [() => database.close()];
  const closeAll = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => {
        logger.error({ err: error }, 'error during shutdown');
      });
    }
  };
  try {
    await ensureSchema(config, database, logger);
    if (database.embedded === undefined) await warnIfSuperuser(database, logger);
    // Tenant keys before the engine starts: one that no configured master key opens stops the start here.
    const masterKey = resolveMasterKey({
      configured: config.security.masterKey,
      embeddedDatabase: database.embedded !== undefined,
      dataDir: config.dataDir,
      logger,
    });
    const keyring = resolveMasterKeyring(masterKey, config.security.previousMasterKeys);
    if (keyring === undefined) {
      logger.warn(
        'agent enrolment and channel disabled, and sensitive attribute values withheld: set security.masterKey (JOINERY_MASTER_KEY)',
      );
    } else {
      const keys = await checkTenantKeys(orm.em, keyring);
      if (keys.underPreviousKey > 0) {
        logger.warn(
          { tenantKeys: keys.checked, underPreviousKey: keys.underPreviousKey },
          'tenant keys still wrapped under a previous master key: run `joinery keys rewrap`, then remove security.previousMasterKeys',
        );
      }
    }
    const plugins = await loadPluginsOnce(config, logger);
    const brokers = config.kafka.brokers;
    // The engine runs on Kafka when brokers are configured, else on the embedded bus in PostgreSQL.
    const bus: Bus =
      brokers === undefined
        ? createEmbeddedBus({ em: orm.em, logger })
        : createKafkaClient({ brokers, clientId: config.kafka.clientId, logger });

    // The live streams' logstream consumer joins its group beside the engine's, before the engine tells
    // anything: a viewer connecting once the API listens can resume (lastEventId) from the first event.
    const hub = createLogstreamHub({
      bus,
      orm,
      logger,
      topicPrefix: config.kafka.topicPrefix,
      limits: {
        socketsPerTenant: config.limits.streamSocketsPerTenant,
        socketsPerAddress: config.limits.streamSocketsPerAddress,
      },
    });
    cleanups.push(() => hub.close());
    // The topics first (the engine would create them too): the hub subscribes to one beside the engine.
    const admin = bus.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, config.kafka);
    } finally {
      await admin.disconnect();
    }
    const [engine] = await Promise.all([
      startEngine({
        bus,
        orm,
        logger,
        plugins,
        settings: { ...config.engine, topics: config.kafka },
        ...(keyring === undefined ? {} : { masterKeys: keyring }),
        audit: config.audit,
        siem: { keyring, product: joineryProduct() },
        ...(options.connectorSecrets === undefined ? {} : { connectorSecrets: options.connectorSecrets }),
        threads: {
          databaseUrl: database.url,
          poolSize: Math.max(2, Math.floor(config.database.poolSize / 2)),
          clientId: config.kafka.clientId,
          logLevel: logger.level,
          logFormat: config.log.format,
          ...(brokers === undefined ? {} : { brokers }),
          ...(config.plugins.dir === undefined ? {} : { pluginsDir: config.plugins.dir }),
        },
      }),
      // As before: a hub that cannot start leaves the service running, without live events.
      hub.ready().catch((error: unknown) => {
        logger.error({ err: error }, 'the logstream consumer of live streams did not start');
      }),
    ]);
    cleanups.push(() => engine.stop());
    const name = (id: 'identity' | 'pulses' | 'schedules' | 'imports' | 'logstream') =>
      topicName(config.kafka, id);
    const metrics = createMetrics({
      orm,
      logger,
      engine,
      ...(brokers === undefined
        ? {}
        : { kafka: createKafkaClient({ brokers, clientId: `${config.kafka.clientId}-metrics`, logger }) }),
      offsetsGroupId: config.engine.groupId,
      groups: [
        { groupId: config.engine.groupId, topics: [name('identity')] },
        { groupId: `${config.engine.groupId}.realtime`, topics: [name('pulses'), name('schedules')] },
        { groupId: `${config.engine.groupId}.import`, topics: [name('imports')] },
      ],
      logstreamTopic: name('logstream'),
    });
    cleanups.push(() => metrics.close());

    // The agent gateway produces agents' messages to the same bus the engine consumes; the API serves it
    // and closes it with its own shutdown (frames in flight finish before the sockets close).
    const agents = createAgentServices({
      orm,
      logger,
      bus,
      settings: {
        topicPrefix: config.kafka.topicPrefix,
        masterKey,
        previousMasterKeys: keyring?.previous ?? [],
        limits: {
          connectionsPerAddress: config.limits.agentConnectionsPerAddress,
          connectionsPerTenant: config.limits.agentConnectionsPerTenant,
          unauthenticatedBytes: config.limits.agentUnauthenticatedBytes,
        },
      },
    });

    const app = await buildApp({
      plugins,
      planCheck: { timeoutMs: config.plan.checkTimeoutMs, memoryMb: config.plan.checkMemoryMb, warm: true },
      topicPrefix: config.kafka.topicPrefix,
      orm,
      readiness: createReadiness(readinessProbes(config, orm, logger)),
      logger,
      agents,
      bus,
      limits: config.limits,
      tenantRole: config.database.tenantRole,
      trustProxy: config.http.trustProxy,
      siemKeyring: keyring,
      auditRecording: config.audit.consumer,
      metrics: { scrape: () => metrics.scrape(), contentType: metrics.registry.contentType },
      live: { tokenKey: streamTokenKey(masterKey), hub },
      ...(tls === undefined ? {} : { tls }),
    });
    cleanups.push(() => app.close());
    await app.listen({ host: config.http.host, port: config.http.port });
    const address = app.server.address();
    const port = address !== null && typeof address === 'object' ? address.port : config.http.port;
    const scheme = tls === undefined ? 'http' : 'https';
    const url = `${scheme}://${config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host}:${port}`;
    // The message stays "Joinery is listening" (scripts wait for it); the scheme is in the fields.
    logger.info(
      {
        scheme,
        tls: tls === undefined ? 'off (no http.tls.certFile)' : `${config.http.tls.minVersion} or later`,
        agentChannel: `${url.replace(/^http/, 'ws')}${agents.channel.path}`,
        url,
        kafka: brokers ?? 'embedded',
      },
      'Joinery is listening',
    );
    return { url, app, orm, stop: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/**
 * The service runs only on the schema it was built for: pending migrations are applied when
 * `database.migrateOnStart` (the default with the embedded database), else it refuses to start.
 */
async function ensureSchema(config: Config, database: ConnectedDatabase, logger: Logger): Promise<void> {
  const migrateOnStart = config.database.migrateOnStart ?? database.embedded !== undefined;
  const state = await migrationState(database.orm);
  const tenantRole = config.database.tenantRole;
  if (migrateOnStart && state.pending.length > 0) {
    const applied = await migrate(database.orm, { tenantRole });
    logger.info({ applied }, 'applied pending migrations');
  } else {
    assertSchemaCurrent(state);
    // The API's requests run as this role (row-level security): it exists, has its grants, can be used.
    await ensureTenantRole(database.orm, tenantRole);
  }
}

/**
 * An external database reached as a superuser: every privilege and every row-level check is bypassed, so a
 * bug or a stolen connection reaches everything. Said once at start (docs/operations.md, Database roles).
 */
async function warnIfSuperuser(database: ConnectedDatabase, logger: Logger): Promise<void> {
  const { rows } = await sql<{ role: string; superuser: boolean }>`
    select current_user as role, rolsuper as superuser from pg_roles where rolname = current_user`.execute(
    database.orm.em.getKysely(),
  );
  const role = rows[0];
  if (role?.superuser === true)
    logger.warn(
      { role: role.role },
      'connected to PostgreSQL as a superuser: connect as a role that owns the schema but is no superuser (docs/operations.md, Database roles)',
    );
}

/** Plugins are loaded here, once for this thread; the engine's worker threads load the same directory. */
async function loadPluginsOnce(config: Config, logger: Logger): Promise<PluginSet> {
  const plugins = await loadPlugins(config.plugins.dir);
  if (plugins.plugins.length > 0) {
    logger.info(
      { plugins: plugins.plugins.map((plugin) => `${plugin.name}: ${plugin.signatures.join(', ')}`) },
      'plugins loaded',
    );
  }
  return plugins;
}

/** What /readyz checks: PostgreSQL, the schema, and Kafka when the engine runs on it. */
function readinessProbes(
  config: Config,
  orm: MikroORM,
  logger: Logger,
): Record<string, Probe | { skipped: string }> {
  const probes: Record<string, Probe | { skipped: string }> = {
    postgres: async () => {
      await orm.em.getConnection().execute('select 1');
    },
    migrations: async () => {
      assertSchemaCurrent(await migrationState(orm));
    },
    kafka: { skipped: 'no kafka.brokers configured (KAFKA_BROKERS): the engine runs on the embedded bus' },
  };
  const brokers = config.kafka.brokers;
  if (brokers !== undefined) {
    // Probes fail fast (no retries) and quietly: the readiness report carries the reason.
    const kafka = createKafkaClient({
      brokers,
      clientId: `${config.kafka.clientId}-readiness`,
      logger: logger.child({ probe: 'readiness' }, { level: 'fatal' }),
      retry: { retries: 0 },
    });
    probes.kafka = async () => {
      // A fresh admin per probe: it reconnects by itself once the broker is back.
      const admin = kafka.admin();
      try {
        await admin.connect();
        const cluster = await admin.describeCluster();
        if (cluster.brokers.length === 0) throw new Error('the cluster reports no brokers');
      } finally {
        await admin.disconnect();
      }
    };
  }
  return probes;
}
