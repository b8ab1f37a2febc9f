// The composition root: opens PostgreSQL (external or embedded), checks the schema, starts the engine on
// Kafka, builds the API and listens. stop() closes everything in reverse order: the API stops taking
// requests, the engine finishes and commits its in-flight batches, then the database closes.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { Config } from './config/config.schema.ts';
import { redactUrl } from './config/load-config.ts';
import { buildApp, type App } from './api/app.ts';
import { createReadiness, type Probe } from './health/readiness.ts';
import { assertSchemaCurrent, migrate, migrationState, openDatabase } from './storage/database.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './storage/embedded-postgres.ts';
import { createKafkaClient } from '../streams/kafka-client.ts';
import { startEngine } from './runtime/engine-runtime.ts';
import { createEmbeddedBus } from '../streams/embedded-bus.ts';
import { resolveMasterKey } from './agent-gateway/master-key.ts';
import { loadPlugins } from './plan/plugins.ts';

export interface RunningService {
  /** The address the API listens on, e.g. http://127.0.0.1:8080. */
  url: string;
  app: App;
  orm: MikroORM;
  stop(): Promise<void>;
}

/** Opens the database the configuration points at, starting the embedded one when no URL is set. */
export async function connectDatabase(
  config: Config,
  logger: Logger,
): Promise<{ orm: MikroORM; url: string; embedded: EmbeddedDatabase | undefined; close(): Promise<void> }> {
  const embedded =
    config.database.url === undefined
      ? await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.database.embeddedPort, logger })
      : undefined;
  const url = config.database.url ?? embedded?.url ?? '';
  try {
    const orm = await openDatabase({ url, poolSize: config.database.poolSize, logger });
    logger.info({ database: redactUrl(url), embedded: embedded !== undefined }, 'connected to PostgreSQL');
    return {
      orm,
      url,
      embedded,
      async close() {
        await orm.close();
        await embedded?.stop();
      },
    };
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
}

export async function startService(config: Config, logger: Logger): Promise<RunningService> {
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
    const plugins = await loadPlugins(config.plugins.dir);
    if (plugins.plugins.length > 0) {
      logger.info(
        { plugins: plugins.plugins.map((plugin) => `${plugin.name}: ${plugin.signatures.join(', ')}`) },
        'plugins loaded',
      );
    }
    const migrateOnStart = config.database.migrateOnStart ?? database.embedded !== undefined;
    const state = await migrationState(orm);
    if (migrateOnStart && state.pending.length > 0) {
      const applied = await migrate(orm);
      logger.info({ applied }, 'applied pending migrations');
    } else {
      assertSchemaCurrent(state);
    }

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
    // The engine runs on Kafka when brokers are configured, else on the embedded bus in PostgreSQL.
    const bus =
      brokers === undefined
        ? createEmbeddedBus({ em: orm.em, logger })
        : createKafkaClient({ brokers, clientId: config.kafka.clientId, logger });
    const engine = await startEngine({
      bus,
      orm,
      logger,
      settings: {
        ...config.engine,
        topics: config.kafka,
        ...(config.plugins.dir === undefined ? {} : { pluginsDir: config.plugins.dir }),
      },
      threads: {
        databaseUrl: database.url,
        poolSize: Math.max(2, Math.floor(config.database.poolSize / 2)),
        clientId: config.kafka.clientId,
        logLevel: logger.level,
        ...(brokers === undefined ? {} : { brokers }),
      },
    });
    cleanups.push(() => engine.stop());
    const readiness = createReadiness(probes);
    const masterKey = resolveMasterKey({
      configured: config.security.masterKey,
      embeddedDatabase: database.embedded !== undefined,
      dataDir: config.dataDir,
      logger,
    });
    if (masterKey === undefined) {
      logger.warn('agent enrolment and channel disabled: set security.masterKey (JOINERY_MASTER_KEY)');
    }
    const app = await buildApp({
      plugins,
      topicPrefix: config.kafka.topicPrefix,
      orm,
      readiness,
      logger,
      bus,
      agents: { topicPrefix: config.kafka.topicPrefix, masterKey },
    });
    cleanups.push(() => app.close());
    await app.listen({ host: config.http.host, port: config.http.port });
    const address = app.server.address();
    const port = address !== null && typeof address === 'object' ? address.port : config.http.port;
    const url = `http://${config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host}:${port}`;
    logger.info({ url, kafka: brokers ?? 'embedded' }, 'Joinery is listening');
    return { url, app, orm, stop: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
