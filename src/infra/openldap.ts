// An OpenLDAP server (Debian slapd) with a small test directory, for the agent's LDAP connector and the
// integration tests. It runs from a throwaway cn=config under .infra/openldap, loaded with slapadd, with
// the overlays the agent relies on: syncprov (RFC 4533 content sync), accesslog (a cn=accesslog database
// recording every write, deletes included with the entry's entryUUID) and ppolicy (pwdAccountLockedTime
// disables an account).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { InfraError } from '../../kernel/errors.ts';
import type { InfraService } from './service.ts';
import { createDaemonService } from './daemon-service.ts';
import { ensureDebianPackages, infraDir, run } from './process.ts';

/** The test directory's fixed coordinates: a development server on loopback, never a real secret. */
export const openLdapDirectory = {
  baseDn: 'dc=joinery,dc=test',
  adminDn: 'cn=admin,dc=joinery,dc=test',
  adminPassword: 'joinery-ldap-admin',
  peopleDn: 'ou=people,dc=joinery,dc=test',
  groupsDn: 'ou=groups,dc=joinery,dc=test',
  /** The default password policy: ppolicy enforces pwdAccountLockedTime (a disabled account) only under one. */
  passwordPolicyDn: 'cn=default,ou=policies,dc=joinery,dc=test',
  accessLogDn: 'cn=accesslog',
} as const;

export interface SeedPerson {
  uid: string;
  givenName: string;
  sn: string;
  mail: string;
  employeeNumber: string;
  title: string;
}

/** The people every fresh test directory starts with. */
export const seedPeople: readonly SeedPerson[] = [
  person('ada.lovelace', 'Ada', 'Lovelace', 'E1001', 'Analyst'),
  person('alan.turing', 'Alan', 'Turing', 'E1002', 'Cryptanalyst'),
  person('grace.hopper', 'Grace', 'Hopper', 'E1003', 'Rear Admiral'),
  person('edsger.dijkstra', 'Edsger', 'Dijkstra', 'E1004', 'Professor'),
  person('barbara.liskov', 'Barbara', 'Liskov', 'E1005', 'Institute Professor'),
];

/** Groups (groupOfNames) and the uids of their members. */
export const seedGroups: Readonly<Record<string, readonly string[]>> = {
  engineering: ['ada.lovelace', 'grace.hopper', 'barbara.liskov'],
  research: ['alan.turing', 'edsger.dijkstra'],
};

function person(
  uid: string,
  givenName: string,
  sn: string,
  employeeNumber: string,
  title: string,
): SeedPerson {
  return { uid, givenName, sn, mail: `${uid}@joinery.test`, employeeNumber, title };
}

export interface OpenLdapOptions {
  /** Instance name: its state lives in .infra/<name>. */
  name?: string;
  port?: number;
}

export interface OpenLdapService extends InfraService {
  readonly url: string;
  readonly directory: typeof openLdapDirectory;
}

export function createOpenLdap(options: OpenLdapOptions = {}): OpenLdapService {
  const name = options.name ?? 'openldap';
  const port = options.port ?? 10389;
  const host = '127.0.0.1';
  const url = `ldap://${host}:${port}`;
  const dir = infraDir(name);
  const configDir = join(dir, 'slapd.d');
  const pidFile = join(dir, 'slapd.pid');
  const logFile = join(dir, 'slapd.log');

  return {
    ...createDaemonService({
      name,
      label: `OpenLDAP (${name})`,
      host,
      port,
      endpoint: url,
      dir,
      pidFile,
      logFile,
      healthy: () => answersBind(url),
      portTakenMessage: `port ${String(port)} is taken by a server that does not accept the test directory's admin bind (${openLdapDirectory.adminDn})`,
      startTimeoutMs: 30_000,
      prepare: async () => {
        await ensureDebianPackages(
          [
            { binary: 'slapd', packages: ['slapd'] },
            { binary: 'ldapsearch', packages: ['ldap-utils'] },
          ],
          ['slapd slapd/no_configuration boolean true'],
        );
        if (!existsSync(configDir) || layoutOf(dir) !== LAYOUT) await createDirectory(dir);
        // -d 0 keeps slapd in the foreground (our pid file then names it) without debug output.
        return { command: 'slapd', args: ['-d', '0', '-h', `${url}/`, '-F', configDir], cwd: dir };
      },
    }),
    url,
    directory: openLdapDirectory,
  };
}

/** Bumped when cn=config or the seed changes: a test directory of an older layout is built again. */
const LAYOUT = '2 (ppolicy, accesslog old entryUUID)';

