// The agent's writeback against real directories: Samba AD over LDAPS and OpenLDAP (slapd), each in an
// OU of its own. Every instruction is applied twice: the second time must succeed and change nothing.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, NoSuchObjectError, type Entry } from 'ldapts';
import type { Attributes } from '../../kernel/contracts/identity-events.ts';
import type { Writeback, WritebackInstruction, WritebackResult } from '../../agent/src/contracts.ts';
import { parseLdapDirectoryOptions } from '../../agent/src/directory/directory-options.ts';
import { createLdapConnection } from '../../agent/src/directory/ldap-connection.ts';
import { createLdapWriteback } from '../../agent/src/directory/ldap-writeback.ts';
import { createOpenLdap, openLdapDirectory } from '../../src/infra/openldap.ts';
import { createSambaAd, sambaAdDomain } from '../../src/infra/samba-ad.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';

const ACCOUNTDISABLE = 0x2;
const tenantId = randomUUID();
const applicationId = randomUUID();

/** An export.v1 message's data, as the channel hands it to the writeback. */
function exportOf(
  operation: WritebackInstruction['operation'],
  fields: Partial<WritebackInstruction> = {},
): WritebackInstruction {
  return {
    tenantId,
    exportId: randomUUID(),
    applicationId,
    identityId: randomUUID(),
    operation,
    attempt: 1,
    at: new Date().toISOString(),
    ...fields,
  };
}

/** What differs between the two directories; the scenarios below are the same for both. */
interface DirectoryUnderTest {
  kind: 'active-directory' | 'openldap';
  url: string;
  up: () => Promise<unknown>;
  adminDn: string;
  adminPassword: string;
  baseDn: string;
  /** The attributes of a new user named `name`. */
  user: (name: string) => Attributes;
  /** The RDN attribute of users created by default. */
  userRdn: string;
  multiValued: string;
  binary: string;
  /** The name a user binds with. */
  bindName: (dn: string, name: string) => string;
}

const sambaAd = createSambaAd();
const openLdap = createOpenLdap();

const directories: DirectoryUnderTest[] = [
  {
    kind: 'active-directory',
    url: sambaAd.url,
    up: () => sambaAd.up(),
    adminDn: sambaAdDomain.adminDn,
    adminPassword: sambaAdDomain.adminPassword,
    baseDn: sambaAdDomain.baseDn,
    user: (name) => ({
      cn: name,
      sAMAccountName: name.slice(0, 20),
      userPrincipalName: `${name}@joinery.test`,
      givenName: 'Writeback',
      sn: 'Test',
    }),
    userRdn: 'CN',
    multiValued: 'otherTelephone',
    binary: 'thumbnailPhoto',
    bindName: (_dn, name) => `${name}@joinery.test`,
  },
  {
    kind: 'openldap',
    url: openLdap.url,
    up: () => openLdap.up(),
    adminDn: openLdapDirectory.adminDn,
    adminPassword: openLdapDirectory.adminPassword,
    baseDn: openLdapDirectory.baseDn,
    user: (name) => ({ uid: name, cn: `Writeback ${name}`, sn: 'Test', givenName: 'Writeback' }),
    userRdn: 'uid',
    multiValued: 'mail',
    binary: 'jpegPhoto',
    bindName: (dn) => dn,
  },
];

