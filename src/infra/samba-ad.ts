// A real Active Directory domain controller (Debian samba-ad-dc) on loopback, for the agent's AD tests:
// DirSync, uSNChanged, objectGUID, userAccountControl and unicodePwd behave as they do on Windows.
// It is heavier than the other services (a provision takes seconds), so it starts only when asked for.
// The DC keeps each new password GPG-encrypted (`password hash gpg key ids`), so the agent's password
// capture (`samba-tool user syncpasswords --decrypt-samba-gpg`) can read it in clear text.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { InfraError } from '../../kernel/errors.ts';
import type { InfraService } from './service.ts';
import { createDaemonService } from './daemon-service.ts';
import { ensureDebianPackages, infraDir, run } from './process.ts';

/** The test domain's fixed coordinates: a development DC on loopback, never a real secret. */
export const sambaAdDomain = {
  realm: 'JOINERY.TEST',
  netbiosDomain: 'JOINERY',
  baseDn: 'DC=joinery,DC=test',
  usersDn: 'CN=Users,DC=joinery,DC=test',
  adminDn: 'CN=Administrator,CN=Users,DC=joinery,DC=test',
  adminPassword: 'Joinery-AD-Admin-1',
} as const;

export interface SambaAdService extends InfraService {
  /** LDAPS: AD refuses simple binds and password writes over plain LDAP. */
  readonly url: string;
  readonly domain: typeof sambaAdDomain;
  /** The DC's smb.conf, for `samba-tool` (password capture). */
  readonly smbConf: string;
  /** The GnuPG home holding the key the DC encrypts passwords to; syncpasswords decrypts with it. */
  readonly gnupgHome: string;
}

const host = '127.0.0.1';
const ldapsPort = 636;

export function createSambaAd(): SambaAdService {
  const name = 'samba-ad';
  const url = `ldaps://${host}:${ldapsPort}`;
  const dir = infraDir(name);
  const targetDir = join(dir, 'dc');
  const smbConf = join(targetDir, 'etc', 'smb.conf');
  const provisioned = join(dir, 'provisioned');
  const pidFile = join(dir, 'samba.pid');
  const logFile = join(dir, 'samba.log');
  const gnupgHome = join(dir, 'gnupg');

  const service = createDaemonService({
    name,
    label: 'Samba AD',
    host,
    port: ldapsPort,
    endpoint: url,
    dir,
    pidFile,
    logFile,
    healthy: () => answersBind(url),
    portTakenMessage: `port ${String(ldapsPort)} is taken by a server that does not accept the test domain's Administrator bind`,
    startTimeoutMs: 90_000,
    stopGraceMs: 30_000,
    prepare: async () => {
      await ensureDebianPackages(
        [
          { binary: 'samba', packages: ['samba-ad-dc'] },
          { binary: 'samba-tool', packages: ['samba-ad-provision'] },
          { binary: 'kinit', packages: ['krb5-user'] },
          // syncpasswords decrypts with the python3 gpg module, which has no command to look for.
          { present: () => succeeds('/usr/bin/python3', ['-c', 'import gpg']), packages: ['python3-gpg'] },
        ],
        [`krb5-config krb5-config/default_realm string ${sambaAdDomain.realm}`],
      );
      if (!existsSync(provisioned)) await provision(targetDir, provisioned);
      configureRpcPorts(smbConf);
      await configurePasswordEncryption(smbConf, gnupgHome);
      // -i: foreground, logging to stdout (our log file); -M single: one process, light on 2 cores.
      return {
        command: 'samba',
        args: ['-i', '-M', 'single', '-s', smbConf],
        cwd: dir,
        env: { ...process.env, GNUPGHOME: gnupgHome },
      };
    },
  });

  return {
    ...service,
    async up() {
      // A DC provisioned before passwords were GPG-encrypted: restarted once, prepare() configures it.
      const current = await service.status();
      if (current.running && current.managedBy === 'joinery' && !hasGpgKeyIds(smbConf)) await service.down();
      return service.up();
    },
    url,
    domain: sambaAdDomain,
    smbConf,
    gnupgHome,
  };
}

const gpgKeyIdsOption = 'password hash gpg key ids';
const rpcPortRangeOption = 'rpc server dynamic port range';

/**
 * Samba binds each RPC endpoint to a port of its dynamic range (49152-65535 by default), which overlaps
 * the kernel's ephemeral range: a client connection elsewhere on the machine that happens to hold, say,
 * 127.0.0.1:49154 makes the DC exit at start-up (NT_STATUS_ADDRESS_ALREADY_ASSOCIATED). The endpoints
 * get a range the kernel never hands out to clients instead. Idempotent; rewrites an older DC's smb.conf.
 */
