// The on-prem agent end to end against real directories: the real service (PostgreSQL, Kafka, the agent
// gateway), the agent run in-process with the real directory parts of its configured kind (no test seam),
// and slapd or a Samba AD DC changed by an administrator while it runs. Each suite works in an OU of its own.
// What a user of Joinery would notice: the directory's objects and changes arrive on the agent topics,
// captured passwords arrive sealed, and queued exports are written to the directory.
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Attribute, Change, Client, Control } from 'ldapts';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SealedSecret } from '../../kernel/contracts/identity-events.ts';
import { openSecret, sealSecret } from '../../kernel/channel/sealing.ts';
import { canonicalGuid } from '../../agent/src/directory/ldap-records.ts';
import { createTenantKeys } from '../../src/agent-gateway/tenant-keys.ts';
import { enqueueExports, type NewExport } from '../../src/engine/export-queue.ts';
import { createOpenLdap, openLdapDirectory } from '../../src/infra/openldap.ts';
import { createSambaAd, sambaAdDomain } from '../../src/infra/samba-ad.ts';
import {
  collectTopics,
  createTestConnector,
  createTestTenant,
  readAgentLogs,
  runAgentInProcess,
  startAgentApi,
  temporaryDirectory,
  writeAgentConfig,
  type AgentApi,
  type IssuedTestConnector,
  type ReadMessage,
  type RunningAgent,
  type TestTenant,
  type TopicCollector,
} from '../support/agent-fixtures.ts';
import { uniqueName } from '../support/factories.ts';

const ACCOUNTDISABLE = 0x2;
const NORMAL_ACCOUNT = 0x200;
/** ppolicy's "locked by an administrator" value: the OpenLDAP agent reads it as disabled. */
const LOCKED_FOREVER = '000001010000Z';
/** LDAP_SERVER_TREE_DELETE_OID: deletes an AD OU with everything in it. */
const treeDelete = new Control('1.2.840.113556.1.4.805', { critical: true });
/** How soon a directory change must be on Kafka (the agent polls every 500 ms). */
const DELTA_WITHIN_MS = 10_000;

/** What differs between the two directories; the scenarios are the same for both. */
interface DirectoryUnderTest {
  name: string;
  kind: 'openldap' | 'active-directory';
  url: string;
  up: () => Promise<unknown>;
  adminDn: string;
  adminPassword: string;
  baseDn: string;
  rdn: string;
  /** The attributes of a new user, as an administrator adds it. */
  person: (name: string) => Record<string, string | string[]>;
  groupObjectClass: string[];
  /** The anchor attribute the agent reports as externalId. */
  anchor: string;
  /** The modification that disables an account. */
  disable: (current: Record<string, unknown>) => Change;
  isDisabled: (entry: Record<string, unknown>) => boolean;
  /** The name a user binds with. */
  bindName: (dn: string, name: string) => string;
  /** Extra directory.options (Samba's password capture). */
  options: Record<string, unknown>;
  passwordCapture: boolean;
}

const openLdap = createOpenLdap();
const sambaAd = createSambaAd();

const directories: DirectoryUnderTest[] = [
  {
    name: 'OpenLDAP (real slapd, accesslog, ppolicy)',
    kind: 'openldap',
    url: openLdap.url,
    up: () => openLdap.up(),
    adminDn: openLdapDirectory.adminDn,
    adminPassword: openLdapDirectory.adminPassword,
    baseDn: openLdapDirectory.baseDn,
    rdn: 'uid',
    person: (name) => ({ objectClass: ['inetOrgPerson'], uid: name, cn: name, sn: 'E2e' }),
    groupObjectClass: ['groupOfNames'],
    anchor: 'entryUUID',
    disable: () =>
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'pwdAccountLockedTime', values: [LOCKED_FOREVER] }),
      }),
    isDisabled: (entry) => String(entry.pwdAccountLockedTime) === LOCKED_FOREVER,
    bindName: (dn) => dn,
    options: {},
    passwordCapture: false,
  },
  {
    name: 'Active Directory (real samba-ad-dc over LDAPS, password capture)',
    kind: 'active-directory',
    url: sambaAd.url,
    up: () => sambaAd.up(),
    adminDn: sambaAdDomain.adminDn,
    adminPassword: sambaAdDomain.adminPassword,
    baseDn: sambaAdDomain.baseDn,
    rdn: 'CN',
    person: (name) => ({
      objectClass: ['top', 'person', 'organizationalPerson', 'user'],
      sAMAccountName: name.slice(0, 20),
      userPrincipalName: `${name}@joinery.test`,
      sn: 'E2e',
    }),
    groupObjectClass: ['top', 'group'],
    anchor: 'objectGUID',
    disable: (current) =>
      new Change({
        operation: 'replace',
        modification: new Attribute({
          type: 'userAccountControl',
          values: [String(Number(current.userAccountControl) | ACCOUNTDISABLE)],
        }),
      }),
    isDisabled: (entry) => (Number(entry.userAccountControl) & ACCOUNTDISABLE) === ACCOUNTDISABLE,
    bindName: (_dn, name) => `${name}@joinery.test`,
    options: { samba: { smbConf: sambaAd.smbConf, gnupgHome: sambaAd.gnupgHome } },
    passwordCapture: true,
  },
];

