// PostgreSQL for development and tests: the server on 127.0.0.1:5432 when one runs there (Debian's
// cluster is started if it is merely stopped). Joinery's own embedded PostgreSQL is for `npm start`.
import { existsSync, readdirSync } from 'node:fs';
import { InfraError } from '../../kernel/errors.ts';
import type { InfraService, ServiceStatus } from './service.ts';
import { commandExists, isTcpOpen, run, waitUntil } from './process.ts';

export interface PostgresService extends InfraService {
  /** A URL for a database the tests may create and drop their own databases from. */
  readonly adminUrl: string;
}

export function createPostgres(options: { host?: string; port?: number } = {}): PostgresService {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 5432;
  const endpoint = `${host}:${port}`;
  const status = async (): Promise<ServiceStatus> => {
    const running = await isTcpOpen(host, port);
    return { name: 'postgres', running, endpoint, managedBy: running ? 'external' : 'none' };
  };
  return {
    name: 'postgres',
    adminUrl: `postgresql://postgres@${endpoint}/postgres`,
    status,
    async up() {
      const current = await status();
      if (current.running) return current;
      const clusters = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql') : [];
      const version = clusters[0];
      if (version === undefined || !(await commandExists('pg_ctlcluster'))) {
        throw new InfraError(
          `PostgreSQL is not reachable on ${endpoint} and no Debian cluster was found: ` +
            'install postgresql (apt-get install postgresql) or start one there',
        );
      }
      await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']);
      await waitUntil('PostgreSQL', () => isTcpOpen(host, port), { timeoutMs: 30_000 });
      return status();
    },
    down() {
      // Never stopped nor purged by Joinery: it belongs to the machine.
      return Promise.resolve('left running (not started by Joinery)' as const);
    },
  };
}
