// The lifecycle every daemon Joinery runs for development shares (Kafka, OpenLDAP, Samba AD): status from
// its pid file, its port and a health check; an idempotent up() that returns at once when healthy, waits
// for one still booting, refuses a port taken by something else, and otherwise prepares and starts it;
// a down() that stops only what Joinery started. Each service supplies what differs. Several processes
// (test workers, a CLI) may bring one service up at once: preparing and starting hold a lock file, so the
// second waits for the first instead of provisioning the same directory beside it.
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { lock } from 'proper-lockfile';
import { InfraError } from '../../kernel/errors.ts';
import type { DownOutcome, InfraService, ServiceStatus } from './service.ts';
import {
  emptyDir,
  isTcpOpen,
  runningPid,
  startDaemon,
  stopProcess,
  waitUntil,
  type DaemonOptions,
} from './process.ts';

export interface DaemonServiceSpec {
  name: string;
  /** Shown in messages, e.g. "OpenLDAP (openldap)". */
  label: string;
  host: string;
  port: number;
  endpoint: string;
  /** The service's state directory (emptied by a purge). */
  dir: string;
  pidFile: string;
  logFile: string;
  /** True when the service answers as itself (not merely an open port). */
  healthy: () => Promise<boolean>;
  /** What to tell the user when the port answers but not as this service. */
  portTakenMessage: string;
  startTimeoutMs: number;
  stopGraceMs?: number;
  /** Installs what is missing and creates the state on first start; returns how to start the daemon. */
  prepare: () => Promise<Omit<DaemonOptions, 'pidFile' | 'logFile'>>;
}

export function createDaemonService(spec: DaemonServiceSpec): InfraService {
  const { name, endpoint, pidFile, logFile } = spec;
  const status = async (): Promise<ServiceStatus> => {
    const pid = runningPid(pidFile);
    const open = await isTcpOpen(spec.host, spec.port);
    if (pid !== undefined) {
      return { name, running: open && (await spec.healthy()), endpoint, managedBy: 'joinery', pid, logFile };
    }
    if (open) return { name, running: await spec.healthy(), endpoint, managedBy: 'external' };
    return { name, running: false, endpoint, managedBy: 'none' };
  };
  const waitHealthy = (pid: number) =>
    waitUntil(spec.label, spec.healthy, { timeoutMs: spec.startTimeoutMs, pid, logFile });

  return {
    name,
    status,
    async up() {
      const current = await status();
      if (current.running) return current;
      mkdirSync(dirname(spec.dir), { recursive: true });
      const lockFile = `${spec.dir}.lock`;
      // The library's default for a lock it could not keep fresh is a throw from a timer (a crash).
      let lost: Error | undefined;
      const release = await lock(spec.dir, {
        realpath: false,
        lockfilePath: lockFile,
        // Held while a first start provisions (Samba AD: a minute on a busy machine); kept fresh meanwhile.
        stale: 30_000,
        retries: { retries: 1_000, factor: 1, minTimeout: 250, maxTimeout: 250 },
        onCompromised: (error) => {
          lost = error;
        },
      });
      const keptLock = <T>(result: T): T => {
        if (lost === undefined) return result;
        throw new InfraError(
          `${spec.label} started, but ${lockFile} could not be kept for 30 s (the machine was too busy), so another process may have started it too: run "joinery infra status ${name}"`,
          { cause: lost },
        );
      };
      try {
        const now = await status();
        if (now.running) return now;
        if (now.managedBy === 'external') throw new InfraError(spec.portTakenMessage);
        if (now.pid !== undefined) {
          // Started earlier and still booting: wait for it instead of starting a second one.
          await waitHealthy(now.pid);
          return keptLock(await status());
        }
        const daemon = await spec.prepare();
        await waitHealthy(startDaemon({ ...daemon, pidFile, logFile }));
        return keptLock(await status());
      } finally {
        // A lost lock is gone already: releasing it again would only fail.
        if (lost === undefined) await release();
      }
    },
    async down(options = {}): Promise<DownOutcome> {
      const pid = runningPid(pidFile);
      if (pid !== undefined) await stopProcess(pid, spec.stopGraceMs);
      rmSync(pidFile, { force: true });
      if (options.purge === true) emptyDir(spec.dir);
      if (pid !== undefined) return 'stopped';
      return (await isTcpOpen(spec.host, spec.port))
        ? 'left running (not started by Joinery)'
        : 'not running';
    },
  };
}
