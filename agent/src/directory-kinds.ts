// The directory kinds the agent serves, and the parts each one is made of: the source (full and delta
// imports), the password capture and the writeback. The agent's runtime knows only the interfaces in
// contracts.ts; this is the one place that knows the implementations.
import type { Logger } from 'pino';
import { ConfigError } from '../../kernel/errors.ts';
import type { AgentConfig } from './config/agent-config.schema.ts';
import type { DirectorySource, PasswordCapture, Writeback } from './contracts.ts';
import { parseLdapDirectoryOptions } from './directory/directory-options.ts';
import { createLdapConnection } from './directory/ldap-connection.ts';
import { createOpenLdapSource } from './directory/openldap-source.ts';
import { createActiveDirectorySource } from './directory/ad-source.ts';
import { createLdapWriteback } from './directory/ldap-writeback.ts';
import { createSambaPasswordCapture } from './capture/samba-password-capture.ts';

export interface DirectoryParts {
  source: DirectorySource;
  /** Present when password capture is configured and the kind supports it. */
  capture?: PasswordCapture;
  writeback?: Writeback;
}

export interface DirectoryContext {
  logger: Logger;
  stateDir: string;
  passwordCapture: boolean;
  /** The configuration file, named in errors about directory.options. */
  file: string;
}

export type DirectoryFactory = (
  directory: AgentConfig['directory'],
  context: DirectoryContext,
) => Promise<DirectoryParts>;

/** Builds the configured kind's parts; options are validated by the kind, with the setting named. */
export const createDirectoryParts: DirectoryFactory = (directory, context) => {
  const options = parseLdapDirectoryOptions(directory, context.file);
  const logger = context.logger.child({ directory: options.url });
  let capture: PasswordCapture | undefined;
  if (context.passwordCapture) {
    if (options.kind !== 'active-directory' || options.samba === undefined) {
      throw new ConfigError(
        `schedules.passwordCapture (in ${context.file}): password capture needs directory.kind active-directory on a Samba DC with directory.options.samba.smbConf (on Windows, a password filter DLL; see docs/agent.md)`,
      );
    }
    capture = createSambaPasswordCapture({ samba: options.samba, stateDir: context.stateDir, logger });
  }
  const connections = {
    reads: createLdapConnection(options, logger),
    fullImport: createLdapConnection(options, logger),
  };
  const source =
    options.kind === 'openldap'
      ? createOpenLdapSource(connections, options, logger)
      : createActiveDirectorySource(connections, options, logger);
  const writeback = createLdapWriteback(createLdapConnection(options, logger), options, logger);
  return Promise.resolve({ source, writeback, ...(capture === undefined ? {} : { capture }) });
};
