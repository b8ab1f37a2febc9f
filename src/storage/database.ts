// Opening the database and knowing its schema: which migrations ran, which are pending, and whether the
// database holds migrations this build does not know (a newer Joinery ran against it).
import { readdirSync } from 'node:fs';
import { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { SchemaMismatchError, UnavailableError } from '../../kernel/errors.ts';
import { createOrmOptions, migrationsDir } from './orm.config.ts';
import { redactUrl } from '../config/load-config.ts';
import { ensureTenantRole } from './tenant-role.ts';

export async function openDatabase(settings: {
  url: string;
  poolSize: number;
  logger: Logger;
}): Promise<MikroORM> {
  try {
    return await MikroORM.init({
      ...createOrmOptions({ clientUrl: settings.url, poolSize: settings.poolSize }),
      logger: (message) => {
        settings.logger.debug({ component: 'orm' }, message);
      },
    });
  } catch (error) {
    throw new UnavailableError(`cannot connect to PostgreSQL at ${redactUrl(settings.url)}`, {
      cause: error,
    });
  }
}

export interface MigrationState {
  executed: string[];
  pending: string[];
  /** Executed in the database but unknown to this build. */
  unknown: string[];
}

export function knownMigrations(): string[] {
  return readdirSync(migrationsDir)
    .filter((file) => /^Migration\w+\.(ts|js)$/.test(file) && !file.endsWith('.d.ts'))
    .map((file) => file.replace(/\.(ts|js)$/, ''))
    .sort();
}

export async function migrationState(orm: MikroORM): Promise<MigrationState> {
  const known = new Set(knownMigrations());
  const executed = (await orm.migrator.getExecuted()).map((row) => row.name.replace(/\.(ts|js)$/, ''));
  const done = new Set(executed);
  return {
    executed,
    pending: [...known].filter((name) => !done.has(name)),
    unknown: executed.filter((name) => !known.has(name)),
  };
}

/**
 * Applies pending migrations in one transaction, then makes the API's tenant role (database.tenantRole) and
 * its grants (tenant-role.ts); returns the migrations' names.
 */
export async function migrate(orm: MikroORM, options: { tenantRole?: string } = {}): Promise<string[]> {
  const state = await migrationState(orm);
  assertNoUnknown(state);
  const applied = await orm.migrator.up();
  await ensureTenantRole(orm, options.tenantRole);
  return applied.map((migration) => migration.name);
}

/** The service runs only on the exact schema it was built for. */
export function assertSchemaCurrent(state: MigrationState): void {
  assertNoUnknown(state);
  if (state.pending.length > 0) {
    throw new SchemaMismatchError(
      `database schema is behind this build: ${state.pending.length} pending migration(s) (${state.pending.join(', ')}); run \`joinery migrate\``,
    );
  }
}

function assertNoUnknown(state: MigrationState): void {
  if (state.unknown.length > 0) {
    throw new SchemaMismatchError(
      `database schema is newer than this build: unknown migration(s) ${state.unknown.join(', ')}; run a Joinery version that knows them`,
    );
  }
}