function layoutOf(dir: string): string | undefined {
  const file = join(dir, 'layout');
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

/**
 * Builds cn=config and the seeded directory with slapadd. cn=config is written to slapd.d.partial and
 * renamed last: slapd.d's presence is what marks the directory as complete, so an interrupted build
 * starts over.
 */
async function createDirectory(dir: string): Promise<void> {
  const partial = join(dir, 'slapd.d.partial');
  for (const sub of ['slapd.d.partial', 'data', 'accesslog']) {
    rmSync(join(dir, sub), { recursive: true, force: true });
    mkdirSync(join(dir, sub));
  }
  writeFileSync(join(dir, 'config.ldif'), configLdif(dir));
  writeFileSync(join(dir, 'seed.ldif'), seedLdif());
  try {
    await run('slapadd', ['-n', '0', '-F', partial, '-l', join(dir, 'config.ldif')]);
    await run('slapadd', ['-F', partial, '-b', openLdapDirectory.baseDn, '-l', join(dir, 'seed.ldif')]);
  } catch (error) {
    throw new InfraError(`could not create the OpenLDAP test directory in ${dir}`, { cause: error });
  }
  rmSync(join(dir, 'slapd.d'), { recursive: true, force: true });
  renameSync(partial, join(dir, 'slapd.d'));
  writeFileSync(join(dir, 'layout'), LAYOUT);
}

function configLdif(dir: string): string {
  const { baseDn, adminDn, adminPassword, accessLogDn } = openLdapDirectory;
  return `dn: cn=config
objectClass: olcGlobal
cn: config
olcLogLevel: none

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: syncprov
olcModuleLoad: accesslog
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

include: file:///etc/ldap/schema/nis.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: unlimited

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: ${accessLogDn}
olcDbDirectory: ${join(dir, 'accesslog')}
olcRootDN: ${adminDn}
olcDbMaxSize: 1073741824
olcDbIndex: default eq
olcDbIndex: entryCSN,objectClass,reqEnd,reqResult,reqStart,reqDN
olcAccess: {0}to * by dn.exact="${adminDn}" read by * none
olcLimits: {0}dn.exact="${adminDn}" size=unlimited time=unlimited

dn: olcDatabase={2}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {2}mdb
olcSuffix: ${baseDn}
olcDbDirectory: ${join(dir, 'data')}
olcRootDN: ${adminDn}
olcRootPW: ${adminPassword}
olcDbMaxSize: 4294967296
olcDbIndex: objectClass eq
olcDbIndex: entryUUID,entryCSN eq
olcDbIndex: uid,mail,employeeNumber,member eq
olcAccess: {0}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {1}to * by * read
olcLimits: {0}dn.exact="${adminDn}" size=unlimited time=unlimited

dn: olcOverlay={0}syncprov,olcDatabase={2}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {0}syncprov
olcSpCheckpoint: 100 10
olcSpSessionlog: 10000

dn: olcOverlay={1}accesslog,olcDatabase={2}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcAccessLogConfig
olcOverlay: {1}accesslog
olcAccessLogDB: ${accessLogDn}
olcAccessLogOps: writes
olcAccessLogSuccess: TRUE
olcAccessLogPurge: 07+00:00 01+00:00
olcAccessLogOld: (objectClass=*)
olcAccessLogOldAttr: entryUUID objectClass

dn: olcOverlay={2}ppolicy,olcDatabase={2}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {2}ppolicy
olcPPolicyDefault: ${openLdapDirectory.passwordPolicyDn}
`;
}

function seedLdif(): string {
  const { baseDn, peopleDn, groupsDn, passwordPolicyDn } = openLdapDirectory;
  const entries = [
    `dn: ${baseDn}\nobjectClass: dcObject\nobjectClass: organization\ndc: joinery\no: Joinery Test`,
    `dn: ${peopleDn}\nobjectClass: organizationalUnit\nou: people`,
    `dn: ${groupsDn}\nobjectClass: organizationalUnit\nou: groups`,
    `dn: ou=policies,${baseDn}\nobjectClass: organizationalUnit\nou: policies`,
    // No lockout or expiry rules: the policy exists so that pwdAccountLockedTime disables an account.
    `dn: ${passwordPolicyDn}\nobjectClass: organizationalRole\nobjectClass: pwdPolicy\ncn: default\npwdAttribute: userPassword`,
    ...seedPeople.map(
      (p) =>
        `dn: uid=${p.uid},${peopleDn}\nobjectClass: inetOrgPerson\nuid: ${p.uid}\ncn: ${p.givenName} ${p.sn}\n` +
        `givenName: ${p.givenName}\nsn: ${p.sn}\nmail: ${p.mail}\nemployeeNumber: ${p.employeeNumber}\n` +
        `title: ${p.title}\nuserPassword: ${p.uid}-password`,
    ),
    ...Object.entries(seedGroups).map(
      ([cn, members]) =>
        `dn: cn=${cn},${groupsDn}\nobjectClass: groupOfNames\ncn: ${cn}\n` +
        members.map((uid) => `member: uid=${uid},${peopleDn}`).join('\n'),
    ),
  ];
  return `${entries.join('\n\n')}\n`;
}

async function answersBind(url: string): Promise<boolean> {
  const client = new Client({ url, timeout: 2000, connectTimeout: 1000 });
  try {
    await client.bind(openLdapDirectory.adminDn, openLdapDirectory.adminPassword);
    return true;
  } catch {
    return false;
  } finally {
    await client.unbind().catch(() => undefined);
  }
}
