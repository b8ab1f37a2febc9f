// One person's round trip through everything Joinery is, with nothing seeded by hand past the directory
// entry an administrator adds: real OpenLDAP (slapd, accesslog, ppolicy) → the agent (in this process, with
// the real OpenLDAP parts of its configuration) → its channel → the Import stage → an identity projected in
// the Vault → Outbound → the export queue → the agent's writeback → the same directory, read back with
// ldapts. The directory is authoritative for the name and the lifecycle; the plan computes the display name
// and writes it back, and locks the account of a disabled identity.
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Attribute, Change, Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenLdap, openLdapDirectory } from '../../src/infra/openldap.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import {
  callApi,
  readAgentLogs,
  runAgentInProcess,
  startAgentApi,
  temporaryDirectory,
  writeAgentConfig,
  type AgentApi,
  type IssuedTestConnector,
  type RunningAgent,
} from '../support/agent-fixtures.ts';
import { uniqueName } from '../support/factories.ts';
import { waitFor } from '../support/streams.ts';

/** ppolicy's "locked by an administrator" value: how the writeback disables an OpenLDAP account. */
const LOCKED = '000001010000Z';

/** The directory as an application: authoritative for the name and the lifecycle, target of the display name. */
const plan = [
  'version: 1',
  'vault:',
  '  attributes: { employeeId: {}, givenName: {}, surname: {} }',
  'applications:',
  '  - name: directory',
  '    type: ldap',
  '    mode: live',
  '    createsIdentities: true',
  '    objectClasses:',
  '      user:',
  '        attributes:',
  // Multi-valued in the directory's schema: the agent sends them as lists.
  '          uid: { multiValued: true }',
  '          givenName: { multiValued: true }',
  '          sn: { multiValued: true }',
  '          employeeType: { multiValued: true }',
  '          displayName: { direction: out }',
  '    inbound:',
  "      - { vault: employeeId, expression: 'source.uid[0]', authority: 100 }",
  "      - { vault: givenName, expression: 'source.givenName[0]', authority: 100 }",
  "      - { vault: surname, expression: 'source.sn[0]', authority: 100 }",
  '    lifecycle:',
  '      status: \'"inactive" in source.employeeType ? "disabled" : "active"\'',
  '    outbound:',
  '      - { target: displayName, expression: \'identity.givenName + " " + identity.surname\' }',
  '    export: { deprovision: disable }',
].join('\n');

interface ExportItem {
  id: string;
  identityId: string;
  externalId: string | null;
  operation: string;
  attributes: Record<string, unknown> | null;
  status: string;
  lastError: unknown;
}

