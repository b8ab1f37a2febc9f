// MariaDB for development and tests (the SQL connector's MySQL dialect): Debian's mariadb-server, running
// as its own service on 127.0.0.1:3306 (root, empty password over TCP from this host). When it is not
// answering it is started the way this machine starts it (start-stop-daemon, no systemd); when it cannot
// be, the error says how.
import { existsSync } from 'node:fs';
import { InfraError } from '../../kernel/errors.ts';
import { isTcpOpen, run, waitUntil } from './process.ts';

export interface MariaDb {
  host: string;
  port: number;
  /** root with the empty password (the development server's account). */
  adminUrl: string;
}

const daemon = '/usr/sbin/mariadbd';

const howToStart =
  'install it (apt-get install mariadb-server) and start it: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd';

/** MariaDB answering on host:port — started when it is not; an InfraError saying how when it cannot be. */
export async function ensureMariaDb(options: { host?: string; port?: number } = {}): Promise<MariaDb> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 3306;
  const mariaDb = { host, port, adminUrl: `mysql://root@${host}:${String(port)}/` };
  if (await isTcpOpen(host, port)) return mariaDb;
  if (!existsSync(daemon))
    throw new InfraError(
      `MariaDB is not answering on ${host}:${String(port)} and is not installed: ${howToStart}`,
    );
  try {
    await run('start-stop-daemon', ['--start', '--oknodo', '--background', '--exec', daemon], {
      timeoutMs: 30_000,
    });
    await waitUntil(`MariaDB on ${host}:${String(port)}`, () => isTcpOpen(host, port), { timeoutMs: 30_000 });
  } catch (error) {
    throw new InfraError(
      `MariaDB is not answering on ${host}:${String(port)} and could not be started (${error instanceof Error ? error.message : String(error)}): ${howToStart}`,
      { cause: error },
    );
  }
  return mariaDb;
}
