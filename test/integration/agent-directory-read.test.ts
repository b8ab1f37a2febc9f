// The agent's directory reading against real directories: OpenLDAP (slapd with the accesslog overlay)
// and Active Directory (samba-ad-dc). Each suite works in an OU of its own, so other tests' objects
// never show up in its imports or deltas.
import { DeltaCookieExpiredError } from '../../kernel/errors.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Attribute, Change, Client, Control } from 'ldapts';
import type { DirectoryChange, DirectoryRecord, DirectorySource } from '../../agent/src/contracts.ts';
import { createActiveDirectorySource } from '../../agent/src/directory/ad-source.ts';
import { parseLdapDirectoryOptions } from '../../agent/src/directory/directory-options.ts';
import { createLdapConnection, type LdapConnection } from '../../agent/src/directory/ldap-connection.ts';
import {
  canonicalGuid,
  parseAttributeTypes,
  readRangedValues,
} from '../../agent/src/directory/ldap-records.ts';
import { createOpenLdapSource } from '../../agent/src/directory/openldap-source.ts';
import { createOpenLdap, openLdapDirectory } from '../../src/infra/openldap.ts';
import { createSambaAd, sambaAdDomain } from '../../src/infra/samba-ad.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';

const ACCOUNTDISABLE = 0x2;
const NORMAL_ACCOUNT = 0x200;
/** Samba's MaxValRange: a group with more members than this is read in ranges. */
const MAX_VAL_RANGE = 1500;
/** LDAP_SERVER_TREE_DELETE_OID: deletes an OU with everything in it. */
const treeDelete = new Control('1.2.840.113556.1.4.805', { critical: true });

async function importAll(source: DirectorySource): Promise<{ records: DirectoryRecord[]; pages: number }> {
  const records: DirectoryRecord[] = [];
  let pages = 0;
  for await (const page of source.fullImport()) {
    records.push(...page);
    pages++;
  }
  return { records, pages };
}

const byDn = (records: DirectoryRecord[], dn: string) =>
  records.find((record) => record.dn.toLowerCase() === dn.toLowerCase());

const summary = (change: DirectoryChange) =>
  change.operation === 'upsert'
    ? { operation: 'upsert', externalId: change.record.externalId, dn: change.record.dn.toLowerCase() }
    : { operation: 'delete', externalId: change.externalId };

describe('objectGUID as an anchor', () => {
  it('renders the bytes as the canonical GUID string, first three groups little-endian', () => {
    // Microsoft's documented example: {6F9619FF-8B86-D011-B42D-00C04FC964FF}.
    const bytes = Buffer.from('ff19966f868b11d0b42d00c04fc964ff', 'hex');
    expect(canonicalGuid(bytes)).toBe('6f9619ff-8b86-d011-b42d-00c04fc964ff');
  });

  it('knows single-valued and binary attributes from the published schema', () => {
    const schema = parseAttributeTypes([
      "( 1.2.840.113556.1.4.2 NAME 'objectGUID' SYNTAX '1.3.6.1.4.1.1466.115.121.1.40' SINGLE-VALUE )",
      "( 0.9.2342.19200300.100.1.3 NAME ( 'mail' 'rfc822Mailbox' ) SYNTAX 1.3.6.1.4.1.1466.115.121.1.26{256} )",
    ]);
    expect(schema.singleValued.has('objectguid')).toBe(true);
    expect(schema.singleValued.has('mail')).toBe(false);
    expect(schema.binary.has('objectguid')).toBe(true);
    expect(schema.binary.has('rfc822mailbox')).toBe(false);
  });
});