function configureRpcPorts(smbConf: string): void {
  const [from, to] = rpcPortRange(readEphemeralPortRange());
  const line = `\t${rpcPortRangeOption} = ${String(from)}-${String(to)}\n`;
  const conf = readFileSync(smbConf, 'utf8');
  const current = new RegExp(`^\\s*${rpcPortRangeOption} = .*\\n`, 'm');
  const next = current.test(conf)
    ? conf.replace(current, line)
    : conf.replace(/^\[global\]\n/m, `[global]\n${line}`);
  if (next !== conf) writeFileSync(smbConf, next);
}

/** The kernel's range of local ports for outgoing connections; Linux's default when it cannot be read. */
function readEphemeralPortRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (low !== undefined && high !== undefined && Number.isInteger(low) && Number.isInteger(high)) {
      return [low, high];
    }
  } catch {
    // not Linux, or /proc unreadable
  }
  return [32768, 60999];
}

/** 200 ports just above the ephemeral range, or just below it when it reaches the top. */
export function rpcPortRange([low, high]: [number, number]): [number, number] {
  const size = 200;
  if (high + size <= 65535) return [high + 1, high + size];
  return [Math.max(1024, low - size), low - 1];
}

function hasGpgKeyIds(smbConf: string): boolean {
  return existsSync(smbConf) && readFileSync(smbConf, 'utf8').includes(gpgKeyIdsOption);
}

/**
 * Gives the DC a passphrase-less GPG key of its own and names it in smb.conf: every password set from
 * then on is also stored encrypted to it (supplementalCredentials Primary:SambaGPG). Idempotent.
 */
async function configurePasswordEncryption(smbConf: string, gnupgHome: string): Promise<void> {
  if (hasGpgKeyIds(smbConf)) return;
  mkdirSync(gnupgHome, { recursive: true, mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: gnupgHome };
  const uid = 'Joinery test DC <samba-dc@joinery.test>';
  const listed = await run('gpg', ['--batch', '--with-colons', '--list-keys', uid], { env }).catch(() => '');
  if (!listed.includes('fpr:')) {
    await run('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', uid, 'rsa2048', 'encr', 'never'], {
      env,
    });
  }
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(
    await run('gpg', ['--batch', '--with-colons', '--list-keys', uid], { env }),
  )?.[1];
  if (fingerprint === undefined) {
    throw new InfraError(`no GPG key for the Samba AD test domain in ${gnupgHome}`);
  }
  const conf = readFileSync(smbConf, 'utf8');
  writeFileSync(smbConf, conf.replace(/^\[global\]\n/m, `[global]\n\t${gpgKeyIdsOption} = ${fingerprint}\n`));
}

function succeeds(command: string, args: string[]): Promise<boolean> {
  return run(command, args).then(
    () => true,
    () => false,
  );
}

/** Provisions a fresh domain; the marker file is written last, so an interrupted provision starts over. */
async function provision(targetDir: string, marker: string): Promise<void> {
  rmSync(targetDir, { recursive: true, force: true });
  try {
    await run('samba-tool', [
      'domain',
      'provision',
      `--targetdir=${targetDir}`,
      `--realm=${sambaAdDomain.realm}`,
      `--domain=${sambaAdDomain.netbiosDomain}`,
      '--server-role=dc',
      '--dns-backend=NONE',
      `--host-ip=${host}`,
      `--adminpass=${sambaAdDomain.adminPassword}`,
      // Loopback only, and only the services an LDAP client needs.
      '--option=interfaces = lo',
      '--option=bind interfaces only = yes',
      '--option=server services = ldap, cldap, kdc, rpc',
      '--option=dns proxy = no',
    ]);
  } catch (error) {
    throw new InfraError(`could not provision the Samba AD test domain in ${targetDir}`, { cause: error });
  }
  writeFileSync(marker, `${new Date().toISOString()}\n`);
}

async function answersBind(url: string): Promise<boolean> {
  const client = new Client({
    url,
    timeout: 3000,
    connectTimeout: 2000,
    tlsOptions: { rejectUnauthorized: false },
  });
  try {
    await client.bind(sambaAdDomain.adminDn, sambaAdDomain.adminPassword);
    return true;
  } catch {
    return false;
  } finally {
    await client.unbind().catch(() => undefined);
  }
}