describe('a person from OpenLDAP through the Vault and back into OpenLDAP (real slapd, service and agent)', () => {
  const openLdap = createOpenLdap();
  const ouName = uniqueName('roundtrip');
  const ou = `ou=${ouName},${openLdapDirectory.baseDn}`;
  const uid = `ada${randomUUID().slice(0, 8)}`;
  const dn = `uid=${uid},${ou}`;
  let dir: string;
  let api: AgentApi;
  let apiKey: string;
  let applicationId: string;
  let agent: RunningAgent | undefined;
  let externalId: string;
  let identityId: string;

  /** Runs `fn` on a freshly bound admin connection (ldapts reopens a dropped one without binding again). */
  const asAdmin = async <T>(fn: (client: Client) => Promise<T>): Promise<T> => {
    const client = new Client({ url: openLdap.url, timeout: 10_000 });
    try {
      await client.bind(openLdapDirectory.adminDn, openLdapDirectory.adminPassword);
      return await fn(client);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  };
  const readEntry = (attributes: string[]) =>
    asAdmin(async (client) => (await client.search(dn, { scope: 'base', attributes })).searchEntries[0]);
  const replace = (type: string, value: string) =>
    asAdmin((client) =>
      client.modify(
        dn,
        new Change({ operation: 'replace', modification: new Attribute({ type, values: [value] }) }),
      ),
    );

  const get = async <T>(path: string): Promise<T> => {
    const response = await callApi(api, apiKey, 'GET', path);
    if (response.status !== 200) throw new Error(`GET ${path}: ${JSON.stringify(response)}`);
    return response.body as T;
  };
  const exports = async () =>
    (await get<{ items: ExportItem[] }>(`/v1/exports?applicationId=${applicationId}&limit=100`)).items;

  /** Waits for `check`; a timeout also shows the export queue and the end of the agent's log. */
  const eventually = async <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000) => {
    try {
      return await waitFor(what, check, timeoutMs);
    } catch (error) {
      const queue = await exports().catch((reason: unknown) => String(reason));
      throw new Error(
        `${(error as Error).message}\nexport queue: ${JSON.stringify(queue)}\nthe agent logged:\n${readAgentLogs(join(dir, 'agent')).slice(-3000)}`,
        { cause: error },
      );
    }
  };
  /** The directory entry once `check` holds on the attributes read. */
  const entryWhen = (
    what: string,
    attributes: string[],
    check: (entry: Record<string, unknown>) => boolean,
  ) =>
    eventually(what, async () => {
      const entry = await readEntry(attributes);
      return entry !== undefined && check(entry) ? entry : undefined;
    });
  /** The export of `operation` for the identity once the agent has written it. */
  const written = (operation: string, match: (item: ExportItem) => boolean = () => true) =>
    eventually(`the ${operation} written back`, async () =>
      (await exports()).find(
        (item) =>
          item.identityId === identityId &&
          item.operation === operation &&
          match(item) &&
          (item.status === 'succeeded' || item.status === 'confirmed'),
      ),
    );

  beforeAll(async () => {
    dir = temporaryDirectory('joinery-round-trip-');
    await openLdap.up();
    await asAdmin(async (client) => {
      await client.add(ou, { objectClass: ['top', 'organizationalUnit'], ou: ouName });
      // The administrator's new hire: no display name yet, Joinery computes it.
      await client.add(dn, {
        objectClass: ['inetOrgPerson'],
        uid,
        cn: `Ada ${uid}`,
        givenName: 'Ada',
        sn: 'Lovelace',
        employeeType: 'staff',
      });
    });
    api = await startAgentApi({ dir });
    const tenant = await createTenant(api.service.orm.em, { tenant: uniqueName('tenant') });
    apiKey = tenant.apiKey;
    const response = await fetch(`${api.url}/v1/plan`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/yaml' },
      body: plan,
    });
    const applied = (await response.json()) as { applications: { name: string; id: string }[] };
    expect(response.status, JSON.stringify(applied)).toBe(201);
    applicationId = applied.applications.find((application) => application.name === 'directory')?.id ?? '';
    const created = await callApi(api, apiKey, 'POST', '/v1/connectors', {
      name: uniqueName('agent'),
      applications: ['directory'],
    });
    expect(created.status).toBe(201);
    const connector = created.body as IssuedTestConnector;
    const home = join(dir, 'agent');
    mkdirSync(home, { recursive: true });
    agent = runAgentInProcess({
      configFile: writeAgentConfig({
        dir: home,
        api,
        connector,
        kind: 'openldap',
        directoryOptions: {
          url: openLdap.url,
          bindDn: openLdapDirectory.adminDn,
          bindPassword: openLdapDirectory.adminPassword,
          baseDn: openLdapDirectory.baseDn,
          users: { base: ou, createIn: ou },
          groups: { base: ou, createIn: ou },
        },
        deltaPollIntervalMs: 200,
      }),
      clientKey: connector.clientKey,
    });
    agent.done.catch(() => undefined); // a failure shows in the waits, with the agent's log
  }, 120_000);

  afterAll(async () => {
    await agent?.stop().catch(() => undefined);
    await asAdmin(async (client) => {
      await client.del(dn).catch(() => undefined);
      await client.del(ou).catch(() => undefined);
    });
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('imports the person in full, projects an identity, and writes the computed display name back', async () => {
    const entry = await readEntry(['entryUUID']);
    externalId = String(entry?.entryUUID);
    // The full import's object, in the Application Repository, projected its own identity.
    const object = await eventually('the person in the Application Repository, joined', async () => {
      const response = await callApi(
        api,
        apiKey,
        'GET',
        `/v1/applications/${applicationId}/objects/${encodeURIComponent(externalId)}`,
      );
      const body = response.body as { joinState?: string; identityId?: string } | undefined;
      return response.status === 200 && body?.joinState === 'joined' ? body : undefined;
    });
    expect(object).toMatchObject({
      objectClass: 'user',
      joinProvenance: 'projected',
      lastRunId: expect.any(String) as string,
    });
    identityId = object.identityId ?? '';
    // Projected by the Import stage; created by the identity's actor, from the event it sent.
    const identity = await eventually('the identity in the Vault', async () => {
      const response = await callApi(api, apiKey, 'GET', `/v1/identities/${identityId}`);
      const body = response.body as { state: string; attributes: Record<string, unknown> };
      return response.status === 200 && body.state !== 'joiner' ? body : undefined;
    });
    expect(identity).toMatchObject({
      state: 'active',
      attributes: { employeeId: uid, givenName: 'Ada', surname: 'Lovelace' },
    });

    // Outbound queued only what the directory lacks, for the entry the identity came from; the agent wrote it.
    const update = await written('update');
    expect(update).toMatchObject({ externalId, attributes: { displayName: 'Ada Lovelace' } });
    await entryWhen(
      'the display name in the directory',
      ['displayName'],
      (found) => found.displayName === 'Ada Lovelace',
    );
    // The next delta shows the directory holding the exported value: the export is confirmed.
    await eventually(
      'the update confirmed by the import',
      async () =>
        (await exports()).some((item) => item.id === update.id && item.status === 'confirmed') || undefined,
    );
  });

  it('follows a surname changed in the directory with a new display name', async () => {
    await replace('sn', 'Byron');
    const update = await written('update', (item) => item.attributes?.displayName === 'Ada Byron');
    expect(update).toMatchObject({ externalId, attributes: { displayName: 'Ada Byron' } });
    await entryWhen(
      'the new display name in the directory',
      ['displayName', 'sn'],
      (found) => found.displayName === 'Ada Byron',
    );
    expect(
      (await get<{ attributes: Record<string, unknown> }>(`/v1/identities/${identityId}`)).attributes,
    ).toMatchObject({
      surname: 'Byron',
    });
  });

  it('locks the account once the lifecycle the directory states makes the identity disabled', async () => {
    // Requested, an absent attribute comes back with no values.
    expect((await readEntry(['pwdAccountLockedTime']))?.pwdAccountLockedTime).toEqual([]);
    await replace('employeeType', 'inactive');
    await eventually(
      'the identity disabled',
      async () =>
        (await get<{ state: string }>(`/v1/identities/${identityId}`)).state === 'disabled' || undefined,
    );
    expect(await written('disable')).toMatchObject({ externalId });
    await entryWhen(
      'the account locked',
      ['pwdAccountLockedTime'],
      (found) => found.pwdAccountLockedTime === LOCKED,
    );
    // Every operation Joinery decided for the person was written, none failed.
    const mine = (await exports()).filter((item) => item.identityId === identityId);
    expect(mine.map((item) => item.operation)).toEqual(['update', 'update', 'disable']);
    expect(mine.filter((item) => item.status !== 'succeeded' && item.status !== 'confirmed')).toEqual([]);
  });
});
