// Which Joinery process runs the embedded PostgreSQL of a data directory. The process that starts it
// (`joinery start`, or a CLI command when no service runs) records itself in <dataDir>/running.json —
// pid, command, PostgreSQL port, start time — written atomically and removed when it stops the server.
// A record whose process is gone (kill -9, power loss) is stale: the PostgreSQL it left behind is a
// leftover that the next Joinery stops. Every decision about the record (read it, start PostgreSQL and
// write it, stop PostgreSQL and remove it) is taken under <dataDir>/postgres.lock, so a CLI command and
// `joinery start` launched at the same instant see each other instead of both starting a server.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lock } from 'proper-lockfile';
import type { Logger } from 'pino';
import { StartUpError } from '../../kernel/errors.ts';
import { displayPath, errorCode } from './start-up-messages.ts';

export interface RunningJoinery {
  pid: number;
  /** `start` for the service, otherwise the CLI command that runs the server for itself (`tenant create`). */
  command: string;
  /** The port the embedded PostgreSQL listens on (127.0.0.1). */
  postgresPort: number;
  startedAt: string;
  /** Linux: the process's start time (/proc/<pid>/stat), so that a pid reused by another program is not taken for it. */
  processStart?: string | undefined;
}

export function recordPath(dataDir: string): string {
  return join(dataDir, 'running.json');
}

/** The record, or undefined when there is none or it is unreadable (a torn write cannot happen: see writeRecord). */
export function readRecord(dataDir: string): RunningJoinery | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(recordPath(dataDir), 'utf8'));
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const record = parsed as Partial<RunningJoinery>;
  if (
    typeof record.pid !== 'number' ||
    typeof record.command !== 'string' ||
    typeof record.postgresPort !== 'number' ||
    typeof record.startedAt !== 'string'
  ) {
    return undefined;
  }
  return record as RunningJoinery;
}

/** Written to a temporary file and renamed over the record: a reader sees the old record or the new one. */
export function writeRecord(dataDir: string, record: RunningJoinery): void {
  const file = recordPath(dataDir);
  const temporary = `${file}.${String(process.pid)}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
  renameSync(temporary, file);
}

/** Removes the record if it is this process's. */
export function removeOwnRecord(dataDir: string): void {
  if (readRecord(dataDir)?.pid === process.pid) rmSync(recordPath(dataDir), { force: true });
}

export function describeRecord(record: RunningJoinery): string {
  return record.command === 'start'
    ? `another Joinery (pid ${String(record.pid)})`
    : `\`joinery ${record.command}\` (pid ${String(record.pid)})`;
}

/** Whether the recorded process still runs (and is the same process, where the system tells). */
export function isRunning(record: RunningJoinery): boolean {
  if (record.pid === process.pid) return true;
  if (!processExists(record.pid)) return false;
  const start = processStartOf(record.pid);
  return record.processStart === undefined || start === undefined || start === record.processStart;
}

export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. Linux only. */
export function processStartOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function ownRecord(command: string, postgresPort: number): RunningJoinery {
  return {
    pid: process.pid,
    command,
    postgresPort,
    startedAt: new Date().toISOString(),
    processStart: processStartOf(process.pid),
  };
}

/**
 * Holds <dataDir>/postgres.lock (proper-lockfile: a directory, kept fresh every 2 s, taken over when a
 * holder died and left it older than 10 s). Waits up to 90 s for another holder, e.g. a first start
 * running initdb.
 */
export async function lockDataDir(
  dataDir: string,
  logger: Logger,
  options: { waitMs?: number } = {},
): Promise<() => Promise<void>> {
  const lockfilePath = join(dataDir, 'postgres.lock');
  const waitMs = options.waitMs ?? 90_000;
  try {
    const release = await lock(dataDir, {
      realpath: false,
      lockfilePath,
      stale: 10_000,
      update: 2_000,
      retries: { retries: Math.ceil(waitMs / 200), factor: 1, minTimeout: 200, maxTimeout: 200 },
      onCompromised: (error) => {
        // The library's default throws from a timer (a crash). Losing the lock means another process
        // took it over after this one stalled for 10 s; the record it reads is still this process's.
        logger.warn({ err: error, lockfilePath }, 'lost the data directory lock');
      },
    });
    return async () => {
      await release().catch(() => undefined);
    };
  } catch (error) {
    if (errorCode(error) !== 'ELOCKED') {
      throw new StartUpError(
        `cannot write the data directory ${displayPath(dataDir)} (${errorCode(error)}) — make it writable, or set JOINERY_DATA_DIR to another directory`,
        { cause: error },
      );
    }
    throw new StartUpError(
      `another Joinery has held ${displayPath(lockfilePath)} for ${String(Math.round(waitMs / 1000))} s while starting or stopping its embedded PostgreSQL — wait for it, or stop it`,
      { cause: error },
    );
  }
}
