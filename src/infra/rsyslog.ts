// A real rsyslog (Debian's) on loopback, for the SIEM export's syslog tests: it takes RFC 5424 messages
// over TCP (imtcp, octet-counted framing) and writes each one, as received, as a line of a file. Nothing
// is installed system-wide and no root is needed: the packages are fetched with `apt-get download` and
// unpacked with `dpkg -x` into the infra directory, and rsyslogd runs from there with its own modules.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InfraError } from '../../kernel/errors.ts';
import type { InfraService } from './service.ts';
import { createDaemonService } from './daemon-service.ts';
import { infraDir, isTcpOpen, run } from './process.ts';

export interface RsyslogService extends InfraService {
  readonly host: string;
  /** The plain TCP input (imtcp). */
  readonly port: number;
  /** Every message received, one per line, exactly as framed by the sender (%rawmsg%). */
  readonly receivedFile: string;
}

// rsyslog and the libraries of Debian 12's rsyslog that a minimal system lacks (the others — libc,
// zlib, zstd, libsystemd, libuuid, GnuTLS — are part of every Debian install).
const packages = ['rsyslog', 'rsyslog-gnutls', 'libestr0', 'libfastjson4', 'liblognorm5'];
const libDir = 'usr/lib/x86_64-linux-gnu';

export function createRsyslog(options: { port?: number } = {}): RsyslogService {
  const name = 'rsyslog';
  const host = '127.0.0.1';
  const port = options.port ?? 10514;
  const dir = infraDir(name);
  const root = join(dir, 'root');
  const rsyslogd = join(root, 'usr', 'sbin', 'rsyslogd');
  const confFile = join(dir, 'rsyslog.conf');
  const workDir = join(dir, 'work');
  const receivedFile = join(dir, 'received.log');

  const service = createDaemonService({
    name,
    label: 'rsyslog',
    host,
    port,
    endpoint: `tcp://${host}:${String(port)}`,
    dir,
    pidFile: join(dir, 'daemon.pid'),
    logFile: join(dir, 'rsyslog.log'),
    healthy: () => isTcpOpen(host, port),
    portTakenMessage: `port ${String(port)} is taken by another program`,
    startTimeoutMs: 20_000,
    prepare: async () => {
      if (!existsSync(rsyslogd)) await unpack(dir, root);
      mkdirSync(workDir, { recursive: true });
      writeFileSync(
        confFile,
        [
          // Large enough for an OCSF event with its attribute changes (rsyslog's default is 8 KiB).
          `global(workDirectory="${workDir}" maxMessageSize="256k")`,
          'module(load="imtcp")',
          `input(type="imtcp" address="${host}" port="${String(port)}")`,
          'template(name="received" type="string" string="%rawmsg%\\n")',
          `*.* action(type="omfile" file="${receivedFile}" template="received" flushOnTXEnd="on" asyncWriting="off")`,
          '',
        ].join('\n'),
      );
      return {
        command: rsyslogd,
        // -n: foreground (our pid is its pid); -i: its own pid file, apart from the one we keep.
        args: ['-n', '-f', confFile, '-M', join(root, libDir, 'rsyslog'), '-i', join(dir, 'rsyslogd.pid')],
        cwd: dir,
        env: { ...process.env, LD_LIBRARY_PATH: join(root, libDir) },
      };
    },
  });
  return { ...service, host, port, receivedFile };
}

/** Fetches Debian's packages (no root needed) and unpacks them into `root`; the binary is written last. */
async function unpack(dir: string, root: string): Promise<void> {
  const debs = join(dir, 'debs');
  rmSync(debs, { recursive: true, force: true });
  mkdirSync(debs, { recursive: true });
  try {
    await run('apt-get', ['download', ...packages], { cwd: debs, timeoutMs: 120_000 });
  } catch (error) {
    throw new InfraError(
      `could not download rsyslog's Debian packages (${packages.join(' ')}): is apt configured (apt-get update)?`,
      { cause: error },
    );
  }
  const staging = `${root}.partial`;
  rmSync(staging, { recursive: true, force: true });
  for (const deb of readdirSync(debs).filter((file) => file.endsWith('.deb')))
    await run('dpkg', ['-x', join(debs, deb), staging]);
  rmSync(root, { recursive: true, force: true });
  await run('mv', [staging, root]);
}
