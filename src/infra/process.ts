// Small process and network primitives shared by the local infrastructure services: detached daemons
// with pid files and log files under .infra/, TCP health waits, and Debian package installs.
import { spawn, execFile } from 'node:child_process';
import { openSync, closeSync, mkdirSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { InfraError } from '../../kernel/errors.ts';

const execFileAsync = promisify(execFile);

/** Project root: two levels above this file (src/infra/). */
export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The Node flags `joinery start` runs with (package.json's start script, src/cli/main.ts's shebang and
 * docker/Dockerfile say the same): a larger young generation (32 MiB semi-spaces instead of V8's 16) cuts
 * the engine's garbage collection under a bulk load, ~13% less engine CPU at 100k records
 * (docs/performance.md).
 */
export const engineNodeFlags = ['--disable-warning=TimeoutNegativeWarning', '--max-semi-space-size=32'];

/** Where local infrastructure keeps its state and logs; JOINERY_INFRA_DIR moves it. */
export function infraDir(...parts: string[]): string {
  const base = process.env.JOINERY_INFRA_DIR ?? join(projectRoot, '.infra');
  const dir = join(base, ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Deletes everything inside dir, keeping dir itself. */
export function emptyDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
}

export interface DaemonOptions {
  command: string;
  args: string[];
  pidFile: string;
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Starts a process that outlives this one, its output appended to logFile, its pid written to pidFile. */
export function startDaemon(options: DaemonOptions): number {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = openSync(options.logFile, 'a');
  try {
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', log, log],
    });
    if (child.pid === undefined) {
      throw new InfraError(`could not start ${options.command}; see ${options.logFile}`);
    }
    child.unref();
    writeFileSync(options.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

export function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid in pidFile when that process still runs; a stale pid file is removed. */
export function runningPid(pidFile: string): number | undefined {
  const pid = readPid(pidFile);
  if (pid !== undefined && isAlive(pid)) return pid;
  rmSync(pidFile, { force: true });
  return undefined;
}

/** SIGTERM, then SIGKILL after graceMs. Resolves once the process is gone. */
export async function stopProcess(pid: number, graceMs = 15_000): Promise<void> {
  const signal = (sig: NodeJS.Signals): void => {
    try {
      // Negative pid: the whole process group the daemon leads (detached children included).
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    signal('SIGKILL');
    while (isAlive(pid)) await sleep(50);
  }
}

export function isTcpOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => {
      done(false);
    });
    socket.once('connect', () => {
      done(true);
    });
    socket.once('error', () => {
      done(false);
    });
  });
}

/**
 * Polls check() until it returns true. Fails early when the process we started has died, pointing at
 * its log, so a broken start says why instead of waiting out the timeout.
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs: number; pid?: number; logFile?: string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await check()) return;
    if (options.pid !== undefined && !isAlive(options.pid)) {
      throw new InfraError(
        `${what} exited during start-up; see ${options.logFile ?? 'its log'}${tail(options.logFile)}`,
      );
    }
    if (Date.now() > deadline) {
      throw new InfraError(
        `${what} not ready after ${options.timeoutMs / 1000}s; see ${options.logFile ?? 'its log'}${tail(options.logFile)}`,
      );
    }
    await sleep(200);
  }
}

function tail(logFile: string | undefined): string {
  if (logFile === undefined || !existsSync(logFile)) return '';
  const lines = readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-5);
  return `\n  last log lines:\n    ${lines.join('\n    ')}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs a command to completion; a failure names the command and carries its stderr. */
export async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<string> {
  try {
    const child = execFileAsync(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      timeout: options.timeoutMs ?? 600_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (options.input !== undefined) {
      child.child.stdin?.end(options.input);
    }
    const { stdout } = await child;
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim() ?? '';
    throw new InfraError(
      `${command} ${args.join(' ')} failed${stderr ? `: ${stderr.split('\n').slice(-5).join(' | ')}` : ''}`,
      {
        cause: error,
      },
    );
  }
}

export async function commandExists(command: string): Promise<boolean> {
  try {
    await execFileAsync('sh', ['-c', `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

let aptUpdated = false;

/**
 * Installs Debian packages when the binary they provide is missing. Services are kept from starting at
 * install time (policy-rc.d exits 101): Joinery starts its own instances under .infra/.
 */
export async function ensureDebianPackages(
  needed: (
    { binary: string; packages: string[] } | { present: () => Promise<boolean>; packages: string[] }
  )[],
  debconf: string[] = [],
): Promise<void> {
  const missing: string[] = [];
  for (const need of needed) {
    const present = 'binary' in need ? await commandExists(need.binary) : await need.present();
    if (!present) missing.push(...need.packages);
  }
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new InfraError(
      `missing Debian packages ${missing.join(' ')}: install them with sudo apt-get install ${missing.join(' ')}`,
    );
  }
  if (!(await commandExists('apt-get'))) {
    throw new InfraError(
      `missing ${missing.join(' ')} and no apt-get on this machine: install them with your package manager`,
    );
  }
  const policy = '/usr/sbin/policy-rc.d';
  const hadPolicy = existsSync(policy);
  if (!hadPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    if (debconf.length > 0) await run('debconf-set-selections', [], { input: `${debconf.join('\n')}\n` });
    if (!aptUpdated) {
      await run('apt-get', ['update', '-qq']);
      aptUpdated = true;
    }
    await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } finally {
    if (!hadPolicy) rmSync(policy, { force: true });
  }
}
