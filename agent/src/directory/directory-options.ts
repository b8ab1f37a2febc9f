// The `directory.options` of the agent's configuration for the two LDAP kinds (OpenLDAP and Active
// Directory): where the directory is, how to bind, what to read. One schema for both kinds, with the
// kind's own defaults (AD reads users by objectCategory, OpenLDAP by inetOrgPerson...) filled in here.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { ConfigError } from '../../../kernel/errors.ts';
import type { AgentConfig } from '../config/agent-config.schema.ts';
import { firstProblem } from '../config/load-agent-config.ts';
import type { DirectoryObjectClass } from '../contracts.ts';

const strict = { additionalProperties: false } as const;

const ObjectClassOptions = Type.Object(
  {
    base: Type.Optional(Type.String({ minLength: 1, description: 'Search base; default: baseDn.' })),
    filter: Type.Optional(
      Type.String({ pattern: '^\\(.*\\)$', description: "LDAP filter; default: the kind's own." }),
    ),
    /** Where writeback creates new objects of this class; default: base. */
    createIn: Type.Optional(Type.String({ minLength: 1 })),
  },
  strict,
);

export const LdapDirectoryOptionsSchema = Type.Object(
  {
    url: Type.String({
      pattern: '^ldaps?://[^\\s]+$',
      description: 'e.g. ldaps://dc1.example.com:636. Active Directory needs ldaps:// for password writes.',
    }),
    bindDn: Type.String({ minLength: 1, description: 'The service account the agent binds as.' }),
    bindPassword: Type.Optional(Type.String({ minLength: 1, description: 'e.g. ${JOINERY_LDAP_PASSWORD}.' })),
    bindPasswordFile: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'A file holding the bind password (instead of bindPassword).',
      }),
    ),
    caFile: Type.Optional(
      Type.String({ minLength: 1, description: "PEM file of the directory's CA (ldaps:// or StartTLS)." }),
    ),
    tlsVerify: Type.Boolean({
      default: true,
      description: "Verify the directory's certificate; false only for a test directory on loopback.",
    }),
    baseDn: Type.String({ minLength: 1, description: 'The naming context, e.g. DC=example,DC=com.' }),
    users: Type.Optional(ObjectClassOptions),
    groups: Type.Optional(ObjectClassOptions),
    contacts: Type.Optional(ObjectClassOptions),
    pageSize: Type.Integer({ default: 500, minimum: 1, maximum: 5000 }),
    timeoutMs: Type.Integer({ default: 30_000, minimum: 1000, description: 'Per LDAP operation.' }),
    accessLogDn: Type.String({
      default: 'cn=accesslog',
      description: 'OpenLDAP only: the accesslog database the delta reads deletions from.',
    }),
    samba: Type.Optional(
      Type.Object(
        {
          smbConf: Type.String({
            minLength: 1,
            description: 'Active Directory on Samba only: smb.conf of the DC, for password capture.',
          }),
          sambaTool: Type.String({ default: 'samba-tool', minLength: 1 }),
          gnupgHome: Type.Optional(
            Type.String({
              minLength: 1,
              description:
                "GnuPG home with the key the DC encrypts passwords to (default: the agent's GNUPGHOME or ~/.gnupg).",
            }),
          ),
        },
        strict,
      ),
    ),
  },
  strict,
);

type RawOptions = Static<typeof LdapDirectoryOptionsSchema>;

export interface ObjectClassSearch {
  base: string;
  filter: string;
  createIn: string;
}

export type LdapDirectoryOptions = Omit<RawOptions, 'users' | 'groups' | 'contacts' | 'bindPasswordFile'> & {
  kind: AgentConfig['directory']['kind'];
  bindPassword: string;
  /** The search of each object class, the kind's defaults filled in. */
  searches: Record<DirectoryObjectClass, ObjectClassSearch>;
  /** The CA certificate's PEM text, read from caFile. */
  ca?: string;
};

const defaultFilters: Record<AgentConfig['directory']['kind'], Record<DirectoryObjectClass, string>> = {
  openldap: {
    user: '(objectClass=inetOrgPerson)',
    group: '(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))',
    contact: '(&(objectClass=organizationalPerson)(!(objectClass=inetOrgPerson)))',
  },
  'active-directory': {
    user: '(&(objectCategory=person)(objectClass=user))',
    group: '(objectClass=group)',
    contact: '(objectClass=contact)',
  },
};

/** Validates `directory.options` for an LDAP kind; a problem names the setting and the file. */
export function parseLdapDirectoryOptions(
  directory: AgentConfig['directory'],
  file: string,
): LdapDirectoryOptions {
  const value = Value.Default(
    LdapDirectoryOptionsSchema,
    Value.Convert(LdapDirectoryOptionsSchema, structuredClone(directory.options)),
  );
  const problem = firstProblem(LdapDirectoryOptionsSchema, value);
  if (problem !== undefined) {
    const path = ['directory', 'options', ...problem.path].join('.');
    throw new ConfigError(`${path} (in ${file}): ${problem.message}`);
  }
  const raw = value as RawOptions;
  const base = dirname(file);
  const within = (path: string) => (isAbsolute(path) ? path : resolve(base, path));
  const readSetting = (setting: string, path: string): string => {
    try {
      return readFileSync(within(path), 'utf8');
    } catch (error) {
      throw new ConfigError(
        `directory.options.${setting} (in ${file}): ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        { cause: error },
      );
    }
  };
  let bindPassword = raw.bindPassword;
  if (raw.bindPasswordFile !== undefined) {
    if (bindPassword !== undefined) {
      throw new ConfigError(
        `directory.options.bindPasswordFile (in ${file}): give bindPassword or bindPasswordFile, not both`,
      );
    }
    bindPassword = readSetting('bindPasswordFile', raw.bindPasswordFile).trimEnd();
  }
  if (bindPassword === undefined || bindPassword === '') {
    throw new ConfigError(`directory.options.bindPassword (in ${file}): required (or bindPasswordFile)`);
  }
  if (raw.samba !== undefined && directory.kind !== 'active-directory') {
    throw new ConfigError(`directory.options.samba (in ${file}): only for kind active-directory`);
  }
  const search = (objectClass: DirectoryObjectClass, given: RawOptions['users']): ObjectClassSearch => {
    const searchBase = given?.base ?? raw.baseDn;
    return {
      base: searchBase,
      filter: given?.filter ?? defaultFilters[directory.kind][objectClass],
      createIn: given?.createIn ?? searchBase,
    };
  };
  const { users, groups, contacts, caFile, samba, ...rest } = raw;
  delete rest.bindPasswordFile; // read above
  return {
    ...rest,
    kind: directory.kind,
    bindPassword,
    searches: {
      user: search('user', users),
      group: search('group', groups),
      contact: search('contact', contacts),
    },
    ...(caFile === undefined ? {} : { caFile: within(caFile), ca: readSetting('caFile', caFile) }),
    ...(samba === undefined
      ? {}
      : {
          samba: {
            ...samba,
            smbConf: within(samba.smbConf),
            ...(samba.gnupgHome === undefined ? {} : { gnupgHome: within(samba.gnupgHome) }),
          },
        }),
  };
}
