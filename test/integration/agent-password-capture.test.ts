// The agent's password capture against a real Samba AD DC (samba-tool user syncpasswords, GPG-decrypted).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Attribute, Change, Client } from 'ldapts';
import { createSambaPasswordCapture } from '../../agent/src/capture/samba-password-capture.ts';
import type { PasswordCapture } from '../../agent/src/contracts.ts';
import { createSambaAd, sambaAdDomain } from '../../src/infra/samba-ad.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';

const NORMAL_ACCOUNT = 0x200;

/** objectGUID bytes as the canonical GUID string (first three groups little-endian). */
function canonicalGuid(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  const swap = (part: string) => (part.match(/../g) ?? []).reverse().join('');
  return [
    swap(hex.slice(0, 8)),
    swap(hex.slice(8, 12)),
    swap(hex.slice(12, 16)),
    hex.slice(16, 20),
    hex.slice(20),
  ].join('-');
}

describe('password capture on Samba AD (real samba-ad-dc, syncpasswords)', () => {
  const ad = createSambaAd();
  const admin = new Client({ url: ad.url, timeout: 10_000, tlsOptions: { rejectUnauthorized: false } });
  const stateDir = mkdtempSync(join(tmpdir(), 'joinery-capture-'));
  let capture: PasswordCapture;
  const users: string[] = [];

  const createUser = async (): Promise<{ dn: string; externalId: string }> => {
    const sam = uniqueName('pc').slice(0, 20);
    const dn = `CN=${sam},${sambaAdDomain.usersDn}`;
    await admin.add(dn, {
      objectClass: ['top', 'person', 'organizationalPerson', 'user'],
      sAMAccountName: sam,
      userPrincipalName: `${sam}@joinery.test`,
    });
    users.push(dn);
    const { searchEntries } = await admin.search(dn, {
      scope: 'base',
      attributes: ['objectGUID'],
      explicitBufferAttributes: ['objectGUID'],
    });
    return { dn, externalId: canonicalGuid(searchEntries[0]?.objectGUID as Buffer) };
  };

  const setPassword = (dn: string, password: string, enable = false) =>
    admin.modify(dn, [
      new Change({
        operation: 'replace',
        modification: new Attribute({
          type: 'unicodePwd',
          values: [Buffer.from(`"${password}"`, 'utf16le')],
        }),
      }),
      ...(enable
        ? [
            new Change({
              operation: 'replace',
              modification: new Attribute({ type: 'userAccountControl', values: [String(NORMAL_ACCOUNT)] }),
            }),
          ]
        : []),
    ]);

  beforeAll(async () => {
    await ad.up();
    await admin.bind(sambaAdDomain.adminDn, sambaAdDomain.adminPassword);
    capture = createSambaPasswordCapture({
      samba: { smbConf: ad.smbConf, sambaTool: 'samba-tool' },
      stateDir,
      logger: silentLogger,
      gnupgHome: ad.gnupgHome,
    });
    await capture.poll(); // initializes its position: what was set before is not reported
    await capture.acknowledge();
  }, 240_000);
  afterAll(async () => {
    await capture.close();
    for (const dn of users) await admin.del(dn).catch(() => undefined);
    await admin.unbind();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('reports a changed password in clear text, once, with the account objectGUID', async () => {
    const user = await createUser();
    const password = `Captured-${uniqueName('pw')}!`;
    await setPassword(user.dn, password, true);

    const before = Date.now();
    const captured = await capture.poll();
    expect(Date.now() - before).toBeLessThan(10_000);
    expect(captured).toEqual([{ externalId: user.externalId, password, at: expect.any(String) as string }]);
    expect(Math.abs(Date.parse(captured[0]?.at ?? '') - Date.now())).toBeLessThan(60_000);
    await capture.acknowledge();

    expect(await capture.poll()).toEqual([]);
    await capture.acknowledge();
  });

  it('reports each change of several accounts, and not an account change that keeps the password', async () => {
    const first = await createUser();
    const second = await createUser();
    await setPassword(first.dn, 'First-Password-1!', true);
    await setPassword(second.dn, 'Second-Password-2!', true);
    await setPassword(first.dn, 'First-Password-3!');
    await admin.modify(
      second.dn,
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'userAccountControl', values: [String(NORMAL_ACCOUNT | 0x2)] }),
      }),
    );

    const captured = await capture.poll();
    // DirSync reports an object's current state once: the latest password of each account.
    expect(
      captured
        .map(({ externalId, password }) => ({ externalId, password }))
        .sort((a, b) => a.password.localeCompare(b.password)),
    ).toEqual([
      { externalId: first.externalId, password: 'First-Password-3!' },
      { externalId: second.externalId, password: 'Second-Password-2!' },
    ]);
    await capture.acknowledge();

    await admin.modify(
      second.dn,
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'userAccountControl', values: [String(NORMAL_ACCOUNT)] }),
      }),
    );
    expect(await capture.poll()).toEqual([]);
    await capture.acknowledge();
  });

  it('reports again, after a restart, the changes of a poll that was never acknowledged', async () => {
    const user = await createUser();
    const password = `Unacked-${uniqueName('pw')}!`;
    await setPassword(user.dn, password, true);
    expect((await capture.poll()).map((c) => c.password)).toEqual([password]);
    // The agent dies before queueing them: no acknowledge. The next process polls again.
    await capture.close();
    capture = createSambaPasswordCapture({
      samba: { smbConf: ad.smbConf, sambaTool: 'samba-tool' },
      stateDir,
      logger: silentLogger,
      gnupgHome: ad.gnupgHome,
    });
    expect(await capture.poll()).toEqual([
      { externalId: user.externalId, password, at: expect.any(String) as string },
    ]);
    await capture.acknowledge();
    expect(await capture.poll()).toEqual([]);
    await capture.acknowledge();
  });

  it('keeps its position across restarts and never writes a clear password to its state directory', async () => {
    const user = await createUser();
    const password = 'Restart-Password-9!';
    await setPassword(user.dn, password, true);

    await capture.close();
    capture = createSambaPasswordCapture({
      samba: { smbConf: ad.smbConf, sambaTool: 'samba-tool' },
      stateDir,
      logger: silentLogger,
      gnupgHome: ad.gnupgHome,
    });
    expect((await capture.poll()).map((c) => c.password)).toEqual([password]);

    const files = readdirSync(stateDir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const content = readFileSync(join(file.parentPath, file.name));
      for (const form of [
        Buffer.from(password, 'utf8'),
        Buffer.from(password, 'utf16le'),
        Buffer.from(Buffer.from(password).toString('base64')),
      ]) {
        expect(content.includes(form)).toBe(false);
      }
    }
  });
});
