import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Attribute, Change, Client, InvalidCredentialsError } from 'ldapts';
import { createOpenLdap, openLdapDirectory, seedPeople } from '../../src/infra/openldap.ts';
import { uniqueName } from '../support/factories.ts';

describe('OpenLDAP test directory (real slapd)', () => {
  const ldap = createOpenLdap();
  const client = new Client({ url: ldap.url, timeout: 5000 });
  const { adminDn, adminPassword, peopleDn, accessLogDn } = openLdapDirectory;

  beforeAll(async () => {
    await client.bind(adminDn, adminPassword);
  });
  afterAll(async () => {
    await client.unbind();
  });

  it('serves the seeded people with the operational attributes change capture relies on', async () => {
    const { searchEntries } = await client.search(peopleDn, {
      scope: 'one',
      filter: `(uid=${seedPeople[1]?.uid ?? ''})`,
      attributes: ['uid', 'mail', 'employeeNumber', 'entryUUID', 'entryCSN', 'modifyTimestamp'],
    });
    expect(searchEntries).toHaveLength(1);
    const [alan] = searchEntries;
    expect(alan?.mail).toBe('alan.turing@joinery.test');
    expect(alan?.employeeNumber).toBe('E1002');
    expect(alan?.entryUUID).toMatch(/^[0-9a-f-]{36}$/);
    expect(alan?.entryCSN).toMatch(/^\d{14}\.\d{6}Z#/);
  });

  it('adds, modifies and deletes an entry, and records the delete in cn=accesslog', async () => {
    const uid = uniqueName('test.user');
    const dn = `uid=${uid},${peopleDn}`;
    await client.add(dn, {
      objectClass: 'inetOrgPerson',
      uid,
      cn: 'Test User',
      sn: 'User',
      mail: `${uid}@joinery.test`,
    });
    await client.modify(
      dn,
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'title', values: ['Tester'] }),
      }),
    );
    const modified = await client.search(dn, { scope: 'base', attributes: ['title'] });
    expect(modified.searchEntries[0]?.title).toBe('Tester');

    await client.del(dn);
    const remaining = await client.search(peopleDn, { scope: 'one', filter: `(uid=${uid})` });
    expect(remaining.searchEntries).toHaveLength(0);

    const log = await client.search(accessLogDn, {
      scope: 'one',
      filter: `(&(reqType=delete)(reqDN=${dn}))`,
      attributes: ['reqDN', 'reqStart', 'reqResult'],
    });
    expect(log.searchEntries).toHaveLength(1);
    expect(log.searchEntries[0]?.reqResult).toBe('0');
  });

  it('refuses a wrong password and keeps the directory out of anonymous writes', async () => {
    const other = new Client({ url: ldap.url, timeout: 5000 });
    await expect(other.bind(adminDn, 'wrong')).rejects.toBeInstanceOf(InvalidCredentialsError);
    await expect(
      other.add(`uid=${uniqueName('anon')},${peopleDn}`, { objectClass: 'inetOrgPerson', cn: 'x', sn: 'y' }),
    ).rejects.toThrow();
    await other.unbind();
  });
});
