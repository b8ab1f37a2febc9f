// A real rsyslog (Debian's) on loopback, for the SIEM export's syslog tests: it takes RFC 5424 messages
// over TCP and over TLS (imtcp, octet-counted framing; TLS through rsyslog-gnutls's gtls driver with a
// self-signed certificate for 127.0.0.1) and writes each one, as received, as a line of a file. Nothing
// is installed system-wide and no root is needed: the packages are fetched with `apt-get download` and
// unpacked with `dpkg -x` into the infra directory, and rsyslogd runs from there with its own modules.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { InfraError } from '../../kernel/errors.ts';
import type { InfraService } from './service.ts';
import { createDaemonService } from './daemon-service.ts';
import { infraDir, isTcpOpen, run } from './process.ts';

export interface RsyslogService extends InfraService {
  readonly host: string;
  /** The plain TCP input (imtcp). */
  readonly port: number;
  /** The TLS input (imtcp with the gtls stream driver, anonymous clients). */
  readonly tlsPort: number;
  /** The TLS input's self-signed certificate (PEM), to trust as a destination's `tls.ca`. */
  readonly certificateFile: string;
  /** Every message received, one per line, exactly as framed by the sender (%rawmsg%). */
  readonly receivedFile: string;
}

// rsyslog and the libraries of Debian 12's rsyslog that a minimal system lacks (the others — libc,
// zlib, zstd, libsystemd, libuuid, GnuTLS — are part of every Debian install).
const packages = ['rsyslog', 'rsyslog-gnutls', 'libestr0', 'libfastjson4', 'liblognorm5'];
const libDir = 'usr/lib/x86_64-linux-gnu';

export function createRsyslog(options: { port?: number; tlsPort?: number } = {}): RsyslogService {
  const name = 'rsyslog';
  const host = '127.0.0.1';
  const port = options.port ?? 10514;
  const tlsPort = options.tlsPort ?? 10515;
  const dir = infraDir(name);
  const root = join(dir, 'root');
  const rsyslogd = join(root, 'usr', 'sbin', 'rsyslogd');
  const confFile = join(dir, 'rsyslog.conf');
  const workDir = join(dir, 'work');
  const receivedFile = join(dir, 'received.log');
  const certificateFile = join(dir, 'tls-cert.pem');
  const keyFile = join(dir, 'tls-key.pem');

  const service = createDaemonService({
    name,
    label: 'rsyslog',
    host,
    port,
    endpoint: `tcp://${host}:${String(port)}`,
    dir,
    pidFile: join(dir, 'daemon.pid'),
    logFile: join(dir, 'rsyslog.log'),
    // Both inputs: an rsyslog started by an older configuration (without the TLS input) is not this one.
    healthy: async () => (await isTcpOpen(host, port)) && (await tlsAnswers(host, tlsPort, certificateFile)),
    portTakenMessage: `port ${String(port)} is taken by another program`,
    startTimeoutMs: 20_000,
    prepare: async () => {
      if (!existsSync(rsyslogd) || !existsSync(join(root, libDir, 'rsyslog', 'lmnsd_gtls.so')))
        await unpack(dir, root);
      mkdirSync(workDir, { recursive: true });
      if (!existsSync(certificateFile) || !existsSync(keyFile)) await selfSign(certificateFile, keyFile);
      writeFileSync(
        confFile,
        [
          // Large enough for an OCSF event with its attribute changes (rsyslog's default is 8 KiB).
          `global(workDirectory="${workDir}" maxMessageSize="256k")`,
          'module(load="imtcp")',
          `input(type="imtcp" address="${host}" port="${String(port)}")`,
          // gtls (lmnsd_gtls.so, found through -M like every module); anon: clients show no certificate.
          [
            `input(type="imtcp" address="${host}" port="${String(tlsPort)}"`,
            'StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon"',
            `StreamDriver.CertFile="${certificateFile}" StreamDriver.KeyFile="${keyFile}")`,
          ].join(' '),
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
  return { ...service, host, port, tlsPort, certificateFile, receivedFile };
}

/** True when a TLS handshake with host:port completes, the server showing the certificate in `caFile`. */
function tlsAnswers(host: string, port: number, caFile: string): Promise<boolean> {
  if (!existsSync(caFile)) return Promise.resolve(false);
  const ca = readFileSync(caFile, 'utf8');
  return new Promise((resolve) => {
    const socket = connect({ host, port, ca, timeout: 2_000 }, () => {
      socket.end();
      resolve(true);
    });
    socket.on('timeout', () => {
      socket.destroy();
    });
    socket.on('error', () => {
      resolve(false);
    });
    socket.on('close', () => {
      resolve(false);
    });
  });
}

/** A self-signed certificate for 127.0.0.1 (openssl), valid ten years: made once, kept in the infra dir. */
async function selfSign(certificateFile: string, keyFile: string): Promise<void> {
  await run('openssl', [
    ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', '/CN=127.0.0.1'],
    ...['-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certificateFile],
  ]);
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
