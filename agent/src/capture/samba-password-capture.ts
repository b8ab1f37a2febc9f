// Captures password changes on a Samba AD domain controller with `samba-tool user syncpasswords`.
//
// The DC stores each new password GPG-encrypted in supplementalCredentials (Primary:SambaGPG) when
// smb.conf names `password hash gpg key ids`; syncpasswords reads changes with DirSync over the DC's
// privileged ldapi socket and decrypts them (`--decrypt-samba-gpg`, python3-gpg) with the secret key in
// GNUPGHOME. We run it in "Sync Loop Run" mode with `--no-wait` on every poll: it returns the changes
// since its cache ldb's DirSync cookie and exits, so its position survives agent restarts without a
// daemon to supervise. The cache ldb (in stateDir) holds the cookie and the options, never clear text;
// the LDIF with the clear passwords is read from the child's stdout into memory only.
//
// On Windows DCs the equivalent is a password filter DLL (PasswordFilter/PasswordChangeNotify, registered
// under HKLM\SYSTEM\CurrentControlSet\Control\Lsa\Notification Packages) handing each change to the agent
// over a local named pipe; it is not part of this build.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { JoineryError } from '../../../kernel/errors.ts';
import type { CapturedPassword, PasswordCapture } from '../contracts.ts';
import type { LdapDirectoryOptions } from '../directory/directory-options.ts';

/** syncpasswords failed: the DC or its ldapi socket is unavailable, or the cache is unusable. */
class PasswordCaptureError extends JoineryError {
  readonly code = 'JNY_PASSWORD_CAPTURE_FAILED';
  readonly retriable = true;
}

export interface SambaPasswordCaptureOptions {
  samba: NonNullable<LdapDirectoryOptions['samba']>;
  stateDir: string;
  logger: Logger;
  /** GnuPG home with the DC's decryption key; default: the agent's own (GNUPGHOME or ~/.gnupg). */
  gnupgHome?: string;
}

// Whatever the DirSync result shows changed among these means the password itself changed (a
// userAccountControl or sAMAccountName change also reaches syncpasswords, with the same password).
const passwordAttributes = new Set(['unicodePwd', 'supplementalCredentials', 'dBCSPwd']);

export function createSambaPasswordCapture(options: SambaPasswordCaptureOptions): PasswordCapture {
  const { samba, logger } = options;
  const dir = join(options.stateDir, 'password-capture');
  const cacheLdb = join(dir, 'syncpasswords-cache.ldb');
  // Written once the changes present at initialization were consumed, so they are not sent as new.
  const baselineMarker = join(dir, 'baseline-consumed');
  // syncpasswords moves its cache's DirSync cookie on by itself; the cache as it was before a poll is
  // kept until the agent acknowledges that poll's changes, and put back if the agent died in between.
  const unacknowledged = join(dir, 'syncpasswords-cache.before-poll.ldb');
  const gnupgHome = options.gnupgHome ?? samba.gnupgHome;
  // env(1) adds GNUPGHOME to the environment the agent was started with (which it otherwise inherits).
  const command =
    gnupgHome === undefined
      ? { file: samba.sambaTool, prefix: [] }
      : { file: 'env', prefix: [`GNUPGHOME=${gnupgHome}`, samba.sambaTool] };
  let chain: Promise<unknown> = Promise.resolve();

  const syncpasswords = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(
        command.file,
        [
          ...command.prefix,
          'user',
          'syncpasswords',
          `--configfile=${samba.smbConf}`,
          `--cache-ldb=${cacheLdb}`,
          ...args,
        ],
        { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) => {
          if (error === null) {
            resolve(stdout);
            return;
          }
          // stdout may hold clear passwords: only stderr's last line (the tool's error) is quoted.
          const reason = stderr.trim().split('\n').at(-1) ?? '';
          reject(
            new PasswordCaptureError(
              `samba-tool user syncpasswords (${samba.smbConf}, cache ${cacheLdb}) failed${reason === '' ? '' : `: ${reason}`}`,
              { cause: new Error(error.message.split('\n')[0]) },
            ),
          );
        },
      );
    });

  const initialize = async (): Promise<void> => {
    if (existsSync(baselineMarker)) return;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!existsSync(cacheLdb)) {
      await syncpasswords([
        '--cache-ldb-initialize',
        '--attributes=objectGUID,virtualClearTextUTF8',
        '--decrypt-samba-gpg',
      ]);
    }
    const existing = parseSyncOutput(await syncpasswords(['--no-wait']));
    writeFileSync(baselineMarker, `${new Date().toISOString()}\n`);
    logger.info(
      { cache: cacheLdb, accounts: existing.length },
      'password capture initialized; passwords set from now on are captured',
    );
  };

  const poll = async (): Promise<CapturedPassword[]> => {
    await initialize();
    if (existsSync(unacknowledged)) {
      // The previous poll's changes were never acknowledged (the agent stopped before queueing them).
      renameSync(unacknowledged, cacheLdb);
      logger.warn('the last password capture was not acknowledged; reading its changes again');
    }
    copyFileSync(cacheLdb, unacknowledged);
    const captured = parseSyncOutput(await syncpasswords(['--no-wait']));
    if (captured.length > 0) logger.debug({ count: captured.length }, 'password changes captured');
    return captured;
  };

  return {
    poll() {
      // syncpasswords refuses a second run on the same cache (its pid lock): one poll at a time.
      const next = chain.then(poll);
      chain = next.catch(() => undefined);
      return next;
    },
    acknowledge() {
      const next = chain.then(() => {
        rmSync(unacknowledged, { force: true });
      });
      chain = next.catch(() => undefined);
      return next;
    },
    async close() {
      await chain;
    },
  };
}

