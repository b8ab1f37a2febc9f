// The life of a join, end to end on the real Kafka broker and PostgreSQL: a disconnector looked at again
// once the identity it matches appears, the provenance of every join, and an identity that forgets an
// application object unjoined or re-joined elsewhere by hand (through the API, the engine running).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { silentLogger } from '../support/factories.ts';
import {
  createStreamsFixture,
  importMessage,
  query,
  startTestEngine,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';

interface IdentityDetail {
  attributes: Record<string, unknown>;
  provenance: Record<string, { applicationId: string; authority: number }>;
  sources: { applicationId: string; externalId: string }[];
  repositoryObjects: {
    applicationId: string;
    externalId: string;
    joinState: string;
    joinProvenance: string;
  }[];
}

describe('the life of a join (real Kafka and PostgreSQL, engine and API)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let app: App;
  const apps = { hr: '', directory: '', badges: '', saas: '' };

  const planSource = [
    'version: 1',
    'vault:',
    '  attributes: { employeeId: {}, givenName: {}, mail: {}, phone: {} }',
    'applications:',
    '  - name: hr',
    '    type: csv',
    '    createsIdentities: true',
    '    objectClasses:',
    '      worker: { attributes: { WorkerID: {}, FirstName: {}, Mail: {} } }',
    '    inbound:',
    '      - { vault: employeeId, from: WorkerID, authority: 100 }',
    '      - { vault: givenName, from: FirstName, authority: 100 }',
    '      - { vault: mail, from: Mail, authority: 10 }',
    '  - name: directory',
    '    type: ldap',
    '    objectClasses:',
    '      user: { attributes: { employeeID: {}, mail: {}, telephoneNumber: {} } }',
    '    joining: [{ name: employee id, all: [{ source: employeeID, vault: employeeId }] }]',
    '    inbound:',
    '      - { vault: mail, from: mail, authority: 100 }',
    '      - { vault: phone, from: telephoneNumber, authority: 100 }',
    '  - name: badges',
    '    type: csv',
    '    objectClasses:',
    '      badge: { attributes: { holder: {} } }',
    '  - name: saas',
    '    type: scim',
    '    mode: live',
    '    objectClasses:',
    '      User:',
    '        attributes: { userName: { direction: out }, mail: { direction: out }, phone: { direction: out } }',
    '    outbound:',
    '      - { target: userName, from: employeeId }',
    '      - { target: mail, from: mail }',
    '      - { target: phone, from: phone }',
    '    classifications: [1]',
    'classifications:',
    `  - { value: 1, name: everyone, when: 'identity.employeeId != ""' }`,
  ].join('\n');

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    // The orchestrator ticks every 200 ms here: the disconnector sweep runs every 24 ticks (about 5 s).
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
    apps.badges = ids.get('badges') ?? '';
    apps.saas = ids.get('saas') ?? '';
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

  const importObject = (
    applicationId: string,
    objectClass: string,
    externalId: string,
    attributes: Record<string, string>,
  ) => importMessage({ tenantId: fixture.tenantId, applicationId, objectClass, externalId, attributes });
  const worker = (id: string, mail: string) =>
    importObject(apps.hr, 'worker', id, { WorkerID: id, FirstName: 'Ada', Mail: mail });
  const account = (dn: string, employeeId: string, mail: string, phone: string) =>
    importObject(apps.directory, 'user', dn, { employeeID: employeeId, mail, telephoneNumber: phone });

  /** The repository object, or with `writtenAfter` only once it has been written since then. */
  const objectRow = async (applicationId: string, externalId: string, writtenAfter?: string) =>
    (
      await query<{
        join_state: string | null;
        identity_id: string | null;
        content_hash: string;
        updated_at: string;
      }>(
        fixture.database.url,
        `select join_state, identity_id, content_hash, updated_at::text as updated_at from repository_object
         where tenant_id = $1 and application_id = $2 and external_id = $3
           and ($4::timestamptz is null or updated_at > $4::timestamptz)`,
        [fixture.tenantId, applicationId, externalId, writtenAfter ?? null],
      )
    )[0];
  const hardJoin = async (applicationId: string, externalId: string) =>
    (
      await query<{ identity_id: string; provenance: string | null }>(
        fixture.database.url,
        `select identity_id, provenance from identity_source
         where tenant_id = $1 and application_id = $2 and external_id = $3`,
        [fixture.tenantId, applicationId, externalId],
      )
    )[0];
  const identity = async (id: string) => (await call('GET', `/v1/identities/${id}`)).json<IdentityDetail>();
  /** The attribute changes exported for an identity to the target since `afterSeq`, merged in order. */
  const exportedChanges = async (identityId: string, afterSeq: number) => {
    const rows = await query<{ attributes: Record<string, unknown> | null }>(
      fixture.database.url,
      `select attributes from export_item where application_id = $1 and identity_id = $2 and seq > $3
         and operation = 'update' order by seq`,
      [apps.saas, identityId, afterSeq],
    );
    return Object.assign({}, ...rows.map((row) => row.attributes ?? {})) as Record<string, unknown>;
  };
  const lastSeq = async () =>
    Number(
      (
        await query<{ seq: string | null }>(
          fixture.database.url,
          'select max(seq)::text as seq from export_item where application_id = $1',
          [apps.saas],
        )
      )[0]?.seq ?? 0,
    );

  let ada = ''; // the identity the HR record E-1 projects
  let grace = ''; // the identity the HR record E-2 projects
  const dn = 'CN=Ada,OU=Users';

  it('joins a directory account imported before its HR record once the record projects the identity, without importing it again', async () => {
    await fixture.send('imports', [account(dn, 'E-1', 'ada@corp.example', '+33 1 01')]);
    await waitFor('the account left unjoined', async () =>
      (await objectRow(apps.directory, dn))?.join_state === 'unjoined' ? true : undefined,
    );
    expect(await hardJoin(apps.directory, dn)).toBeUndefined();

    await fixture.send('imports', [worker('E-1', 'ada@hr.example')]);
    const joined = await waitFor(
      'the account joined by the disconnector sweep',
      async () => {
        const row = await objectRow(apps.directory, dn);
        return row?.join_state === 'joined' ? row : undefined;
      },
      45_000,
    );
    const projected = await hardJoin(apps.hr, 'E-1');
    expect(projected).toMatchObject({ provenance: 'projected' });
    ada = projected?.identity_id ?? '';
    expect(joined.identity_id).toBe(ada);
    expect(joined.content_hash).toHaveLength(64);
    expect(await hardJoin(apps.directory, dn)).toEqual({ identity_id: ada, provenance: 'rule:employee id' });

    // The account's attributes reached the identity with the directory's authority (mail: 100 over 10).
    const detail = await waitFor('the account supplying its attributes', async () => {
      const found = await identity(ada);
      return found.attributes.phone === '+33 1 01' ? found : undefined;
    });
    expect(detail.attributes).toMatchObject({ employeeId: 'E-1', mail: 'ada@corp.example' });
    expect(detail.sources).toEqual(
      expect.arrayContaining([
        { applicationId: apps.hr, externalId: 'E-1' },
        { applicationId: apps.directory, externalId: dn },
      ]),
    );
    expect(detail.repositoryObjects).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ externalId: 'E-1', joinState: 'joined', joinProvenance: 'projected' }),
        expect.objectContaining({ externalId: dn, joinState: 'joined', joinProvenance: 'rule:employee id' }),
      ]),
    );
    const object = await call('GET', `/v1/applications/${apps.directory}/objects/${encodeURIComponent(dn)}`);
    expect(object.json()).toMatchObject({
      joinState: 'joined',
      identityId: ada,
      joinProvenance: 'rule:employee id',
    });
  });

  it('makes the identity an unjoined account leaves forget it: its attributes go, the remaining source supplies its own', async () => {
    await waitFor('the target provisioned with the account values', async () => {
      const rows = await query<{ desired: Record<string, unknown> }>(
        fixture.database.url,
        'select desired from outbound_object where application_id = $1 and identity_id = $2',
        [apps.saas, ada],
      );
      return rows[0]?.desired.phone === '+33 1 01' ? true : undefined;
    });
    const since = await lastSeq();
    const response = await call('POST', '/v1/joins/unjoin', {
      applicationId: apps.directory,
      externalId: dn,
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ joinState: 'excluded', previousIdentityId: ada });

    const detail = await waitFor('the identity without the account', async () => {
      const found = await identity(ada);
      return found.attributes.mail === 'ada@hr.example' && found.sources.length === 1 ? found : undefined;
    });
    expect(detail.sources).toEqual([{ applicationId: apps.hr, externalId: 'E-1' }]);
    expect(detail.attributes).not.toHaveProperty('phone');
    expect(detail.provenance.mail).toEqual({ applicationId: apps.hr, authority: 10 });
    expect(detail.repositoryObjects.map((o) => o.externalId)).toEqual(['E-1']);
    // Only the real differences went out to the target: the phone removed, the HR e-mail back.
    await waitFor('the differences exported', async () =>
      (await exportedChanges(ada, since)).mail === 'ada@hr.example' ? true : undefined,
    );
    expect(await exportedChanges(ada, since)).toEqual({ phone: null, mail: 'ada@hr.example' });
    // An excluded account is never re-fed by the sweep: it stays excluded.
    const excluded = await objectRow(apps.directory, dn);
    expect(excluded?.join_state).toBe('excluded');
    // Imported again with a change, still matching the joining rule: it stays excluded, joined to nothing.
    await fixture.send('imports', [
      importObject(apps.directory, 'user', dn, {
        employeeID: 'E-1',
        mail: 'ada@corp.example',
        telephoneNumber: '+33 1 01',
        title: 'Engineer',
      }),
    ]);
    const reimported = await waitFor('the changed account recorded', async () => {
      const row = await objectRow(apps.directory, dn);
      return row !== undefined && row.content_hash !== excluded?.content_hash ? row : undefined;
    });
    expect(reimported).toMatchObject({ join_state: 'excluded', identity_id: null });
    expect(await hardJoin(apps.directory, dn)).toBeUndefined();
  });

  it('moves an account joined by hand from one identity to another: the one it leaves forgets it', async () => {
    const manual = `manual:${await serviceAccountId()}`;
    await fixture.send('imports', [worker('E-2', 'grace@hr.example')]);
    grace = (await waitFor('the second hard join', async () => hardJoin(apps.hr, 'E-2'))).identity_id;
    // Inbound records the hard join; the identity is in the Vault once its actor has had the event.
    await waitFor('the second identity', async () =>
      (await call('GET', `/v1/identities/${grace}`)).statusCode === 200 ? true : undefined,
    );

    const first = await call('POST', '/v1/joins', {
      applicationId: apps.directory,
      externalId: dn,
      identityId: grace,
    });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({
      joinState: 'joined',
      joinProvenance: manual,
      previousJoinState: 'excluded',
      previousIdentityId: null,
    });
    await waitFor('the account on the second identity', async () =>
      (await identity(grace)).attributes.phone === '+33 1 01' ? true : undefined,
    );

    const second = await call('POST', '/v1/joins', {
      applicationId: apps.directory,
      externalId: dn,
      identityId: ada,
    });
    expect(second.json()).toMatchObject({ previousIdentityId: grace, joinProvenance: manual });
    const left = await waitFor('the second identity without the account', async () => {
      const found = await identity(grace);
      return found.sources.length === 1 && found.attributes.mail === 'grace@hr.example' ? found : undefined;
    });
    expect(left.attributes).not.toHaveProperty('phone');
    expect(left.sources).toEqual([{ applicationId: apps.hr, externalId: 'E-2' }]);
    const back = await waitFor('the account back on the first identity', async () => {
      const found = await identity(ada);
      return found.attributes.phone === '+33 1 01' ? found : undefined;
    });
    expect(back.attributes.mail).toBe('ada@corp.example');
    expect(back.repositoryObjects).toEqual(
      expect.arrayContaining([expect.objectContaining({ externalId: dn, joinProvenance: manual })]),
    );
    expect(await hardJoin(apps.directory, dn)).toMatchObject({ identity_id: ada });
  });

  it("re-feeds an application's disconnectors on demand, never the excluded ones, and says how many", async () => {
    await fixture.send('imports', [
      importObject(apps.badges, 'badge', 'B-1', { holder: 'nobody' }),
      importObject(apps.badges, 'badge', 'B-2', { holder: 'nobody either' }),
      importObject(apps.badges, 'badge', 'B-3', { holder: 'excluded' }),
    ]);
    await waitFor('three badges unjoined', async () => {
      const rows = await Promise.all(['B-1', 'B-2', 'B-3'].map((id) => objectRow(apps.badges, id)));
      return rows.every((row) => row?.join_state === 'unjoined') ? true : undefined;
    });
    expect(
      (await call('POST', '/v1/joins/unjoin', { applicationId: apps.badges, externalId: 'B-3' })).statusCode,
    ).toBe(200);

    const response = await call('POST', `/v1/applications/${apps.badges}/rejoin`);
    expect(response.statusCode).toBe(202);
    expect(response.json()).toEqual({ applicationId: apps.badges, queued: 2 });
    // Looked at again by the engine (the hash is back), still joining nothing.
    await waitFor('the badges looked at again', async () => {
      const rows = await Promise.all(['B-1', 'B-2'].map((id) => objectRow(apps.badges, id)));
      return rows.every((row) => row?.content_hash.length === 64) ? true : undefined;
    });
    expect((await objectRow(apps.badges, 'B-1'))?.join_state).toBe('unjoined');
    expect((await objectRow(apps.badges, 'B-3'))?.join_state).toBe('excluded');

    const unknown = await call('POST', `/v1/applications/${randomUUID()}/rejoin`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json<{ error: { message: string } }>().error.message).toMatch(
      /^application .* not found$/,
    );
  });

  it('looks at the disconnectors again when an identity takes a value the joining rules compare', async () => {
    await fixture.send('imports', [worker('W-800', 'lin@example.com')]);
    const lin = await waitFor(
      'the identity of W-800',
      async () => (await hardJoin(apps.hr, 'W-800'))?.identity_id,
    );
    // The tenant's identities as if created long ago: new identities are no reason for the sweep (every
    // ~5 s here) to re-feed the disconnectors, only the changed value is.
    await query(
      fixture.database.url,
      "update identity set created_at = now() - interval '1 hour' where tenant_id = $1",
      [fixture.tenantId],
    );
    // Her account carries the employee id HR has not recorded yet: it matches nobody.
    const account = 'uid=lin,ou=people';
    await fixture.send('imports', [
      importObject(apps.directory, 'user', account, { employeeID: 'W-801', mail: 'lin@example.com' }),
    ]);
    const unjoined = await waitFor('the account unjoined', async () => {
      const row = await objectRow(apps.directory, account);
      return row?.join_state === 'unjoined' ? row : undefined;
    });
    // HR first records another wrong id: her value of the attribute the rule compares changed, so a sweep
    // looks at the account again (re-fed, it is written anew) — with her identity in the Vault, it still
    // matches nobody, and stays unjoined.
    await fixture.send('imports', [
      importObject(apps.hr, 'worker', 'W-800', {
        WorkerID: 'W-802',
        FirstName: 'Lin',
        Mail: 'lin@example.com',
      }),
    ]);
    const lookedAt = await waitFor(
      'the account looked at again by the sweep after her employee id changed',
      async () => {
        const row = await objectRow(apps.directory, account, unjoined.updated_at);
        return row !== undefined && row.content_hash.length === 64 ? row : undefined;
      },
      20_000,
    );
    expect(lookedAt.join_state).toBe('unjoined');
    expect((await identity(lin)).attributes.employeeId).toBe('W-802');

    // HR corrects her employee id: the identity's employeeId is what the directory's rule compares, so the
    // next sweep re-feeds the directory's disconnectors, and the account joins her — no rejoin asked.
    await fixture.send('imports', [
      importObject(apps.hr, 'worker', 'W-800', {
        WorkerID: 'W-801',
        FirstName: 'Lin',
        Mail: 'lin@example.com',
      }),
    ]);
    await waitFor(
      'the account joined by the sweep after the employee id changed',
      async () => ((await objectRow(apps.directory, account))?.join_state === 'joined' ? true : undefined),
      20_000,
    );
    expect(await hardJoin(apps.directory, account)).toMatchObject({ identity_id: lin });
  });

  it('looks at the disconnectors again when a plan version changes their joining rules', async () => {
    await fixture.send('imports', [
      importObject(apps.hr, 'worker', 'W-700', {
        WorkerID: 'W-700',
        FirstName: 'Grace',
        Mail: 'grace@example.com',
      }),
    ]);
    const grace = await waitFor(
      'the identity of W-700',
      async () => (await hardJoin(apps.hr, 'W-700'))?.identity_id,
    );
    // The tenant's identities as if created long ago: from now on new identities are no reason for the
    // sweep (every ~5 s here) to re-feed the disconnectors, only a change of the rules is.
    await query(
      fixture.database.url,
      "update identity set created_at = now() - interval '1 hour' where tenant_id = $1",
      [fixture.tenantId],
    );
    // Her account carries no employee id the rule can compare: a disconnector.
    const dn = 'uid=grace,ou=people';
    await fixture.send('imports', [importObject(apps.directory, 'user', dn, { mail: 'grace@example.com' })]);
    await waitFor('the account unjoined', async () =>
      (await objectRow(apps.directory, dn))?.join_state === 'unjoined' ? true : undefined,
    );

    // A second rule compares mail: the next sweep re-feeds the directory's disconnectors, and she joins.
    const rules = '    joining: [{ name: employee id, all: [{ source: employeeID, vault: employeeId }] }]';
    expect(planSource).toContain(rules);
    await applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
      source: planSource.replace(
        rules,
        [
          '    joining:',
          '      - { name: employee id, all: [{ source: employeeID, vault: employeeId }] }',
          '      - { name: mail, all: [{ source: mail, vault: mail }] }',
        ].join('\n'),
      ),
    });
    await waitFor(
      'the account joined by the sweep after the plan change',
      async () => ((await objectRow(apps.directory, dn))?.join_state === 'joined' ? true : undefined),
      20_000,
    );
    expect(await hardJoin(apps.directory, dn)).toMatchObject({ identity_id: grace });
  });

  async function serviceAccountId(): Promise<string> {
    const rows = await query<{ id: string }>(
      fixture.database.url,
      'select id from service_account where tenant_id = $1',
      [fixture.tenantId],
    );
    return rows[0]?.id ?? '';
  }
});
