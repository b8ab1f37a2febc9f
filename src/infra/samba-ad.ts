// A real Active Directory domain controller (Debian samba-ad-dc) on loopback, for the agent's AD tests:
// DirSync, uSNChanged, objectGUID, userAccountControl and unicodePwd behave as they do on Windows.
// It is heavier than the other services (a provision takes seconds), so it starts only when asked for.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { InfraError } from '../errors.ts';
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

  return {
    ...createDaemonService({
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
          ],
          [`krb5-config krb5-config/default_realm string ${sambaAdDomain.realm}`],
        );
        if (!existsSync(provisioned)) await provision(targetDir, provisioned);
        // -i: foreground, logging to stdout (our log file); -M single: one process, light on 2 cores.
        return { command: 'samba', args: ['-i', '-M', 'single', '-s', smbConf], cwd: dir };
      },
    }),
    url,
    domain: sambaAdDomain,
  };
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