/**
 * The password changes in syncpasswords' output. Each change prints two LDIF blocks, after log lines
 * `# Dirsync[n] <guid>` (what DirSync saw change) and `# Passwords[n] <guid>` (the attributes asked
 * for, here objectGUID and the decrypted virtualClearTextUTF8). The objectGUID is already the canonical
 * GUID string (the mixed-endian rendering, e.g. bytes f4 cb d8 5b 75 d1 51 42 → 5bd8cbf4-d175-4251-…),
 * lower case, the same form the AD source uses as externalId.
 */
function parseSyncOutput(stdout: string, now = new Date()): CapturedPassword[] {
  const captured: CapturedPassword[] = [];
  const changedByGuid = new Map<string, { passwordChanged: boolean; at?: string }>();
  let section: 'dirsync' | 'passwords' | undefined;
  let block: Map<string, string> | undefined;
  let lastKey: string | undefined;

  const finishBlock = (): void => {
    if (block === undefined) return;
    const guid = block.get('objectGUID')?.toLowerCase();
    if (guid !== undefined && section === 'dirsync') {
      const pwdLastSet = block.get('pwdLastSet');
      changedByGuid.set(guid, {
        passwordChanged: [...block.keys()].some((key) => passwordAttributes.has(key)),
        ...(pwdLastSet === undefined ? {} : { at: fileTimeToIso(pwdLastSet) }),
      });
    }
    const password = block.get('virtualClearTextUTF8');
    if (guid !== undefined && section === 'passwords' && password !== undefined) {
      const change = changedByGuid.get(guid);
      if (change?.passwordChanged === true) {
        captured.push({ externalId: guid, password, at: change.at ?? now.toISOString() });
      }
    }
    block = undefined;
    lastKey = undefined;
  };

  for (const line of stdout.split('\n')) {
    if (block === undefined) {
      const marker = /: # (Dirsync|Passwords)\[\d+\] /.exec(line);
      if (marker !== null) section = marker[1] === 'Dirsync' ? 'dirsync' : 'passwords';
      if (line.startsWith('dn:')) block = new Map();
      continue;
    }
    if (line.trim() === '') {
      finishBlock();
      section = undefined;
      continue;
    }
    if (line.startsWith(' ') && lastKey !== undefined) {
      // An LDIF continuation line (values folded at ~78 columns); only base64 values are folded here.
      block.set(lastKey, `${block.get(lastKey) ?? ''}${line.slice(1)}`);
      continue;
    }
    // Redacted secrets appear as comments, `# unicodePwd::: REDACTED SECRET ATTRIBUTE`: their presence
    // is what tells a password change apart.
    const comment = /^# ([A-Za-z][\w-]*):::/.exec(line);
    if (comment?.[1] !== undefined) {
      block.set(comment[1], '');
      continue;
    }
    const attribute = /^([A-Za-z][\w;-]*)(::?) ?(.*)$/.exec(line);
    if (attribute?.[1] === undefined) continue;
    lastKey = attribute[1];
    block.set(lastKey, attribute[2] === '::' ? `base64:${attribute[3] ?? ''}` : (attribute[3] ?? ''));
  }
  finishBlock();
  return captured.map((change) => ({ ...change, password: decodeValue(change.password) }));
}

function decodeValue(value: string): string {
  return value.startsWith('base64:') ? Buffer.from(value.slice(7), 'base64').toString('utf8') : value;
}

/** AD's FILETIME (100 ns intervals since 1601-01-01 UTC) as an ISO instant. */
function fileTimeToIso(value: string): string | undefined {
  const ticks = /^\d+$/.test(value) ? BigInt(value) : 0n;
  if (ticks === 0n) return undefined;
  return new Date(Number(ticks / 10_000n - 11_644_473_600_000n)).toISOString();
}