describe('directory reading on OpenLDAP (real slapd, accesslog)', () => {
  const ldap = createOpenLdap();
  const admin = new Client({ url: ldap.url, timeout: 10_000 });
  const ou = `ou=${uniqueName('read')},${openLdapDirectory.baseDn}`;
  const photo = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x80, 0xfe]);
  const dnOf = (uid: string) => `uid=${uid},${ou}`;
  const groupDn = `cn=team,${ou}`;
  let connection: LdapConnection;
  let source: DirectorySource;

  const addPerson = (uid: string, extra: Record<string, string | string[] | Buffer> = {}) =>
    admin.add(dnOf(uid), {
      objectClass: ['inetOrgPerson'],
      uid,
      cn: uid,
      sn: 'Reader',
      mail: `${uid}@joinery.test`,
      ...extra,
    });

  beforeAll(async () => {
    await ldap.up();
    await admin.bind(openLdapDirectory.adminDn, openLdapDirectory.adminPassword);
    await admin.add(ou, { objectClass: ['organizationalUnit'], ou: ou.slice(3, ou.indexOf(',')) });
    await addPerson('ada', { mail: ['ada@joinery.test', 'ada.l@joinery.test'], jpegPhoto: photo });
    await addPerson('bob');
    await addPerson('cyd');
    await addPerson('dee');
    await admin.add(groupDn, {
      objectClass: ['groupOfNames'],
      cn: 'team',
      member: [dnOf('ada'), dnOf('bob')],
    });
    const options = parseLdapDirectoryOptions(
      {
        kind: 'openldap',
        options: {
          url: ldap.url,
          bindDn: openLdapDirectory.adminDn,
          bindPassword: openLdapDirectory.adminPassword,
          baseDn: openLdapDirectory.baseDn,
          users: { base: ou },
          groups: { base: ou },
          contacts: { base: ou },
          pageSize: 2,
        },
      },
      '/tmp/x.yaml',
    );
    connection = createLdapConnection(options, silentLogger);
    source = createOpenLdapSource(
      { reads: connection, fullImport: createLdapConnection(options, silentLogger) },
      options,
      silentLogger,
    );
  });

  afterAll(async () => {
    await source.close();
    for (const dn of [dnOf('ada'), dnOf('bob'), dnOf('cyd-renamed'), dnOf('cyd'), dnOf('dee'), groupDn, ou]) {
      await admin.del(dn).catch(() => undefined);
    }
    await admin.unbind();
  });

  const entryUuidOf = async (dn: string): Promise<string> => {
    const { searchEntries } = await admin.search(dn, { scope: 'base', attributes: ['entryUUID'] });
    return String(searchEntries[0]?.entryUUID);
  };

  it('reads users and groups in pages, anchored by entryUUID, with arrays, base64 photos and member DNs', async () => {
    const { records, pages } = await importAll(source);
    expect(records).toHaveLength(5);
    expect(pages).toBeGreaterThanOrEqual(3); // four users in pages of two, then the group

    const ada = byDn(records, dnOf('ada'));
    expect(ada).toMatchObject({
      objectClass: 'user',
      externalId: await entryUuidOf(dnOf('ada')),
      enabled: true,
    });
    expect(ada?.attributes.mail).toEqual(['ada@joinery.test', 'ada.l@joinery.test']);
    expect(ada?.attributes.jpegPhoto).toEqual([photo.toString('base64')]);
    expect(ada?.attributes.sn).toEqual(['Reader']); // multi-valued in the schema: an array even with one value
    expect(ada?.attributes.entryUUID).toBe(ada?.externalId); // single-valued: a scalar
    expect(ada?.attributes).not.toHaveProperty('userPassword');

    const team = byDn(records, groupDn);
    expect(team).toMatchObject({ objectClass: 'group', externalId: await entryUuidOf(groupDn) });
    expect(team?.enabled).toBeUndefined();
    expect(team?.attributes.member).toEqual([dnOf('ada'), dnOf('bob')]);
  });

  it('keeps paging through a full import while deltas are read between its pages', async () => {
    // slapd abandons a paged search when another search runs on its connection between pages: the
    // agent polls deltas every few seconds while a long full import pages, so they must not share one.
    const cookie = await source.currentCookie();
    const records: DirectoryRecord[] = [];
    for await (const page of source.fullImport()) {
      records.push(...page);
      await source.deltaImport(cookie);
    }
    expect(records).toHaveLength(5);
  });

  it('returns the changes since the cookie in the order of their last change, then nothing', async () => {
    const cookie = await source.currentCookie();
    const ids = {
      ada: await entryUuidOf(dnOf('ada')),
      cyd: await entryUuidOf(dnOf('cyd')),
      dee: await entryUuidOf(dnOf('dee')),
      team: await entryUuidOf(groupDn),
    };
    const replace = (type: string, values: string[]) =>
      new Change({ operation: 'replace', modification: new Attribute({ type, values }) });
    await admin.modify(dnOf('ada'), replace('title', ['Analyst']));
    await admin.modifyDN(dnOf('cyd'), `uid=cyd-renamed,${ou}`);
    await admin.del(dnOf('dee'));
    await admin.modify(groupDn, replace('description', ['first']));
    await admin.modify(dnOf('ada'), replace('title', ['Chief Analyst'])); // read once, at its last place
    const lockedCookie = await source.currentCookie();
    await admin.modify(dnOf('ada'), replace('pwdAccountLockedTime', ['000001010000Z'])); // ppolicy: disabled

    const delta = await source.deltaImport(cookie);
    expect(delta.changes.map(summary)).toEqual([
      { operation: 'upsert', externalId: ids.cyd, dn: dnOf('cyd-renamed').toLowerCase() },
      { operation: 'delete', externalId: ids.dee },
      { operation: 'upsert', externalId: ids.team, dn: groupDn.toLowerCase() },
      { operation: 'upsert', externalId: ids.ada, dn: dnOf('ada').toLowerCase() },
    ]);
    const ada = delta.changes.at(-1);
    expect(ada?.operation === 'upsert' && ada.record.attributes.title).toEqual(['Chief Analyst']);
    expect(delta.changes[1]).toMatchObject({ objectClass: 'user', dn: dnOf('dee') });
    expect(delta.cookie > cookie).toBe(true);
    expect(ada?.operation === 'upsert' && ada.record.enabled).toBe(false);
    const locked = await source.deltaImport(lockedCookie);
    expect(locked.changes).toMatchObject([
      { operation: 'upsert', record: { externalId: ids.ada, enabled: false } },
    ]);

    const again = await source.deltaImport(delta.cookie);
    expect(again).toEqual({ changes: [], cookie: delta.cookie });
  });

  it('refuses a cookie whose position the accesslog no longer holds', async () => {
    await expect(source.deltaImport('20000101000000.000001Z')).rejects.toBeInstanceOf(
      DeltaCookieExpiredError,
    );
    await expect(source.deltaImport('20000101000000.000001Z')).rejects.toThrow(
      /no longer holds the position 20000101000000\.000001Z/,
    );
  });

  it('reads again after the directory connection broke', async () => {
    await connection.withClient((client) => client.unbind());
    const cookie = await source.currentCookie();
    expect(cookie).toMatch(/^\d{14}\.\d{6}Z$/);
    const { records } = await importAll(source);
    expect(records.length).toBeGreaterThan(0);
  });

  it('names the operation and the base when the directory refuses a search', async () => {
    const options = parseLdapDirectoryOptions(
      {
        kind: 'openldap',
        options: {
          url: ldap.url,
          bindDn: openLdapDirectory.adminDn,
          bindPassword: openLdapDirectory.adminPassword,
          baseDn: openLdapDirectory.baseDn,
          users: { base: `ou=missing,${ou}` },
        },
      },
      '/tmp/x.yaml',
    );
    const broken = createOpenLdapSource(
      {
        reads: createLdapConnection(options, silentLogger),
        fullImport: createLdapConnection(options, silentLogger),
      },
      options,
      silentLogger,
    );
    await expect(importAll(broken)).rejects.toThrow(`reading users under ou=missing,${ou} failed`);
    await broken.close();
  });
});