describe.each(directories)('writeback to $kind (real directory)', (directory) => {
  const connect = () =>
    new Client({
      url: directory.url,
      timeout: 10_000,
      ...(directory.url.startsWith('ldaps://') ? { tlsOptions: { rejectUnauthorized: false } } : {}),
    });
  /**
   * Runs fn on a freshly bound admin connection. One long-lived connection is not enough: ldapts reopens
   * a dropped connection without binding again, and every later read failed as "unavailable without
   * authentication" (seen once in CI), which a read then took for a missing entry.
   */
  const asAdmin = async <T>(fn: (admin: Client) => Promise<T>): Promise<T> => {
    const admin = connect();
    try {
      await admin.bind(directory.adminDn, directory.adminPassword);
      return await fn(admin);
    } finally {
      await admin.unbind().catch(() => undefined);
    }
  };
  const ou = uniqueName('wb');
  const ouDn = `OU=${ou},${directory.baseDn}`;
  const options = parseLdapDirectoryOptions(
    {
      kind: directory.kind,
      options: {
        url: directory.url,
        bindDn: directory.adminDn,
        bindPassword: directory.adminPassword,
        tlsVerify: false,
        baseDn: directory.baseDn,
        users: { createIn: ouDn },
        groups: { createIn: ouDn },
      },
    },
    '/tmp/x.yaml',
  );
  let writeback: Writeback;

  /** Applies the instruction twice: both succeed with the same answer (the second changes nothing). */
  const applyTwice = async (instruction: WritebackInstruction): Promise<WritebackResult> => {
    const result = await writeback.apply(instruction);
    expect(result, `${instruction.operation}: ${JSON.stringify(result)}`).toMatchObject({
      status: 'succeeded',
    });
    const again = await writeback.apply({ ...instruction, attempt: 2 });
    expect(again).toEqual(result);
    return result;
  };

  const read = async (dn: string, attributes: string[] = ['*']): Promise<Entry | undefined> => {
    try {
      const { searchEntries } = await asAdmin((admin) =>
        admin.search(dn, { scope: 'base', attributes, explicitBufferAttributes: [directory.binary] }),
      );
      return searchEntries[0];
    } catch (error) {
      if (error instanceof NoSuchObjectError) return undefined;
      throw error;
    }
  };

  const values = (entry: Entry | undefined, type: string): string[] => {
    const value = entry?.[type];
    if (value === undefined) return [];
    return (Array.isArray(value) ? value : [value]).map(String);
  };

  const createUser = async (name = uniqueName('wu').slice(0, 20)) => {
    const result = await applyTwice(
      exportOf('create', { objectClass: 'user', attributes: directory.user(name) }),
    );
    if (result.status !== 'succeeded' || result.dn === undefined) throw new Error('create failed');
    return { name, externalId: result.externalId, dn: result.dn };
  };

  beforeAll(async () => {
    await directory.up();
    await asAdmin((admin) => admin.add(ouDn, { objectClass: ['top', 'organizationalUnit'], ou }));
    writeback = createLdapWriteback(createLdapConnection(options, silentLogger), options, silentLogger);
  }, 240_000);

  afterAll(async () => {
    await writeback.close();
    // Deepest first: an entry with children cannot be deleted.
    await asAdmin(async (admin) => {
      const { searchEntries } = await admin.search(ouDn, { scope: 'sub', attributes: ['1.1'] });
      const dns = searchEntries
        .map((entry) => entry.dn)
        .sort((a, b) => b.split(',').length - a.split(',').length);
      for (const dn of dns) await admin.del(dn).catch(() => undefined);
    });
  });

  it('creates a user in createIn and answers with the anchor the directory gave it', async () => {
    const user = await createUser();
    expect(user.dn.toLowerCase()).toBe(`${directory.userRdn}=${user.name},${ouDn}`.toLowerCase());
    const entry = await read(user.dn, ['sn', 'givenName', 'objectClass']);
    expect(values(entry, 'sn')).toEqual(['Test']);
    expect(values(entry, 'givenName')).toEqual(['Writeback']);
    expect(values(entry, 'objectClass').map((c) => c.toLowerCase())).toContain(
      directory.kind === 'openldap' ? 'inetorgperson' : 'user',
    );
    expect(user.externalId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('updates attributes: replaces values, writes multi-valued and binary ones, clears with null', async () => {
    const user = await createUser();
    const photo = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46]);
    await applyTwice(
      exportOf('update', {
        externalId: user.externalId,
        attributes: {
          sn: 'Updated',
          [directory.multiValued]: ['a1@joinery.test', 'a2@joinery.test'],
          [directory.binary]: photo.toString('base64'),
          title: 'Engineer',
        },
      }),
    );
    let entry = await read(user.dn, ['sn', directory.multiValued, directory.binary, 'title']);
    expect(values(entry, 'sn')).toEqual(['Updated']);
    expect(values(entry, directory.multiValued).sort()).toEqual(['a1@joinery.test', 'a2@joinery.test']);
    expect(entry?.[directory.binary]).toEqual(photo);

    await applyTwice(exportOf('update', { externalId: user.externalId, attributes: { title: null } }));
    entry = await read(user.dn, ['title', 'sn']);
    expect(values(entry, 'title')).toEqual([]);
    expect(values(entry, 'sn')).toEqual(['Updated']);
  });

  it('renames by the naming attribute and moves by dn, still finding the object by its anchor', async () => {
    const user = await createUser();
    const renamed = `${user.name}-r`;
    const rename = await applyTwice(
      exportOf('update', { externalId: user.externalId, attributes: { [directory.userRdn]: renamed } }),
    );
    const renamedDn = `${directory.userRdn}=${renamed},${ouDn}`;
    expect(rename).toMatchObject({ status: 'succeeded', externalId: user.externalId });
    expect(rename.status === 'succeeded' && rename.dn?.toLowerCase()).toBe(renamedDn.toLowerCase());
    expect(await read(user.dn)).toBeUndefined();

    const subOu = `OU=moved,${ouDn}`;
    if ((await read(subOu)) === undefined)
      await asAdmin((admin) => admin.add(subOu, { objectClass: ['top', 'organizationalUnit'], ou: 'moved' }));
    const movedDn = `${directory.userRdn}=${renamed},${subOu}`;
    const move = await applyTwice(
      exportOf('update', { externalId: user.externalId, attributes: { dn: movedDn } }),
    );
    expect(move).toMatchObject({ status: 'succeeded', externalId: user.externalId });
    expect(move.status === 'succeeded' && move.dn?.toLowerCase()).toBe(movedDn.toLowerCase());
    expect(values(await read(movedDn, ['sn']), 'sn')).toEqual(['Test']);
  });

  it('disables and enables an account', async () => {
    const user = await createUser();
    const disable = await writeback.apply(exportOf('disable', { externalId: user.externalId }));
    if (directory.kind === 'active-directory') {
      expect(disable).toMatchObject({ status: 'succeeded' });
      await applyTwice(exportOf('disable', { externalId: user.externalId }));
      const disabled = Number(values(await read(user.dn, ['userAccountControl']), 'userAccountControl')[0]);
      expect(disabled & ACCOUNTDISABLE).toBe(ACCOUNTDISABLE);
      await applyTwice(exportOf('enable', { externalId: user.externalId }));
      const enabled = Number(values(await read(user.dn, ['userAccountControl']), 'userAccountControl')[0]);
      expect(enabled & ACCOUNTDISABLE).toBe(0);
      expect(enabled & ~ACCOUNTDISABLE).toBe(disabled & ~ACCOUNTDISABLE); // the other bits are kept
      return;
    }
    // OpenLDAP locks with ppolicy's pwdAccountLockedTime (the test directory loads the overlay).
    expect(disable).toMatchObject({ status: 'succeeded' });
    await applyTwice(exportOf('disable', { externalId: user.externalId }));
    expect(values(await read(user.dn, ['pwdAccountLockedTime']), 'pwdAccountLockedTime')).toEqual([
      '000001010000Z',
    ]);
    await applyTwice(exportOf('enable', { externalId: user.externalId }));
    expect(values(await read(user.dn, ['pwdAccountLockedTime']), 'pwdAccountLockedTime')).toEqual([]);
  });

  it('sets a password the user can then bind with', async () => {
    const user = await createUser();
    const password = `Wb-${randomUUID().slice(0, 8)}-Pw1!`;
    await applyTwice(exportOf('password', { externalId: user.externalId, password }));
    if (directory.kind === 'active-directory')
      await applyTwice(exportOf('enable', { externalId: user.externalId }));

    const asUser = connect();
    await asUser.bind(directory.bindName(user.dn, user.name), password);
    await asUser.unbind();
    const wrong = connect();
    await expect(wrong.bind(directory.bindName(user.dn, user.name), `${password}x`)).rejects.toThrow();
    await wrong.unbind();
  });

  it('adds and removes group members, a repeated change leaving the group as it is', async () => {
    const [first, second] = [await createUser(), await createUser()];
    const group = await applyTwice(
      exportOf('create', {
        objectClass: 'group',
        attributes: { cn: uniqueName('wg'), description: 'writeback' },
      }),
    );
    if (group.status !== 'succeeded' || group.dn === undefined) throw new Error('group create failed');
    const members = async () =>
      values(await read(group.dn ?? '', ['member']), 'member')
        .filter((dn) => dn !== '')
        .map((dn) => dn.toLowerCase())
        .sort();
    expect(await members()).toEqual([]);

    const change = (add: string[], remove: string[]) =>
      exportOf('update', { objectClass: 'group', externalId: group.externalId, members: { add, remove } });
    await applyTwice(change([first.dn, second.dn], []));
    expect(await members()).toEqual([first.dn, second.dn].map((dn) => dn.toLowerCase()).sort());
    await applyTwice(change([second.dn], [first.dn]));
    expect(await members()).toEqual([second.dn.toLowerCase()]);
    await applyTwice(change([], [second.dn]));
    expect(await members()).toEqual([]);
  });

  it('deletes the object, and deleting it again succeeds', async () => {
    const user = await createUser();
    const instruction = exportOf('delete', { externalId: user.externalId });
    expect(await writeback.apply(instruction)).toEqual({
      status: 'succeeded',
      externalId: user.externalId,
      dn: user.dn,
    });
    expect(await read(user.dn)).toBeUndefined();
    // Already gone: the goal is met (there is no DN to report any more).
    expect(await writeback.apply({ ...instruction, attempt: 2 })).toEqual({
      status: 'succeeded',
      externalId: user.externalId,
    });
  });

  it('fails an update of an object that does not exist, permanently, naming the operation and anchor', async () => {
    const missing = randomUUID();
    const result = await writeback.apply(
      exportOf('update', { externalId: missing, attributes: { sn: 'X' } }),
    );
    expect(result).toMatchObject({ status: 'failed', code: 'JNY_WRITEBACK_NOT_FOUND', retriable: false });
    if (result.status !== 'failed') return;
    expect(result.message).toContain('update');
    expect(result.message).toContain(missing);
    expect(result.message).toContain(directory.baseDn);
  });

  it('fails a directory-refused write permanently, naming the DN and the LDAP error but no values', async () => {
    const user = await createUser();
    const result = await writeback.apply(
      exportOf('update', {
        externalId: user.externalId,
        attributes: { noSuchAttributeType: 'secret-value' },
      }),
    );
    expect(result).toMatchObject({ status: 'failed', retriable: false });
    if (result.status !== 'failed') return;
    expect(result.code).toBe('JNY_LDAP_RESULT');
    expect(result.message).toContain(`update of ${user.dn}`);
    expect(result.message).not.toContain('secret-value');
  });
});

describe('writeback of Active Directory passwords over plain LDAP', () => {
  it('refuses before sending anything', async () => {
    const options = parseLdapDirectoryOptions(
      {
        kind: 'active-directory',
        options: {
          url: 'ldap://127.0.0.1:389',
          bindDn: sambaAdDomain.adminDn,
          bindPassword: sambaAdDomain.adminPassword,
          baseDn: sambaAdDomain.baseDn,
        },
      },
      '/tmp/x.yaml',
    );
    const writeback = createLdapWriteback(createLdapConnection(options, silentLogger), options, silentLogger);
    const result = await writeback.apply(
      exportOf('password', { externalId: randomUUID(), password: 'Never-Sent-1!' }),
    );
    await writeback.close();
    expect(result).toMatchObject({
      status: 'failed',
      code: 'JNY_WRITEBACK_INSECURE_CHANNEL',
      retriable: false,
    });
    if (result.status === 'failed') expect(result.message).not.toContain('Never-Sent-1!');
  });
});