const attributesOf = (message: ReadMessage): Record<string, unknown> =>
  (message.data.attributes ?? {}) as Record<string, unknown>;

const valuesOf = (value: unknown): string[] =>
  value === undefined ? [] : (Array.isArray(value) ? (value as unknown[]) : [value]).map(String);

const lower = (values: string[]) => values.map((value) => value.toLowerCase()).sort();

async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

let dir: string;
let api: AgentApi;
let topics: TopicCollector;

beforeAll(async () => {
  dir = temporaryDirectory('joinery-agent-e2e-');
  api = await startAgentApi({ dir });
  topics = await collectTopics(api, ['imports', 'pulses']);
}, 120_000);

afterAll(async () => {
  await topics.close();
  await api.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe.each(directories)('the agent end to end on $name', (directory) => {
  const admin = new Client({
    url: directory.url,
    timeout: 30_000,
    ...(directory.url.startsWith('ldaps://') ? { tlsOptions: { rejectUnauthorized: false } } : {}),
  });
  const ouName = uniqueName('e2e');
  const ou = `OU=${ouName},${directory.baseDn}`;
  const dnOf = (name: string) => `${directory.rdn}=${name},${ou}`;
  /** Short, unique per run: sAMAccountName allows 20 characters. */
  const names = Object.fromEntries(
    ['ada', 'bob', 'cyd', 'dee', 'new'].map((name) => [name, `${name}${randomUUID().slice(0, 8)}`]),
  ) as Record<'ada' | 'bob' | 'cyd' | 'dee' | 'new', string>;
  const groupName = `team${randomUUID().slice(0, 8)}`;
  const groupDn = `CN=${groupName},${ou}`;
  const ids: Record<string, string> = {};
  let tenant: TestTenant;
  let connector: IssuedTestConnector;
  let agent: RunningAgent | undefined;
  let home: string;

  const read = async (dn: string, attributes: string[]): Promise<Record<string, unknown> | undefined> => {
    try {
      const { searchEntries } = await admin.search(dn, {
        scope: 'base',
        attributes,
        explicitBufferAttributes: ['objectGUID'],
      });
      return searchEntries[0];
    } catch {
      return undefined;
    }
  };

  const anchorOf = async (dn: string): Promise<string> => {
    const entry = await read(dn, [directory.anchor]);
    const value = entry?.[directory.anchor];
    if (value === undefined) throw new Error(`${dn} has no ${directory.anchor}`);
    return Buffer.isBuffer(value) ? canonicalGuid(value) : valuesOf(value).join();
  };

  const replace = (type: string, values: string[] | Buffer[]) =>
    new Change({ operation: 'replace', modification: new Attribute({ type, values }) });

  const setPassword = (dn: string, password: string) =>
    directory.kind === 'active-directory'
      ? admin.modify(dn, replace('unicodePwd', [Buffer.from(`"${password}"`, 'utf16le')]))
      : admin.modify(dn, replace('userPassword', [password]));

  const addPerson = async (name: string) => {
    await admin.add(dnOf(name), directory.person(name));
    if (directory.kind === 'active-directory') {
      await setPassword(dnOf(name), `E2e-${randomUUID().slice(0, 8)}-Pw1!`);
      await admin.modify(dnOf(name), replace('userAccountControl', [String(NORMAL_ACCOUNT)]));
    }
  };

  /** This connector's messages read so far. */
  const mine = () => topics.messages().filter((m) => m.source === `/agents/${connector.connectorId}`);

  /** Waits for messages on Kafka; a timeout shows the end of the agent's log (it holds no values). */
  const waitForKafka = async (what: string, check: () => boolean, timeoutMs: number) => {
    try {
      return await topics.waitFor(what, check, timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}; the agent logged:\n${readAgentLogs(home).slice(-4000)}`, {
        cause: error,
      });
    }
  };

  beforeAll(async () => {
    await directory.up();
    await admin.bind(directory.adminDn, directory.adminPassword);
    await admin.add(ou, { objectClass: ['top', 'organizationalUnit'], ou: ouName });
    for (const key of ['ada', 'bob', 'cyd', 'dee'] as const) await addPerson(names[key]);
    await admin.add(groupDn, {
      objectClass: directory.groupObjectClass,
      cn: groupName,
      member: [dnOf(names.ada)],
      ...(directory.kind === 'active-directory' ? { sAMAccountName: groupName } : {}),
    });
    for (const key of ['ada', 'bob', 'cyd', 'dee'] as const) ids[key] = await anchorOf(dnOf(names[key]));
    ids.team = await anchorOf(groupDn);

    tenant = await createTestTenant(api);
    connector = await createTestConnector(api, tenant);
    home = join(dir, directory.kind);
    mkdirSync(home, { recursive: true });
    agent = runAgentInProcess({
      configFile: writeAgentConfig({
        dir: home,
        api,
        connector,
        kind: directory.kind,
        directoryOptions: {
          url: directory.url,
          bindDn: directory.adminDn,
          bindPassword: directory.adminPassword,
          tlsVerify: false,
          baseDn: directory.baseDn,
          users: { base: ou },
          groups: { base: ou },
          contacts: { base: ou },
          ...directory.options,
        },
        passwordCapture: directory.passwordCapture,
        deltaPollIntervalMs: 500,
      }),
      clientKey: connector.clientKey,
    });
    agent.done.catch(() => undefined); // a failure shows in the waits below, with the agent's log
  }, 240_000);

  afterAll(async () => {
    await agent?.stop().catch(() => undefined);
    if (directory.kind === 'active-directory') {
      await admin.del(ou, treeDelete).catch(() => undefined);
    } else {
      const { searchEntries } = await admin.search(ou, { scope: 'sub', attributes: ['1.1'] });
      const dns = searchEntries.map((e) => e.dn).sort((a, b) => b.split(',').length - a.split(',').length);
      for (const dn of dns) await admin.del(dn).catch(() => undefined);
    }
    await admin.unbind();
  }, 60_000);

  it('sends the full import of the OU on imports: every user and group, anchored, with members, between run markers', async () => {
    // The run's markers and its objects are keyed differently (other partitions): the completed marker
    // can be read before the last objects, so wait for as many objects as it announces.
    const completedRun = () =>
      mine().find((m) => m.type === 'joinery.import.run.v1' && m.data.phase === 'completed');
    const objectsOf = (runId: unknown) =>
      mine().filter((m) => m.type === 'joinery.import.object.v1' && m.data.runId === runId);
    await waitForKafka(
      'the completed full import run and every object it announces',
      () => {
        const run = completedRun();
        return run !== undefined && objectsOf(run.data.runId).length >= Number(run.data.objectCount);
      },
      60_000,
    );
    const completed = completedRun();
    const runId = String(completed?.data.runId);
    const started = mine().find(
      (m) => m.type === 'joinery.import.run.v1' && m.data.runId === runId && m.data.phase === 'started',
    );
    expect(started?.topic).toBe(api.topic('imports'));
    expect(completed?.data).toMatchObject({
      kind: 'full',
      objectCount: 5,
      applicationId: tenant.applicationId,
    });

    const objects = objectsOf(runId);
    for (const object of objects) {
      expect(object).toMatchObject({ topic: api.topic('imports'), tenantId: tenant.tenantId });
      expect(object.data).toMatchObject({ applicationId: tenant.applicationId, operation: 'upsert' });
    }
    const summary = objects
      .map((m) => ({ objectClass: m.data.objectClass, externalId: m.data.externalId }))
      .sort((a, b) => String(a.externalId).localeCompare(String(b.externalId)));
    expect(summary).toEqual(
      [
        ...['ada', 'bob', 'cyd', 'dee'].map((key) => ({ objectClass: 'user', externalId: ids[key] })),
        { objectClass: 'group', externalId: ids.team },
      ].sort((a, b) => String(a.externalId).localeCompare(String(b.externalId))),
    );
    const team = objects.find((m) => m.data.externalId === ids.team);
    expect(lower(valuesOf(team === undefined ? undefined : attributesOf(team).member))).toEqual(
      lower([dnOf(names.ada)]),
    );
    const ada = objects.find((m) => m.data.externalId === ids.ada);
    expect(String(ada === undefined ? '' : attributesOf(ada).dn).toLowerCase()).toBe(
      dnOf(names.ada).toLowerCase(),
    );
  }, 90_000);

  it('sends an attribute change, a disable (also as a pulse) and a deletion within seconds', async () => {
    const after = mine().length;
    const later = () => mine().slice(after);

    await admin.modify(dnOf(names.ada), replace('description', ['changed by e2e']));
    let since = Date.now();
    await waitForKafka(
      "ada's new description",
      () =>
        later().some(
          (m) =>
            m.data.externalId === ids.ada &&
            m.data.operation === 'upsert' &&
            valuesOf(attributesOf(m).description).includes('changed by e2e'),
        ),
      DELTA_WITHIN_MS,
    );
    console.log(`${directory.kind}: attribute change on Kafka after ${String(Date.now() - since)} ms`);

    const bob = await read(dnOf(names.bob), ['userAccountControl']);
    await admin.modify(dnOf(names.bob), directory.disable(bob ?? {}));
    since = Date.now();
    // The pulse and the object travel on different topics: either may be read first, so wait for both.
    await waitForKafka(
      "bob's disable pulse and his changed object",
      () =>
        later().some((m) => {
          const event = m.data.event as { type?: string; source?: { externalId?: string } } | undefined;
          return (
            m.topic === api.topic('pulses') &&
            event?.type === 'pulse.disable' &&
            event.source?.externalId === ids.bob
          );
        }) && later().some((m) => m.data.externalId === ids.bob && m.type === 'joinery.import.object.v1'),
      DELTA_WITHIN_MS,
    );
    console.log(`${directory.kind}: disable pulse on Kafka after ${String(Date.now() - since)} ms`);
    const bobUpsert = later().find(
      (m) => m.data.externalId === ids.bob && m.type === 'joinery.import.object.v1',
    );
    expect(bobUpsert?.data.operation).toBe('upsert');
    if (directory.kind === 'active-directory') {
      expect(
        Number(
          valuesOf(bobUpsert === undefined ? undefined : attributesOf(bobUpsert).userAccountControl)[0],
        ) & ACCOUNTDISABLE,
      ).toBe(ACCOUNTDISABLE);
    }

    await admin.del(dnOf(names.cyd));
    since = Date.now();
    await waitForKafka(
      "cyd's deletion",
      () =>
        later().some(
          (m) =>
            m.type === 'joinery.import.object.v1' &&
            m.data.externalId === ids.cyd &&
            m.data.operation === 'delete' &&
            m.data.objectClass === 'user',
        ),
      DELTA_WITHIN_MS,
    );
    console.log(`${directory.kind}: deletion on Kafka after ${String(Date.now() - since)} ms`);
  }, 60_000);

  // Password capture is an Active Directory (Samba DC) feature: OpenLDAP has no such test.
  if (directory.passwordCapture)
    it('sends a password an administrator set as a pulse sealed to the tenant key, never in clear', async () => {
      await eventually(
        'the password capture to initialize',
        () => Promise.resolve(readAgentLogs(home).includes('password capture initialized') || undefined),
        60_000,
      );
      const password = `Captured-${randomUUID().slice(0, 8)}-Pw1!`;
      await setPassword(dnOf(names.ada), password);
      const seen = await waitForKafka(
        "ada's password pulse",
        () =>
          mine().some(
            (m) =>
              (m.data.event as { type?: string } | undefined)?.type === 'pulse.password' &&
              (m.data.event as { source: { externalId: string } }).source.externalId === ids.ada,
          ),
        30_000,
      );
      const pulse = seen.find(
        (m) =>
          m.source === `/agents/${connector.connectorId}` &&
          (m.data.event as { type?: string } | undefined)?.type === 'pulse.password',
      );
      expect(pulse).toMatchObject({ topic: api.topic('pulses'), type: 'joinery.pulse.v1' });
      const raw = pulse?.value ?? Buffer.alloc(0);
      for (const form of [
        Buffer.from(password, 'utf8'),
        Buffer.from(password, 'utf16le'),
        Buffer.from(Buffer.from(password).toString('base64')),
      ]) {
        expect(raw.includes(form)).toBe(false);
      }
      const event = pulse?.data.event as { source: unknown; secret: SealedSecret };
      expect(event.source).toEqual({ applicationId: tenant.applicationId, externalId: ids.ada });
      const tenantKeys = createTenantKeys({ em: api.service.orm.em, masterKey: api.masterKey });
      const privateKey = await tenantKeys.privateKey(tenant.tenantId, event.secret.keyId);
      expect(await openSecret(privateKey, tenant.tenantId, event.secret)).toBe(password);
    }, 90_000);

  it('writes queued exports to the directory: create, update, disable, group member, password', async () => {
    const em = api.service.orm.em.fork();
    const tenantKeys = createTenantKeys({ em, masterKey: api.masterKey });
    const password = `Wb-${randomUUID().slice(0, 8)}-Pw1!`;
    const secret = await sealSecret(await tenantKeys.publicKey(tenant.tenantId), tenant.tenantId, password);
    const base = {
      tenantId: tenant.tenantId,
      applicationId: tenant.applicationId,
      status: 'pending',
    } as const;
    const created = randomUUID();
    const newUser: Record<string, string> =
      directory.kind === 'active-directory'
        ? {
            cn: names.new,
            sAMAccountName: names.new,
            userPrincipalName: `${names.new}@joinery.test`,
            sn: 'Created',
          }
        : { uid: names.new, cn: names.new, sn: 'Created' };
    const exports: NewExport[] = [
      // One identity's operations are delivered in order; the create's anchor is given to the ones after it.
      {
        ...base,
        identityId: created,
        objectClass: 'user',
        externalId: null,
        operation: 'create',
        attributes: newUser,
      },
      {
        ...base,
        identityId: created,
        objectClass: 'user',
        externalId: null,
        operation: 'update',
        attributes: { description: 'written back', title: 'Engineer' },
      },
      { ...base, identityId: created, objectClass: 'user', externalId: null, operation: 'password', secret },
      // A new AD account without a password is disabled: enabled once it has one, so it can bind.
      ...(directory.kind === 'active-directory'
        ? [
            {
              ...base,
              identityId: created,
              objectClass: 'user',
              externalId: null,
              operation: 'enable' as const,
            },
          ]
        : []),
      {
        ...base,
        identityId: randomUUID(),
        objectClass: 'user',
        externalId: ids.dee ?? '',
        operation: 'disable',
      },
      {
        ...base,
        identityId: randomUUID(),
        objectClass: 'group',
        externalId: ids.team ?? '',
        operation: 'update',
        members: { add: [dnOf(names.dee)], remove: [] },
      },
    ];
    await em.transactional((tx) => enqueueExports(tx, exports, new Date()));

    const rows = await eventually(
      'every export to be answered',
      async () => {
        const { rows: found } = await sql<{ operation: string; status: string; last_error: unknown }>`
          select operation, status, last_error from export_item
          where tenant_id = ${tenant.tenantId} and application_id = ${tenant.applicationId}
          order by seq`.execute(em.getKysely());
        const failed = found.filter((row) => row.status === 'failed');
        if (failed.length > 0) throw new Error(`exports failed: ${JSON.stringify(failed)}`);
        return found.length === exports.length &&
          found.every((row) => row.status === 'succeeded' || row.status === 'confirmed')
          ? found
          : undefined;
      },
      30_000,
    );
    // Succeeded, or already confirmed by the agent's next delta showing the written values.
    expect(rows.map((row) => row.operation)).toEqual(exports.map((item) => item.operation));

    const createdEntry = await read(dnOf(names.new), ['sn', 'description', 'title']);
    expect(createdEntry).toMatchObject({ sn: 'Created', description: 'written back', title: 'Engineer' });
    expect(directory.isDisabled((await read(dnOf(names.dee), ['*', '+'])) ?? {})).toBe(true);
    const members = await read(groupDn, ['member']);
    expect(lower(valuesOf(members?.member))).toEqual(lower([dnOf(names.ada), dnOf(names.dee)]));

    const connect = () =>
      new Client({
        url: directory.url,
        timeout: 10_000,
        ...(directory.url.startsWith('ldaps://') ? { tlsOptions: { rejectUnauthorized: false } } : {}),
      });
    const asUser = connect();
    await asUser.bind(directory.bindName(dnOf(names.new), names.new), password);
    await asUser.unbind();
    const wrong = connect();
    await expect(
      wrong.bind(directory.bindName(dnOf(names.new), names.new), `${password}x`),
    ).rejects.toThrow();
    await wrong.unbind();
  }, 60_000);
});