describe('directory reading on Active Directory (real samba-ad-dc, uSNChanged)', () => {
  const ad = createSambaAd();
  const admin = new Client({ url: ad.url, timeout: 30_000, tlsOptions: { rejectUnauthorized: false } });
  const ouName = uniqueName('read');
  const ou = `OU=${ouName},${sambaAdDomain.baseDn}`;
  const dnOf = (cn: string) => `CN=${cn},${ou}`;
  const bigGroupSize = MAX_VAL_RANGE + 20;
  let connection: LdapConnection;
  let source: DirectorySource;

  const guidOf = async (dn: string): Promise<string> => {
    const { searchEntries } = await admin.search(dn, {
      scope: 'base',
      attributes: ['objectGUID'],
      explicitBufferAttributes: ['objectGUID'],
    });
    return canonicalGuid(searchEntries[0]?.objectGUID as Buffer);
  };
  const addUser = async (cn: string, enabled: boolean) => {
    const sam = uniqueName(cn).slice(0, 20);
    await admin.add(dnOf(cn), {
      objectClass: ['top', 'person', 'organizationalPerson', 'user'],
      sAMAccountName: sam,
      userPrincipalName: `${sam}@joinery.test`,
      sn: cn,
    });
    if (enabled) {
      await admin.modify(dnOf(cn), [
        new Change({
          operation: 'replace',
          modification: new Attribute({
            type: 'unicodePwd',
            values: [Buffer.from('"Joinery-Read-Pw-1"', 'utf16le')],
          }),
        }),
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'userAccountControl', values: [String(NORMAL_ACCOUNT)] }),
        }),
      ]);
    }
  };

  beforeAll(async () => {
    await ad.up();
    await admin.bind(sambaAdDomain.adminDn, sambaAdDomain.adminPassword);
    await admin.add(ou, { objectClass: ['top', 'organizationalUnit'], ou: ouName });
    await addUser('ann', true);
    await addUser('ben', false);
    await addUser('cat', true);
    await admin.add(dnOf('carl-contact'), {
      objectClass: ['top', 'person', 'organizationalPerson', 'contact'],
      mail: ['carl@example.org'],
    });
    await admin.add(dnOf('team'), {
      objectClass: ['top', 'group'],
      sAMAccountName: uniqueName('team').slice(0, 20),
      member: [dnOf('ann'), dnOf('ben')],
    });
    // More members than MaxValRange: contacts are the cheapest objects to create.
    const members: string[] = [];
    for (let at = 0; at < bigGroupSize; at += 50) {
      const batch = Array.from({ length: Math.min(50, bigGroupSize - at) }, (_, i) =>
        dnOf(`m${String(at + i)}`),
      );
      await Promise.all(
        batch.map((dn) =>
          admin.add(dn, { objectClass: ['top', 'person', 'organizationalPerson', 'contact'] }),
        ),
      );
      members.push(...batch);
    }
    await admin.add(dnOf('crowd'), {
      objectClass: ['top', 'group'],
      sAMAccountName: uniqueName('crowd').slice(0, 20),
      member: members,
    });
    const options = parseLdapDirectoryOptions(
      {
        kind: 'active-directory',
        options: {
          url: ad.url,
          bindDn: sambaAdDomain.adminDn,
          bindPassword: sambaAdDomain.adminPassword,
          tlsVerify: false,
          baseDn: sambaAdDomain.baseDn,
          users: { base: ou },
          groups: { base: ou },
          contacts: { base: ou },
          pageSize: 500,
        },
      },
      '/tmp/x.yaml',
    );
    connection = createLdapConnection(options, silentLogger);
    source = createActiveDirectorySource(
      { reads: connection, fullImport: createLdapConnection(options, silentLogger) },
      options,
      silentLogger,
    );
  }, 600_000);

  afterAll(async () => {
    await source.close();
    await admin.del(ou, treeDelete).catch(() => undefined);
    await admin.unbind();
  });

  it('reads users, groups and contacts anchored by objectGUID, with enabled from userAccountControl', async () => {
    const { records } = await importAll(source);
    expect(records.filter((record) => record.objectClass === 'contact')).toHaveLength(bigGroupSize + 1);

    const ann = byDn(records, dnOf('ann'));
    expect(ann).toMatchObject({ objectClass: 'user', externalId: await guidOf(dnOf('ann')), enabled: true });
    expect(byDn(records, dnOf('ben'))).toMatchObject({ objectClass: 'user', enabled: false });
    expect(canonicalGuid(Buffer.from(String(ann?.attributes.objectGUID), 'base64'))).toBe(ann?.externalId);
    expect(typeof ann?.attributes.objectSid).toBe('string');
    expect(Buffer.from(String(ann?.attributes.objectSid), 'base64')[0]).toBe(1); // SID revision 1
    expect(ann?.attributes).toHaveProperty('pwdLastSet');
    expect(ann?.attributes).toHaveProperty('whenChanged');
    expect(ann?.attributes).not.toHaveProperty('nTSecurityDescriptor');

    const team = byDn(records, dnOf('team'));
    expect(team?.objectClass).toBe('group');
    expect(new Set(team?.attributes.member as string[])).toEqual(new Set([dnOf('ann'), dnOf('ben')]));
    expect(byDn(records, dnOf('carl-contact'))).toMatchObject({
      objectClass: 'contact',
      externalId: await guidOf(dnOf('carl-contact')),
    });
    expect((byDn(records, dnOf('crowd'))?.attributes.member as string[]).length).toBe(bigGroupSize);
  });

  it(`follows ranged member values past ${String(MAX_VAL_RANGE)} until the last range`, async () => {
    // The server does answer in ranges: the first one holds MaxValRange values and names its end.
    const { searchEntries } = await admin.search(dnOf('crowd'), {
      scope: 'base',
      attributes: [`member;range=0-${String(MAX_VAL_RANGE - 1)}`],
    });
    expect(searchEntries[0]?.[`member;range=0-${String(MAX_VAL_RANGE - 1)}`]).toHaveLength(MAX_VAL_RANGE);

    const members = await readRangedValues(connection, dnOf('crowd'), 'member', 0, MAX_VAL_RANGE);
    expect(members).toHaveLength(bigGroupSize);
    expect(new Set(members).size).toBe(bigGroupSize);
  });

  it('returns modified, disabled and deleted objects since the cookie, in USN order, then nothing', async () => {
    const cookie = await source.currentCookie();
    const ids = {
      ann: await guidOf(dnOf('ann')),
      ben: await guidOf(dnOf('ben')),
      cat: await guidOf(dnOf('cat')),
    };
    await admin.modify(
      dnOf('ann'),
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'description', values: ['moved'] }),
      }),
    );
    await admin.modify(
      dnOf('cat'),
      new Change({
        operation: 'replace',
        modification: new Attribute({
          type: 'userAccountControl',
          values: [String(NORMAL_ACCOUNT | ACCOUNTDISABLE)],
        }),
      }),
    );
    await admin.del(dnOf('ben'));

    const delta = await source.deltaImport(cookie);
    const summaries = delta.changes.map(summary);
    const annAt = summaries.findIndex((change) => change.externalId === ids.ann);
    const catAt = summaries.findIndex((change) => change.externalId === ids.cat);
    const deleteAt = summaries.findIndex((change) => change.operation === 'delete');
    expect(annAt).toBeGreaterThanOrEqual(0);
    expect(catAt).toBeGreaterThan(annAt);
    expect(deleteAt).toBeGreaterThan(catAt);
    const cat = delta.changes[catAt];
    expect(cat?.operation === 'upsert' && cat.record.enabled).toBe(false);
    expect(delta.changes[deleteAt]).toMatchObject({
      operation: 'delete',
      objectClass: 'user',
      externalId: ids.ben,
    });
    expect(delta.changes.filter((change) => change.operation === 'delete')).toHaveLength(1);
    const next = JSON.parse(delta.cookie) as { usn: string; dc: string; invocationId: string };
    expect(Number(next.usn)).toBeGreaterThan(Number((JSON.parse(cookie) as { usn: string }).usn));
    expect(next.invocationId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);

    const again = await source.deltaImport(delta.cookie);
    expect(again.changes).toEqual([]);
  });

  it('refuses a cookie taken on another domain controller', async () => {
    const cookie = JSON.parse(await source.currentCookie()) as {
      usn: string;
      dc: string;
      invocationId: string;
    };
    const foreign = JSON.stringify({
      ...cookie,
      dc: 'dc2.joinery.test',
      invocationId: '00000000-0000-0000-0000-000000000001',
    });
    await expect(source.deltaImport(foreign)).rejects.toBeInstanceOf(DeltaCookieExpiredError);
    await expect(source.deltaImport(foreign)).rejects.toThrow(
      /belongs to the domain controller dc2\.joinery\.test/,
    );
  });

  it('reads again after the directory connection broke', async () => {
    await connection.withClient((client) => client.unbind());
    expect(JSON.parse(await source.currentCookie())).toHaveProperty('usn');
  });
});
