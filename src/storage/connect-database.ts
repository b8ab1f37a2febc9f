// Opening the database the configuration points at: the external PostgreSQL of `database.url`, or the
// embedded one under `dataDir`, started on demand — or, for a CLI command beside a running `joinery start`,
// that service's embedded PostgreSQL (embedded-postgres.ts). Used by `joinery start` and every CLI command.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { Config } from '../config/config.schema.ts';
import { redactUrl } from '../config/load-config.ts';
import { openDatabase } from './database.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './embedded-postgres.ts';

export interface ConnectedDatabase {
  orm: MikroORM;
  /** The connection URL (worker threads open their own pools with it). */
  url: string;
  /** The embedded PostgreSQL, when no URL is configured (possibly the running service's). */
  embedded: EmbeddedDatabase | undefined;
  close(): Promise<void>;
}

export async function connectDatabase(
  config: Pick<Config, 'database' | 'dataDir'>,
  logger: Logger,
  /** `start` (the default) for the service; the CLI command otherwise, e.g. `tenant create`. */
  options: { command?: string } = {},
): Promise<ConnectedDatabase> {
  const embedded =
    config.database.url === undefined
      ? await startEmbeddedPostgres({
          dataDir: config.dataDir,
          port: config.database.embeddedPort,
          logger,
          command: options.command ?? 'start',
        })
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
