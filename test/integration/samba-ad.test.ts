// Samba AD starts lazily: only this file (and later the agent's AD tests) needs it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Attribute, Change, Client } from 'ldapts';
import { createSambaAd, sambaAdDomain } from '../../src/infra/samba-ad.ts';
import { uniqueName } from '../support/factories.ts';

const ACCOUNTDISABLE = 0x2;
const NORMAL_ACCOUNT = 0x200;

describe('Samba AD domain controller (real samba-ad-dc)', () => {
  const ad = createSambaAd();
  const client = new Client({ url: ad.url, timeout: 10_000, tlsOptions: { rejectUnauthorized: false } });

  beforeAll(async () => {
    await ad.up();
    await client.bind(sambaAdDomain.adminDn, sambaAdDomain.adminPassword);
  }, 240_000);
  afterAll(async () => {
    await client.unbind();
  });

  it('creates a user with a password over LDAPS, enables and disables it, and deletes it', async () => {
    const sam = uniqueName('jt').slice(0, 20);
    const dn = `CN=${sam},${sambaAdDomain.usersDn}`;
    await client.add(dn, {
      objectClass: ['top', 'person', 'organizationalPerson', 'user'],
      sAMAccountName: sam,
      userPrincipalName: `${sam}@joinery.test`,
      givenName: 'Test',
      sn: 'User',
    });
    const password = Buffer.from('"Joinery-Test-Pw-1"', 'utf16le');
    await client.modify(dn, [
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'unicodePwd', values: [password] }),
      }),
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'userAccountControl', values: [String(NORMAL_ACCOUNT)] }),
      }),
    ]);

    const { searchEntries } = await client.search(sambaAdDomain.usersDn, {
      filter: `(sAMAccountName=${sam})`,
      attributes: ['objectGUID', 'userAccountControl', 'uSNChanged'],
      explicitBufferAttributes: ['objectGUID'],
    });
    const [user] = searchEntries;
    expect(Buffer.isBuffer(user?.objectGUID)).toBe(true);
    expect((user?.objectGUID as Buffer).length).toBe(16);
    expect(Number(user?.userAccountControl) & ACCOUNTDISABLE).toBe(0);

    // The user can bind with the password set through unicodePwd.
    const asUser = new Client({ url: ad.url, timeout: 10_000, tlsOptions: { rejectUnauthorized: false } });
    await asUser.bind(`${sam}@joinery.test`, 'Joinery-Test-Pw-1');
    await asUser.unbind();

    await client.modify(
      dn,
      new Change({
        operation: 'replace',
        modification: new Attribute({
          type: 'userAccountControl',
          values: [String(NORMAL_ACCOUNT | ACCOUNTDISABLE)],
        }),
      }),
    );
    const disabled = await client.search(dn, {
      scope: 'base',
      attributes: ['userAccountControl', 'uSNChanged'],
    });
    expect(Number(disabled.searchEntries[0]?.userAccountControl) & ACCOUNTDISABLE).toBe(ACCOUNTDISABLE);
    expect(Number(disabled.searchEntries[0]?.uSNChanged)).toBeGreaterThan(Number(user?.uSNChanged));

    await client.del(dn);
    const gone = await client.search(sambaAdDomain.usersDn, { filter: `(sAMAccountName=${sam})` });
    expect(gone.searchEntries).toHaveLength(0);
  });
});
