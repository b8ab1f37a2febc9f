// One bound LDAP connection that survives the directory: each use binds again when the connection was
// lost (a directory restart, an idle timeout), so a failing step is retried by the agent's loop and the
// next attempt simply works once the directory is back. Reading and writeback each hold their own.
import { Client, type ClientOptions } from 'ldapts';
import type { Logger } from 'pino';
import type { LdapDirectoryOptions } from './directory-options.ts';

export interface LdapConnection {
  /** Runs `use` with a bound client; binds first when the connection is new or was re-established. */
  withClient<T>(use: (client: Client) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * A source's two connections: OpenLDAP keeps one paged search per connection and abandons it when
 * another search runs on that connection between pages, so the full import pages on a connection of its
 * own while the delta polls (every few seconds) on the other.
 */
export interface SourceConnections {
  reads: LdapConnection;
  fullImport: LdapConnection;
}

export function createLdapConnection(options: LdapDirectoryOptions, logger: Logger): LdapConnection {
  const clientOptions: ClientOptions = {
    url: options.url,
    timeout: options.timeoutMs,
    connectTimeout: Math.min(options.timeoutMs, 10_000),
    ...(options.url.startsWith('ldaps://')
      ? {
          tlsOptions: {
            rejectUnauthorized: options.tlsVerify,
            ...(options.ca === undefined ? {} : { ca: [options.ca] }),
          },
        }
      : {}),
  };
  let client: Client | undefined;
  let binding: Promise<void> | undefined;
  let lost = false;

  const bound = async (): Promise<Client> => {
    client ??= new Client(clientOptions);
    const current = client;
    if (!current.isBound) {
      binding ??= current.bind(options.bindDn, options.bindPassword).finally(() => {
        binding = undefined;
      });
      await binding;
      if (lost) logger.info({ url: options.url }, 'directory connection re-established');
      lost = false;
    }
    return current;
  };

  return {
    async withClient(use) {
      const current = await bound().catch((error: unknown) => {
        lost = true;
        throw error;
      });
      try {
        return await use(current);
      } catch (error) {
        // A broken socket leaves the client unbound; the next use reconnects and binds again.
        if (!current.isConnected) lost = true;
        throw error;
      }
    },
    async close() {
      const current = client;
      client = undefined;
      await current?.unbind().catch(() => undefined);
    },
  };
}
