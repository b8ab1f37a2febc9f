// The SCIM 2.0 client connector end to end, on the real Kafka broker and PostgreSQL, against a real SCIM
// service that is not Joinery's code (SCIMMY, test/support/scim-server.ts): people loaded from an HR file
// through the API are provisioned, updated, disabled and deleted there, a directory's group is written with
// its members and then only the membership differences — through a 429 with Retry-After and 503s — and a
// requested run imports the service's users back, in full and then only what changed.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/api/app.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { encodeMessage } from '../../streams/cloudevents.ts';
import { topicName } from '../../streams/topics.ts';
import { applyTestPlan, runsApi, testApp } from '../support/system.ts';
import { startScimTestServer, type ScimTestServer } from '../support/scim-server.ts';
import {
  createStreamsFixture,
  exportQueue,
  query,
  startTestEngine,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';

const enterprise = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

describe('SCIM 2.0 client connector (SCIMMY server, real Kafka and PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let app: App;
  let scim: ScimTestServer;
  const apps = { hr: '', directory: '', saas: '', unset: '' };

  const planSource = (baseUrl: string) =>
    [
      'version: 1',
      'vault:',
      '  attributes: { employeeId: {}, givenName: {}, familyName: {}, email: {}, department: {} }',
      'classifications: [{ value: 1, name: staff, when: "true" }]',
      'applications:',
      '  - name: hr',
      '    type: csv',
      '    createsIdentities: true',
      '    objectClasses:',
      '      worker: { attributes: { WorkerID: {}, First: {}, Last: {}, Email: {}, Dept: {}, Status: {} } }',
      '    csv: { externalId: WorkerID }',
      '    inbound:',
      '      - { vault: employeeId, from: WorkerID, authority: 100 }',
      '      - { vault: givenName, from: First, authority: 100 }',
      '      - { vault: familyName, from: Last, authority: 100 }',
      '      - { vault: email, from: Email, authority: 100 }',
      '      - { vault: department, from: Dept, authority: 100 }',
      '    joining: [{ name: worker id, all: [{ source: WorkerID, vault: employeeId }] }]',
      '    lifecycle: { status: \'source.Status == "inactive" ? "disabled" : "active"\' }',
      '  - name: directory',
      '    type: ldap',
      '    objectClasses:',
      '      user: { attributes: { employeeNumber: {}, dn: {} } }',
      '      group: { kind: group, members: member, attributes: { cn: {}, member: { multiValued: true } } }',
      '    joining: [{ name: employee number, all: [{ source: employeeNumber, vault: employeeId }] }]',
      '  - name: saas',
      '    type: scim',
      '    mode: live',
      '    classifications: [1]',
      '    objectClasses:',
      '      user:',
      '        attributes:',
      '          userName: { direction: both }',
      '          givenName: { direction: both }',
      '          familyName: { direction: both }',
      '          email: { direction: both }',
      '          department: { direction: both }',
      '          employeeNumber: { direction: both }',
      '          active: { type: bool }',
      '      group: { kind: group, members: members, attributes: { displayName: { direction: out }, members: { multiValued: true, direction: out } } }',
      '    joining: [{ name: user name, all: [{ source: userName, vault: email }] }]',
      '    filters: { outbound: \'identity.department != "External"\' }',
      '    outbound:',
      '      - { target: userName, from: email }',
      '      - { target: givenName, from: givenName }',
      '      - { target: familyName, from: familyName }',
      '      - { target: email, from: email }',
      '      - { target: department, from: department }',
      '      - { target: employeeNumber, from: employeeId }',
      '    export:',
      '      objectClass: user',
      '      deprovision: delete',
      '      groups: { objectClass: group, from: [directory], attributes: { displayName: \'"Team " + group.cn\' } }',
      '    scim:',
      `      baseUrl: ${baseUrl}`,
      '      auth: { bearer: env:SAAS_SCIM_TOKEN }',
      '  - name: unset',
      '    type: scim',
      '    objectClasses:',
      '      user: { attributes: { userName: {} } }',
    ].join('\n');

  beforeAll(async () => {
    scim = await startScimTestServer();
    fixture = await createStreamsFixture();
    const environment: Record<string, string> = { SAAS_SCIM_TOKEN: scim.token };
    engine = await startTestEngine(fixture, {
      connectorSecrets: (reference) => {
        const value = environment[reference.replace(/^env:/, '')];
        if (value === undefined) throw new Error(`${reference} is not set`);
        return value;
      },
      connectorPollMs: 100,
    });
    app = await testApp(fixture);
    const ids = await applyTestPlan(fixture, planSource(scim.url));
    apps.hr = ids['hr'] ?? '';
    apps.directory = ids['directory'] ?? '';
    apps.saas = ids['saas'] ?? '';
    apps.unset = ids['unset'] ?? '';
  });
  afterAll(async () => {
    await app.close();
    await engine.stop();
    await fixture.close();
    await scim.close();
  });

  const headers = () => ({ authorization: `Bearer ${fixture.apiKey}` });
  const upload = async (file: string) => {
    const response = await app.inject({
      method: 'POST',
      url: `/v1/applications/${apps.hr}/imports`,
      headers: { ...headers(), 'content-type': 'text/csv' },
      payload: file,
    });
    expect(response.statusCode, response.body).toBe(202);
    return response.json<{ runId: string }>().runId;
  };
  const get = async <T>(url: string) =>
    (await app.inject({ method: 'GET', url, headers: headers() })).json<T>();
  const runs = () => runsApi(app, fixture);
  const requestRun = (applicationId: string, kind: 'full' | 'delta') => runs().request(applicationId, kind);
  const finished = (runId: string) => runs().finished(runId);
  const sendDirectory = async (
    objects: { objectClass: string; externalId: string; attributes: Record<string, string | string[]> }[],
  ) => {
    const at = new Date().toISOString();
    const producer = fixture.bus.producer();
    await producer.connect();
    await producer.sendBatch({
      topicMessages: [
        {
          topic: topicName(fixture.topics, 'imports'),
          messages: objects.map((object) => {
            const data: MessageData<'joinery.import.object.v1'> = {
              tenantId: fixture.tenantId,
              applicationId: apps.directory,
              objectClass: object.objectClass,
              externalId: object.externalId,
              operation: 'upsert',
              attributes: object.attributes,
              observedAt: at,
            };
            return encodeMessage({
              id: randomUUID(),
              type: 'joinery.import.object.v1',
              source: '/tests',
              time: at,
              tenantId: fixture.tenantId,
              data,
            });
          }),
        },
      ],
    });
    await producer.disconnect();
  };
  const dn = (uid: string) => `uid=${uid},ou=people,dc=example,dc=org`;
  const header = 'WorkerID,First,Last,Email,Dept,Status\n';

  it("provisions the HR file's people as SCIM users, adopting the account that already exists", async () => {
    const grace = scim.seedUser({ userName: 'grace@example.org', name: { givenName: 'G' } });
    await upload(
      header +
        'E1,Ada,Lovelace,ada@example.org,R&D,active\n' +
        'E2,Grace,Hopper,grace@example.org,Navy,active\n' +
        'E3,Linus,Torvalds,linus@example.org,Kernel,active\n',
    );
    const users = await waitFor('three SCIM users, all written', async () => {
      const all = scim.users();
      return all.length === 3 &&
        all.every((user) => (user.name as { familyName?: string } | undefined)?.familyName !== undefined)
        ? all
        : undefined;
    });
    const ada = scim.userByName('ada@example.org');
    expect(ada).toMatchObject({
      userName: 'ada@example.org',
      name: { givenName: 'Ada', familyName: 'Lovelace' },
      emails: [{ type: 'work', value: 'ada@example.org', primary: true }],
      [enterprise]: { employeeNumber: 'E1', department: 'R&D' },
    });
    // Grace was there before: matched by userName and adopted (her id kept), not created twice.
    expect(users.filter((user) => user.userName === 'grace@example.org')).toHaveLength(1);
    expect(scim.userByName('grace@example.org')).toMatchObject({
      id: grace.id,
      name: { givenName: 'Grace', familyName: 'Hopper' },
    });
    const queue = await waitFor('the creates recorded', async () => {
      const rows = await exportQueue(fixture, apps.saas);
      return rows.length >= 3 && rows.every((row) => row.status === 'succeeded') ? rows : undefined;
    });
    expect(queue.find((row) => row.external_id === grace.id)?.operation).toBe('create');
  });

  it('writes a directory group with its members, through 503s that exhaust a delivery and come back', async () => {
    // Four 503s: the first delivery's tries all fail, the export goes back to the queue (retriable: a
    // failure that is not would leave it failed), and its next delivery succeeds after the queue's backoff.
    // The time it waits between is a few seconds, so only the outcome is checked: two attempts. The faults
    // answer the group's creation only: a user's export still under way must not take one of them.
    const groupCreate = { status: 503, method: 'POST', path: '/Groups' } as const;
    scim.fail(groupCreate, groupCreate, groupCreate, groupCreate);
    await sendDirectory([
      { objectClass: 'user', externalId: 'ada', attributes: { employeeNumber: 'E1', dn: dn('ada') } },
      { objectClass: 'user', externalId: 'grace', attributes: { employeeNumber: 'E2', dn: dn('grace') } },
      { objectClass: 'user', externalId: 'linus', attributes: { employeeNumber: 'E3', dn: dn('linus') } },
      {
        objectClass: 'group',
        externalId: 'engineering',
        attributes: { cn: 'engineering', member: [dn('ada'), dn('grace'), dn('linus')] },
      },
    ]);
    const group = await waitFor('the SCIM group with its three members', async () => {
      const found = scim.groups().find((candidate) => candidate.displayName === 'Team engineering');
      return found !== undefined && Array.isArray(found.members) && found.members.length === 3
        ? found
        : undefined;
    });
    const idOf = (userName: string) => scim.userByName(userName)?.id;
    expect((group.members as { value: string }[]).map((member) => member.value).sort()).toEqual(
      [idOf('ada@example.org'), idOf('grace@example.org'), idOf('linus@example.org')].sort(),
    );
    expect(scim.faultsAnswered).toBe(4);
    const [delivered] = await query<{ status: string; attempts: number }>(
      fixture.database.url,
      `select status, attempts from export_item where application_id = $1 and object_class = 'group'`,
      [apps.saas],
    );
    expect(delivered).toEqual({ status: 'succeeded', attempts: 2 });
  }, 60_000);

  it('updates, disables and deletes users and changes only the membership, through a 429 and a 503', async () => {
    scim.fail({ status: 429, retryAfter: '1' }, { status: 503 });
    const before = scim.faultsAnswered;
    await upload(
      header +
        'E1,Augusta Ada,Lovelace,ada@example.org,R&D,active\n' +
        'E2,Grace,Hopper,grace@example.org,Navy,inactive\n' +
        'E3,Linus,Torvalds,linus@example.org,External,active\n',
    );
    await sendDirectory([
      {
        objectClass: 'group',
        externalId: 'engineering',
        attributes: { cn: 'engineering', member: [dn('ada'), dn('grace')] },
      },
    ]);
    await waitFor('Linus deleted, Grace disabled, Ada renamed, the group down to two', async () => {
      const group = scim.groups().find((candidate) => candidate.displayName === 'Team engineering');
      const done =
        scim.userByName('linus@example.org') === undefined &&
        scim.userByName('grace@example.org')?.active === false &&
        (scim.userByName('ada@example.org')?.name as { givenName?: string } | undefined)?.givenName ===
          'Augusta Ada' &&
        Array.isArray(group?.members) &&
        group.members.length === 2;
      return done ? true : undefined;
    });
    expect(scim.faultsAnswered - before).toBe(2);
    const rows = await exportQueue(fixture, apps.saas);
    expect(rows.map((row) => row.status).filter((status) => status !== 'succeeded')).toEqual([]);
    expect(rows.map((row) => `${row.object_class}:${row.operation}`)).toEqual(
      expect.arrayContaining(['user:update', 'user:disable', 'user:delete', 'group:update']),
    );
  }, 60_000);

  it('imports the SCIM users on a requested run, confirms what was exported, then a delta reads only the changes', async () => {
    scim.seedUser({ userName: 'dora@example.org', name: { givenName: 'Dora' } });
    const full = await finished(await requestRun(apps.saas, 'full'));
    expect(full).toMatchObject({ status: 'completed', kind: 'full', objectCount: 4, sent: 4 });
    const objects = await get<{
      items: {
        externalId: string;
        objectClass: string;
        attributes: Record<string, unknown>;
        identityId: string | null;
      }[];
    }>(`/v1/applications/${apps.saas}/objects?limit=50`);
    const ada = objects.items.find((object) => object.attributes.userName === 'ada@example.org');
    expect(ada).toMatchObject({
      objectClass: 'user',
      attributes: { givenName: 'Augusta Ada', department: 'R&D' },
    });
    expect(ada?.identityId).not.toBeNull();
    expect(objects.items.find((object) => object.attributes.userName === 'dora@example.org')).toBeDefined();
    expect(objects.items.filter((object) => object.objectClass === 'group')).toHaveLength(1);
    await waitFor('the exports confirmed by the import', async () => {
      const rows = await exportQueue(fixture, apps.saas);
      return rows.some((row) => row.status === 'confirmed') ? rows : undefined;
    });

    const dora = scim.userByName('dora@example.org');
    if (dora === undefined) throw new Error('dora is gone');
    dora.name = { givenName: 'Dorothy' };
    dora.meta.lastModified = new Date(Date.now() + 1000).toISOString();
    const delta = await finished(await requestRun(apps.saas, 'delta'));
    expect(delta).toMatchObject({ status: 'completed', kind: 'delta', sent: 1 });
    const after = await get<{ attributes: Record<string, unknown> }>(
      `/v1/applications/${apps.saas}/objects/${encodeURIComponent(dora.id)}`,
    );
    expect(after.attributes.givenName).toBe('Dorothy');
  }, 60_000);

  it('aborts a run whose engine process died mid-read, saying why, and reads it again as a new run', async () => {
    // What a process killed while reading leaves behind: its run `running`, its lease run out.
    const lost = randomUUID();
    await query(
      fixture.database.url,
      `insert into import_run (run_id, tenant_id, application_id, kind, status, object_count, seen, deletions, sent,
         started_at, lease_until)
       values ($1, $2, $3, 'full', 'running', null, 0, 0, 3, now() - interval '5 minutes', now() - interval '1 minute')`,
      [lost, fixture.tenantId, apps.saas],
    );
    const aborted = await finished(lost);
    expect(aborted.status).toBe('aborted');
    expect(aborted.reason).toMatch(
      /^the engine process reading it stopped before it finished \(its lease ran out at .+Z, after 3 objects\); nothing was deleted, and the run was requested again$/,
    );
    const again = await waitFor('the run requested again', async () => {
      const rows = await query<{ run_id: string }>(
        fixture.database.url,
        `select run_id from import_run where application_id = $1 and kind = 'full' and started_at > $2
         order by started_at desc limit 1`,
        [apps.saas, new Date(Date.now() - 60_000)],
      );
      return rows[0]?.run_id;
    });
    const read = await finished(again);
    expect(read).toMatchObject({ status: 'completed', kind: 'full' });
    expect(read.sent).toBe(scim.users().length + scim.groups().length);
  }, 60_000);

  it('fails a requested run of a scim application without settings, saying what to add', async () => {
    const run = await finished(await requestRun(apps.unset, 'full'));
    expect(run.status).toBe('failed');
    expect(run.reason).toContain('has no scim settings: add scim: { baseUrl');
  });
});
