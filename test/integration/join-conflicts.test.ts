// Join conflicts, end to end on the real Kafka broker and PostgreSQL (issue 17 item 1): two directory
// accounts carrying one employee number are never both joined to the one identity. The second one matched
// (or both, when they arrive in one batch) is held as a join conflict with the identity and the object it
// conflicts with, visible through the API; an administrator decides (join one, unjoin the other), and the
// identity's lifecycle writes then reach the account chosen, never the other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { createImportStage } from '../../src/engine/import-stage.ts';
import { createInboundForwarder } from '../../src/engine/inbound.ts';
import { createPlanCache } from '../../src/engine/plan-cache.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { decodeMessage } from '../../streams/cloudevents.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { silentLogger } from '../support/factories.ts';
import { waitUntilSettled } from '../support/settled.ts';
import {
  createStreamsFixture,
  importMessage,
  query,
  startTestEngine,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';

interface RepositoryObject {
  externalId: string;
  joinState: string | null;
  identityId: string | null;
  candidates: { rule: string; identityIds: string[]; conflictsWith?: string[] } | null;
}

describe('join conflicts (real Kafka and PostgreSQL, engine and API)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let app: App;
  const apps = { hr: '', directory: '', admins: '', workstations: '' };

  const planSource = [
    'version: 1',
    'vault:',
    '  attributes: { employeeId: {}, givenName: {} }',
    'applications:',
    '  - name: hr',
    '    type: csv',
    '    createsIdentities: true',
    '    objectClasses:',
    '      worker: { attributes: { WorkerID: {}, FirstName: {}, Status: {} } }',
    '    inbound:',
    '      - { vault: employeeId, from: WorkerID, authority: 100 }',
    '      - { vault: givenName, from: FirstName, authority: 100 }',
    '    lifecycle:',
    `      status: 'source.Status == "suspended" ? "disabled" : "active"'`,
    '  - name: directory',
    '    type: ldap',
    '    mode: live',
    '    objectClasses:',
    '      user: { attributes: { employeeNumber: {}, description: { direction: both } } }',
    '    joining: [{ name: employee number, all: [{ source: employeeNumber, vault: employeeId }] }]',
    '    outbound:',
    '      - { target: description, from: givenName }',
    '    classifications: [1]',
    '  - name: admins',
    '    type: ldap',
    '    objectClasses:',
    '      user: { multipleJoins: true, attributes: { employeeNumber: {} } }',
    '    joining: [{ name: employee number, all: [{ source: employeeNumber, vault: employeeId }] }]',
    '  - name: workstations',
    '    type: ldap',
    '    mode: live',
    '    objectClasses:',
    '      admin: { multipleJoins: true, attributes: { employeeNumber: {}, description: { direction: both } } }',
    '      user: { attributes: { employeeNumber: {}, description: { direction: both } } }',
    '    joining: [{ name: employee number, all: [{ source: employeeNumber, vault: employeeId }] }]',
    '    outbound:',
    '      - { target: description, from: givenName }',
    '    export: { objectClass: user }',
    '    classifications: [1]',
    'classifications:',
    `  - { value: 1, name: everyone, when: 'identity.employeeId != ""' }`,
  ].join('\n');

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    engine = await startTestEngine(fixture);
    app = await buildApp({
      orm: fixture.orm,
      readiness: createReadiness({}),
      logger: silentLogger,
      topicPrefix: fixture.topics.topicPrefix,
    });
    const applied = await applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
      source: planSource,
    });
    const ids = new Map(applied.applications.map((a) => [a.name, a.id]));
    apps.hr = ids.get('hr') ?? '';
    apps.directory = ids.get('directory') ?? '';
    apps.admins = ids.get('admins') ?? '';
    apps.workstations = ids.get('workstations') ?? '';
  });
  afterAll(async () => {
    await app.close();
    await engine.stop();
    await fixture.close();
  });

  const call = (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${fixture.apiKey}` },
      ...(payload === undefined ? {} : { payload }),
    });

  const worker = (id: string, name: string, status: 'active' | 'suspended') =>
    importMessage({
      tenantId: fixture.tenantId,
      applicationId: apps.hr,
      objectClass: 'worker',
      externalId: id,
      attributes: { WorkerID: id, FirstName: name, Status: status },
    });
  const account = (applicationId: string, dn: string, employeeNumber: string, objectClass = 'user') =>
    importMessage({
      tenantId: fixture.tenantId,
      applicationId,
      objectClass,
      externalId: dn,
      attributes: { employeeNumber },
    });

  /** Runs the import stage on one batch of messages, in one transaction, as the engine's import consumer does. */
  const importBatch = async (records: ReturnType<typeof importMessage>[]) => {
    const stage = createImportStage({
      inbound: createInboundForwarder({
        plans: createPlanCache(),
        identityTopic: fixture.topic('identity'),
        source: '/test',
      }),
    });
    await fixture.orm.em.fork().transactional((tx) =>
      stage(
        tx,
        records.map((record, offset) => {
          const value = record.value as Buffer;
          const headers = record.headers as Record<string, string>;
          const decoded = decodeMessage('imports', { value, headers });
          if (!decoded.ok) throw new Error(decoded.reason);
          return {
            envelope: decoded.envelope,
            message: {
              topic: 'imports' as const,
              topicName: fixture.topic('imports'),
              partition: 0,
              offset: String(offset),
              key: Buffer.from(String(record.key)),
              value,
              headers,
            },
          };
        }),
      ),
    );
  };

  const repositoryObject = async (applicationId: string, externalId: string) => {
    const response = await call(
      'GET',
      `/v1/applications/${applicationId}/objects/${encodeURIComponent(externalId)}`,
    );
    return response.statusCode === 200 ? response.json<RepositoryObject>() : undefined;
  };
  const inState = async (applicationId: string, externalId: string, state: string) => {
    const object = await repositoryObject(applicationId, externalId);
    return object?.joinState === state ? object : undefined;
  };
  const conflicts = async (applicationId: string) =>
    (await call('GET', `/v1/applications/${applicationId}/objects?joinState=conflict`)).json<{
      items: RepositoryObject[];
    }>().items;
  const hardJoins = (applicationId: string, identityId: string) =>
    query<{ external_id: string }>(
      fixture.database.url,
      `select external_id from identity_source where tenant_id = $1 and application_id = $2 and identity_id = $3
       order by external_id`,
      [fixture.tenantId, applicationId, identityId],
    );
  /** The identity of an HR worker, once a joining rule can find it by its employee id. */
  const projected = async (workerId: string) =>
    waitFor(`the identity of ${workerId}, found by its employee id`, async () => {
      const found = await call('GET', `/v1/identities?attribute=employeeId&value=${workerId}`);
      return found.json<{ items: { id: string }[] }>().items[0]?.id;
    });
  /** The directory's lifecycle writes (enable, disable, delete) for an identity, in order. */
  const lifecycleWrites = (identityId: string) =>
    query<{ operation: string; external_id: string | null }>(
      fixture.database.url,
      `select operation, external_id from export_item where application_id = $1 and identity_id = $2
         and operation in ('enable', 'disable', 'delete') order by seq`,
      [apps.directory, identityId],
    );
  /** Every export to the directory addressed to an account. */
  const writesTo = (externalId: string) =>
    query<{ operation: string }>(
      fixture.database.url,
      'select operation from export_item where application_id = $1 and external_id = $2',
      [apps.directory, externalId],
    );

  it('holds a second account matched to an identity that already holds one (two successive imports)', async () => {
    await fixture.send('imports', [worker('E-1', 'Ada', 'active')]);
    const ada = await projected('E-1');
    await fixture.send('imports', [account(apps.directory, 'CN=Ada,OU=Users', 'E-1')]);
    await waitFor('the real account joined', () => inState(apps.directory, 'CN=Ada,OU=Users', 'joined'));

    await fixture.send('imports', [account(apps.directory, 'CN=Ada Duplicate,OU=Users', 'E-1')]);
    const held = await waitFor('the duplicate held as a join conflict', () =>
      inState(apps.directory, 'CN=Ada Duplicate,OU=Users', 'conflict'),
    );
    expect(held.identityId).toBeNull();
    expect(held.candidates).toEqual({
      rule: 'employee number',
      identityIds: [ada],
      conflictsWith: ['CN=Ada,OU=Users'],
    });
    expect((await conflicts(apps.directory)).map((o) => o.externalId)).toEqual(['CN=Ada Duplicate,OU=Users']);
    // The identity holds one account there, the real one.
    expect((await hardJoins(apps.directory, ada)).map((row) => row.external_id)).toEqual(['CN=Ada,OU=Users']);
    expect(await repositoryObject(apps.directory, 'CN=Ada,OU=Users')).toMatchObject({
      joinState: 'joined',
      identityId: ada,
    });

    // The administrator keeps the real one and excludes the duplicate.
    const unjoined = await call('POST', '/v1/joins/unjoin', {
      applicationId: apps.directory,
      externalId: 'CN=Ada Duplicate,OU=Users',
    });
    expect(unjoined.statusCode).toBe(200);
    expect(unjoined.json()).toMatchObject({ joinState: 'excluded', previousJoinState: 'conflict' });
    expect(await conflicts(apps.directory)).toEqual([]);

    // Ada is suspended in HR: the disable reaches the real account, and nothing the duplicate.
    await fixture.send('imports', [worker('E-1', 'Ada', 'suspended')]);
    const writes = await waitFor('the disable exported', async () => {
      const rows = await lifecycleWrites(ada);
      return rows.some((row) => row.operation === 'disable') ? rows : undefined;
    });
    expect(writes).toEqual([{ operation: 'disable', external_id: 'CN=Ada,OU=Users' }]);
    await waitUntilSettled(fixture);
    expect(await writesTo('CN=Ada Duplicate,OU=Users')).toEqual([]);
    expect(await inState(apps.directory, 'CN=Ada Duplicate,OU=Users', 'excluded')).toBeDefined();
  });

  it('holds both accounts of one batch matched to one identity, until an administrator joins one and unjoins the other', async () => {
    await fixture.send('imports', [worker('E-2', 'Grace', 'active')]);
    const grace = await projected('E-2');
    // One batch, as the engine's import consumer would hand it to its import stage (sent to Kafka, the two
    // accounts could land on two partitions: the test below).
    await importBatch([
      account(apps.directory, 'CN=Grace,OU=Users', 'E-2'),
      account(apps.directory, 'CN=Grace Old,OU=Users', 'E-2'),
    ]);
    const first = await waitFor('the first account held', () =>
      inState(apps.directory, 'CN=Grace,OU=Users', 'conflict'),
    );
    const second = await waitFor('the second account held', () =>
      inState(apps.directory, 'CN=Grace Old,OU=Users', 'conflict'),
    );
    expect(first.candidates).toEqual({
      rule: 'employee number',
      identityIds: [grace],
      conflictsWith: ['CN=Grace Old,OU=Users'],
    });
    expect(second.candidates).toEqual({
      rule: 'employee number',
      identityIds: [grace],
      conflictsWith: ['CN=Grace,OU=Users'],
    });
    // Neither is joined: no guess.
    expect(await hardJoins(apps.directory, grace)).toEqual([]);
    expect((await conflicts(apps.directory)).map((o) => o.externalId)).toEqual([
      'CN=Grace Old,OU=Users',
      'CN=Grace,OU=Users',
    ]);

    // Imported again unchanged or changed, a held account stays held (the other still claims the identity).
    await fixture.send('imports', [account(apps.directory, 'CN=Grace Old,OU=Users', 'E-2')]);
    await waitUntilSettled(fixture);
    expect(await inState(apps.directory, 'CN=Grace Old,OU=Users', 'conflict')).toBeDefined();

    // The administrator joins the real one and excludes the old one.
    const joined = await call('POST', '/v1/joins', {
      applicationId: apps.directory,
      externalId: 'CN=Grace,OU=Users',
      identityId: grace,
    });
    expect(joined.statusCode).toBe(200);
    expect(joined.json()).toMatchObject({ joinState: 'joined', previousJoinState: 'conflict' });
    // Joining one by hand leaves the other held until the administrator decides about it too.
    expect(await inState(apps.directory, 'CN=Grace Old,OU=Users', 'conflict')).toBeDefined();
    const unjoined = await call('POST', '/v1/joins/unjoin', {
      applicationId: apps.directory,
      externalId: 'CN=Grace Old,OU=Users',
    });
    expect(unjoined.json()).toMatchObject({ joinState: 'excluded', previousJoinState: 'conflict' });
    await waitFor('the chosen account joined', () => inState(apps.directory, 'CN=Grace,OU=Users', 'joined'));
    // The identity takes the account as its source once the engine has the re-fed object.
    await waitUntilSettled(fixture);
    expect(await conflicts(apps.directory)).toEqual([]);
    expect((await hardJoins(apps.directory, grace)).map((row) => row.external_id)).toEqual([
      'CN=Grace,OU=Users',
    ]);

    await fixture.send('imports', [worker('E-2', 'Grace', 'suspended')]);
    const writes = await waitFor('the disable exported', async () => {
      const rows = await lifecycleWrites(grace);
      return rows.some((row) => row.operation === 'disable') ? rows : undefined;
    });
    expect(writes).toEqual([{ operation: 'disable', external_id: 'CN=Grace,OU=Users' }]);
    await waitUntilSettled(fixture);
    expect(await writesTo('CN=Grace Old,OU=Users')).toEqual([]);
  });

  it('resolves a conflict in one call: the chosen account joined, every other of its class held or joined excluded', async () => {
    await fixture.send('imports', [worker('E-6', 'Barbara', 'active')]);
    const barbara = await projected('E-6');
    await importBatch([
      account(apps.directory, 'CN=Barbara,OU=Users', 'E-6'),
      account(apps.directory, 'CN=Barbara Old,OU=Users', 'E-6'),
      account(apps.directory, 'CN=Barbara Test,OU=Users', 'E-6'),
    ]);
    await waitFor('the three accounts held', async () =>
      (await conflicts(apps.directory)).filter((o) => o.externalId.startsWith('CN=Barbara')).length === 3
        ? true
        : undefined,
    );
    const resolved = await call('POST', '/v1/joins/resolve', {
      applicationId: apps.directory,
      externalId: 'CN=Barbara,OU=Users',
    });
    expect(resolved.statusCode, resolved.body).toBe(200);
    expect(resolved.json()).toMatchObject({
      identityId: barbara,
      joinState: 'joined',
      previousJoinState: 'conflict',
      excluded: ['CN=Barbara Old,OU=Users', 'CN=Barbara Test,OU=Users'],
    });
    await waitFor('the chosen account joined', () =>
      inState(apps.directory, 'CN=Barbara,OU=Users', 'joined'),
    );
    expect(await inState(apps.directory, 'CN=Barbara Old,OU=Users', 'excluded')).toBeDefined();
    expect(await inState(apps.directory, 'CN=Barbara Test,OU=Users', 'excluded')).toBeDefined();
    expect((await hardJoins(apps.directory, barbara)).map((row) => row.external_id)).toEqual([
      'CN=Barbara,OU=Users',
    ]);
    // An object in no conflict needs the identity named.
    const unnamed = await call('POST', '/v1/joins/resolve', {
      applicationId: apps.directory,
      externalId: 'CN=Barbara Old,OU=Users',
    });
    expect(unnamed.statusCode).toBe(409);
  });

  it('joins at most one of two accounts imported at once on two partitions, the other held', async () => {
    await fixture.send('imports', [worker('E-4', 'Edsger', 'active')]);
    const edsger = await projected('E-4');
    const dns = ['CN=Edsger,OU=Users', 'CN=Edsger 2,OU=Users', 'CN=Edsger 3,OU=Users'];
    await fixture.send(
      'imports',
      dns.map((dn) => account(apps.directory, dn, 'E-4')),
    );
    const decided = await waitFor('every account decided', async () => {
      const objects = await Promise.all(dns.map((dn) => repositoryObject(apps.directory, dn)));
      return objects.every((o) => o?.joinState === 'joined' || o?.joinState === 'conflict')
        ? objects.flatMap((o) => (o === undefined ? [] : [o]))
        : undefined;
    });
    const joined = decided.filter((o) => o.joinState === 'joined');
    expect(joined.length).toBeLessThanOrEqual(1);
    expect(await hardJoins(apps.directory, edsger)).toEqual(
      joined.map((o) => ({ external_id: o.externalId })),
    );
    for (const held of decided.filter((o) => o.joinState === 'conflict')) {
      expect(held.candidates?.identityIds).toEqual([edsger]);
      // Each held account names the others that claim the identity (joined, or held too) — as the batches
      // found them: the first batch decided did not yet see those of the later one.
      expect(held.candidates?.conflictsWith?.length).toBeGreaterThan(0);
    }
  });

  it('joins several accounts of one identity where the plan allows several (multipleJoins)', async () => {
    await fixture.send('imports', [worker('E-3', 'Linus', 'active')]);
    const linus = await projected('E-3');
    await fixture.send('imports', [account(apps.admins, 'CN=adm-linus', 'E-3')]);
    await waitFor('the first admin account joined', () => inState(apps.admins, 'CN=adm-linus', 'joined'));
    await fixture.send('imports', [
      account(apps.admins, 'CN=adm2-linus', 'E-3'),
      account(apps.admins, 'CN=adm3-linus', 'E-3'),
    ]);
    await waitFor('the second admin account joined', () => inState(apps.admins, 'CN=adm2-linus', 'joined'));
    await waitFor('the third admin account joined', () => inState(apps.admins, 'CN=adm3-linus', 'joined'));
    expect((await hardJoins(apps.admins, linus)).map((row) => row.external_id)).toEqual([
      'CN=adm-linus',
      'CN=adm2-linus',
      'CN=adm3-linus',
    ]);
  });

  it('writes to the account of the exported class, never to an admin account the identity also holds', async () => {
    await fixture.send('imports', [worker('E-5', 'Grace', 'active')]);
    const grace = await projected('E-5');
    // The admin account joins first, then the user account; neither is a conflict (different classes).
    await fixture.send('imports', [account(apps.workstations, 'CN=adm-grace', 'E-5', 'admin')]);
    await waitFor('the admin account joined', () => inState(apps.workstations, 'CN=adm-grace', 'joined'));
    await fixture.send('imports', [account(apps.workstations, 'CN=grace', 'E-5')]);
    await waitFor('the user account joined', () => inState(apps.workstations, 'CN=grace', 'joined'));

    await fixture.send('imports', [worker('E-5', 'Gracie', 'active')]);
    const writes = (externalId: string) =>
      query<{ operation: string; attributes: Record<string, unknown> | null }>(
        fixture.database.url,
        `select operation, attributes from export_item where application_id = $1 and external_id = $2
         order by seq`,
        [apps.workstations, externalId],
      );
    await waitFor('the new name written to the user account', async () => {
      const rows = await writes('CN=grace');
      return rows.some((row) => row.attributes?.description === 'Gracie') ? rows : undefined;
    });
    await waitUntilSettled(fixture);
    expect(await writes('CN=adm-grace')).toEqual([]);
    expect((await hardJoins(apps.workstations, grace)).map((row) => row.external_id)).toEqual([
      'CN=adm-grace',
      'CN=grace',
    ]);
  });
});
