// Groups as first-class objects, end to end on the real Kafka broker and PostgreSQL: a directory's group
// becomes a Vault group whose members are identities, and a target application that receives groups gets
// the group with its members there, then only the membership differences.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage } from '../../streams/cloudevents.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { claimExports, recordExportResult } from '../../src/engine/export-queue.ts';
import { buildApp, type App } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { PlanInvalidError } from '../../kernel/errors.ts';
import { silentLogger } from '../support/factories.ts';
import {
  exportQueue,
  createStreamsFixture,
  query,
  startTestEngine,
  type StreamsFixture,
  waitFor,
} from '../support/streams.ts';
import { waitUntilSettled } from '../support/settled.ts';

describe('groups (real Kafka and PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let app: App;

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    engine = await startTestEngine(fixture);
    app = await buildApp({ orm: fixture.orm, readiness: createReadiness({}), logger: silentLogger });
  });
  afterAll(async () => {
    await app.close();
    await engine.stop();
    await fixture.close();
  });

  /** HR (authoritative), a directory with users, contacts and groups, and a SaaS target receiving its groups. */
  function planText(
    suffix: string,
    directoryGroup = '{ kind: group, members: member, attributes: { cn: {}, member: { multiValued: true } } }',
    saas = { mode: 'live', displayName: '"Team " + group.cn' },
  ) {
    return [
      'version: 1',
      'vault:',
      '  attributes: { employeeId: {}, givenName: {} }',
      'applications:',
      `  - name: hr-${suffix}`,
      '    type: csv',
      '    createsIdentities: true',
      '    objectClasses:',
      '      worker: { attributes: { WorkerID: {}, FirstName: {} } }',
      '    inbound:',
      '      - { vault: employeeId, from: WorkerID, authority: 100 }',
      '      - { vault: givenName, from: FirstName, authority: 100 }',
      `  - name: directory-${suffix}`,
      '    type: ldap',
      '    objectClasses:',
      '      user: { attributes: { employeeNumber: {}, dn: {} } }',
      '      contact: { kind: contact, attributes: { employeeNumber: {}, dn: {} } }',
      `      group: ${directoryGroup}`,
      '    joining: [{ name: employee number, all: [{ source: employeeNumber, vault: employeeId }] }]',
      `  - name: saas-${suffix}`,
      '    type: scim',
      `    mode: ${saas.mode}`,
      '    objectClasses:',
      '      User: { attributes: { userName: {} } }',
      '      Group: { kind: group, members: members, attributes: { displayName: { direction: out }, members: { multiValued: true, direction: out } } }',
      '    joining: [{ name: user name, all: [{ source: userName, vault: employeeId }] }]',
      '    export:',
      '      groups:',
      '        objectClass: Group',
      `        from: [directory-${suffix}]`,
      `        attributes: { displayName: '${saas.displayName}' }`,
    ].join('\n');
  }

  async function applyTestPlan(suffix: string, saas?: Parameters<typeof planText>[2]) {
    const applied = await applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      source: planText(suffix, undefined, saas),
      sourceName: 'plan.yaml',
      appliedBy: 'test',
    });
    const ids = applied.applications.map((a) => a.id);
    return { hr: ids[0] ?? '', directory: ids[1] ?? '', saas: ids[2] ?? '' };
  }

  const importObject = (
    applicationId: string,
    objectClass: string,
    externalId: string,
    attributes: Record<string, string | string[]> | undefined,
  ) => {
    const at = new Date().toISOString();
    const data: MessageData<'joinery.import.object.v1'> = {
      tenantId: fixture.tenantId,
      applicationId,
      objectClass,
      externalId,
      operation: attributes === undefined ? 'delete' : 'upsert',
      ...(attributes === undefined ? {} : { attributes }),
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
  };
  const dnOf = (person: string) => `uid=${person},ou=people,dc=example,dc=org`;

  /** People in HR, the directory and (unless told otherwise) the SaaS application, joined to their identities. */
  async function people(
    apps: { hr: string; directory: string; saas: string },
    names: string[],
    { inSaas = true } = {},
  ) {
    await fixture.send(
      'imports',
      names.map((name) => importObject(apps.hr, 'worker', `hr-${name}`, { WorkerID: name, FirstName: name })),
    );
    await waitFor('the identities', async () => {
      const rows = await query(
        fixture.database.url,
        `select id from identity where tenant_id = $1 and snapshot->'context'->'attributes'->>'employeeId' = any($2)`,
        [fixture.tenantId, names],
      );
      return rows.length === names.length || undefined;
    });
    await fixture.send('imports', [
      ...names.map((name) =>
        importObject(apps.directory, 'user', `dir-${name}`, { employeeNumber: name, dn: dnOf(name) }),
      ),
      ...(inSaas
        ? names.map((name) => importObject(apps.saas, 'User', `saas-${name}`, { userName: name }))
        : []),
    ]);
    await waitFor('the joins', async () => {
      const rows = await query(
        fixture.database.url,
        `select 1 from repository_object where tenant_id = $1 and join_state = 'joined'
           and external_id = any($2)`,
        [fixture.tenantId, names.flatMap((name) => [`dir-${name}`, ...(inSaas ? [`saas-${name}`] : [])])],
      );
      return rows.length === names.length * (inSaas ? 2 : 1) || undefined;
    });
    return identitiesOf(names);
  }
  const identitiesOf = async (names: string[]) => {
    const rows = await query<{ id: string; employee_id: string }>(
      fixture.database.url,
      `select id, snapshot->'context'->'attributes'->>'employeeId' as employee_id from identity
       where tenant_id = $1 and snapshot->'context'->'attributes'->>'employeeId' = any($2)`,
      [fixture.tenantId, names],
    );
    return new Map(rows.map((row) => [row.employee_id, row.id]));
  };

  const groupExports = (applicationId: string, groupId: string) =>
    exportQueue(fixture, applicationId, groupId);
  /** The group's exports in the application, once there are exactly `count`. */
  const groupExportsOnce = (applicationId: string, groupId: string, count: number, what: string) =>
    waitFor(what, async () => {
      const rows = await groupExports(applicationId, groupId);
      return rows.length === count ? rows : undefined;
    });
  /** The connector takes the application's queue and reports the create a success, with its anchor. */
  const createSucceeded = async (applicationId: string, exportId: string, externalId: string) => {
    const claimed = await claimExports(fixture.orm.em.fork(), {
      tenantId: fixture.tenantId,
      applicationIds: [applicationId],
      limit: 10,
      leaseMs: 60_000,
    });
    expect(claimed.map((item) => item.exportId)).toContain(exportId);
    await recordExportResult(fixture.orm.em.fork(), {
      tenantId: fixture.tenantId,
      exportId,
      result: { status: 'succeeded', externalId },
      logstream: { topic: fixture.topic('logstream'), source: '/tests', actor: { kind: 'connector' } },
    });
  };
  const vaultGroup = async (applicationId: string, externalId: string) => {
    const [row] = await query<{ id: string }>(
      fixture.database.url,
      `select id from vault_group where tenant_id = $1 and application_id = $2 and external_id = $3`,
      [fixture.tenantId, applicationId, externalId],
    );
    return row?.id;
  };
  const get = async (url: string) => {
    const response = await app.inject({
      method: 'GET',
      url,
      headers: { authorization: `Bearer ${fixture.apiKey}` },
    });
    return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
  };

  it('imports a group with its members as identities, exports it, then only the member removed', async () => {
    const suffix = randomUUID().slice(0, 8);
    const apps = await applyTestPlan(suffix);
    const [ada, bob, cy] = [`ada-${suffix}`, `bob-${suffix}`, `cy-${suffix}`];
    const identities = await people(apps, [ada, bob, cy]);

    // Members named by DN, one in another case than the directory's own.
    const group = (members: string[]) =>
      importObject(apps.directory, 'group', `grp-${suffix}`, { cn: `eng-${suffix}`, member: members });
    await fixture.send('imports', [group([dnOf(ada), dnOf(bob).toUpperCase(), dnOf(cy)])]);
    const groupId = await waitFor('the Vault group', () => vaultGroup(apps.directory, `grp-${suffix}`));
    const created = await waitFor(
      'the group create',
      async () => (await groupExports(apps.saas, groupId))[0],
    );
    expect(created).toMatchObject({
      object_class: 'Group',
      operation: 'create',
      status: 'pending',
      external_id: null,
      attributes: { displayName: `Team eng-${suffix}` },
      members: { add: [`saas-${ada}`, `saas-${bob}`, `saas-${cy}`], remove: [] },
    });

    const detail = await get(`/v1/groups/${groupId}`);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({
      id: groupId,
      name: `eng-${suffix}`,
      source: { applicationId: apps.directory, externalId: `grp-${suffix}`, objectClass: 'group' },
      members: [identities.get(ada), identities.get(bob), identities.get(cy)].sort(),
      unresolved: [],
      exportedTo: [{ applicationId: apps.saas, state: 'provisioned', externalId: null }],
    });
    // The group objects never became identities.
    expect(await query(fixture.database.url, `select 1 from identity where id = $1`, [groupId])).toHaveLength(
      0,
    );
    const search = await get(`/v1/groups?name=ENG-${suffix}`);
    expect(search.body).toEqual({ items: [expect.objectContaining({ id: groupId })], nextCursor: null });
    expect((await get(`/v1/groups?name=nothing-${suffix}`)).body).toEqual({ items: [], nextCursor: null });

    // The connector creates the group; then one member leaves it in the directory.
    await createSucceeded(apps.saas, created.export_id, `saas-group-${suffix}`);
    await fixture.send('imports', [group([dnOf(ada), dnOf(bob)])]);
    await waitFor(
      'the membership update',
      async () => (await groupExports(apps.saas, groupId)).length === 2 || undefined,
    );
    // The same group again, and the created group coming back in the target's import: nothing more.
    await fixture.send('imports', [
      group([dnOf(ada), dnOf(bob)]),
      importObject(apps.saas, 'Group', `saas-group-${suffix}`, {
        displayName: `Team eng-${suffix}`,
        members: [`saas-${ada}`, `saas-${bob}`],
      }),
    ]);
    await waitUntilSettled(fixture);
    const exports = await groupExports(apps.saas, groupId);
    expect(exports).toHaveLength(2);
    expect(exports[1]).toMatchObject({
      operation: 'update',
      external_id: `saas-group-${suffix}`,
      attributes: null,
      members: { add: [], remove: [`saas-${cy}`] },
    });
    expect(await vaultGroup(apps.saas, `saas-group-${suffix}`)).toBeUndefined();
    expect((await get(`/v1/groups/${groupId}`)).body).toMatchObject({
      members: [identities.get(ada), identities.get(bob)].sort(),
    });

    // The group's story in the audit history, found by its id: imported with its members, its create
    // queued and delivered, a member leaving it in the directory, and that removal queued for the target.
    const history = await waitFor('the group in the audit history', async () => {
      const { body } = await get(`/v1/audit?groupId=${groupId}&limit=50`);
      const items = body.items as Record<string, unknown>[];
      return items.some((event) => event.stage === 'outbound' && /^group update/.test(String(event.message)))
        ? items.reverse()
        : undefined;
    });
    expect(history.every((event) => event.groupId === groupId && event.identityId === undefined)).toBe(true);
    expect(history.map((event) => [event.stage, event.outcome, event.message])).toEqual([
      ['import', 'succeeded', `group eng-${suffix} created in the Vault with 3 member(s)`],
      [
        'outbound',
        'succeeded',
        expect.stringMatching(/^group create of a new Group queued .*\(3 member\(s\) added, 0 removed\)$/),
      ],
      [
        'export',
        'succeeded',
        expect.stringMatching(new RegExp(`^create of saas-group-${suffix} .* succeeded$`)),
      ],
      ['import', 'succeeded', `group eng-${suffix} changed: 0 member(s) added, 1 removed`],
      [
        'outbound',
        'succeeded',
        expect.stringMatching(/^group update of saas-group-.* queued .*\(0 member\(s\) added, 1 removed\)$/),
      ],
    ]);
    expect(history[0]?.changes).toEqual([
      { attribute: 'members.added', new: [dnOf(ada), dnOf(bob).toUpperCase(), dnOf(cy)].sort() },
    ]);
    expect(history[3]?.changes).toEqual([{ attribute: 'members.removed', old: [dnOf(cy)] }]);
    expect(history[4]?.changes).toEqual([{ attribute: 'members.removed', old: [`saas-${cy}`] }]);

    // A contact follows the user path: it joins its person's identity and is no group.
    await fixture.send('imports', [
      importObject(apps.directory, 'contact', `contact-${ada}`, {
        employeeNumber: ada,
        dn: `cn=${ada},ou=contacts`,
      }),
    ]);
    const [contact] = await waitFor('the contact join', async () => {
      const rows = await query<{ join_state: string; identity_id: string }>(
        fixture.database.url,
        `select join_state, identity_id from repository_object where tenant_id = $1 and external_id = $2
           and join_state is not null`,
        [fixture.tenantId, `contact-${ada}`],
      );
      return rows.length === 1 ? rows : undefined;
    });
    expect(contact).toEqual({ join_state: 'joined', identity_id: identities.get(ada) });
    expect(await vaultGroup(apps.directory, `contact-${ada}`)).toBeUndefined();
  });

  it('resolves the members of a group imported before they joined, once they join', async () => {
    const suffix = randomUUID().slice(0, 8);
    const apps = await applyTestPlan(suffix);
    const [dee, eve] = [`dee-${suffix}`, `eve-${suffix}`];
    await fixture.send('imports', [
      importObject(apps.directory, 'group', `late-${suffix}`, {
        cn: `late-${suffix}`,
        member: [dnOf(dee), dnOf(eve)],
      }),
    ]);
    const groupId = await waitFor('the Vault group', () => vaultGroup(apps.directory, `late-${suffix}`));
    const [create] = await groupExportsOnce(apps.saas, groupId, 1, 'the group create');
    expect(create).toMatchObject({ operation: 'create', members: { add: [], remove: [] } });
    expect((await get(`/v1/groups/${groupId}`)).body).toMatchObject({
      members: [],
      unresolved: [dnOf(dee), dnOf(eve)].sort(),
    });

    const identities = await people(apps, [dee, eve]);
    await waitFor('the members resolved', async () => {
      const body = (await get(`/v1/groups/${groupId}`)).body;
      return (body.members as string[]).length === 2 || undefined;
    });
    expect((await get(`/v1/groups/${groupId}`)).body).toMatchObject({
      members: [identities.get(dee), identities.get(eve)].sort(),
      unresolved: [],
    });
    // Their objects in the SaaS application are added to the group there, each once, none removed.
    const added = await waitFor('the members added', async () => {
      const rows = await groupExports(apps.saas, groupId);
      const adds = rows.slice(1).flatMap((row) => row.members?.add ?? []);
      return adds.length === 2 ? rows.slice(1) : undefined;
    });
    expect(added.every((row) => row.operation === 'update' && row.members?.remove.length === 0)).toBe(true);
    expect(added.flatMap((row) => row.members?.add ?? []).sort()).toEqual([`saas-${dee}`, `saas-${eve}`]);
  });

  it('adds a member once it has its object in the target, removes one deleted in the source, deletes the group with its source', async () => {
    const suffix = randomUUID().slice(0, 8);
    const apps = await applyTestPlan(suffix);
    const [fay, gus, hal] = [`fay-${suffix}`, `gus-${suffix}`, `hal-${suffix}`];
    await people(apps, [fay, gus]);
    await people(apps, [hal], { inSaas: false });
    const group = importObject(apps.directory, 'group', `ops-${suffix}`, {
      cn: `ops-${suffix}`,
      member: [dnOf(fay), dnOf(gus), dnOf(hal)],
    });
    await fixture.send('imports', [group]);
    const groupId = await waitFor('the Vault group', () => vaultGroup(apps.directory, `ops-${suffix}`));
    const [created] = await groupExportsOnce(apps.saas, groupId, 1, 'the group create');
    // hal has no object in the SaaS application yet: the group there has the other two.
    expect(created?.members).toEqual({ add: [`saas-${fay}`, `saas-${gus}`], remove: [] });
    await createSucceeded(apps.saas, created?.export_id ?? '', `saas-ops-${suffix}`);

    const exportsAfter = async (count: number, what: string) =>
      waitFor(what, async () => {
        const rows = await groupExports(apps.saas, groupId);
        return rows.length >= count ? rows : undefined;
      });
    await fixture.send('imports', [importObject(apps.saas, 'User', `saas-${hal}`, { userName: hal })]);
    const afterJoin = await exportsAfter(2, "hal's object joined in the SaaS application");
    expect(afterJoin.slice(1)).toEqual([
      expect.objectContaining({
        operation: 'update',
        external_id: `saas-ops-${suffix}`,
        attributes: null,
        members: { add: [`saas-${hal}`], remove: [] },
      }),
    ]);

    await fixture.send('imports', [importObject(apps.directory, 'user', `dir-${gus}`, undefined)]);
    const afterDelete = await exportsAfter(3, "gus's directory object deleted");
    expect(afterDelete.slice(2)).toEqual([
      expect.objectContaining({ operation: 'update', members: { add: [], remove: [`saas-${gus}`] } }),
    ]);
    expect((await get(`/v1/groups/${groupId}`)).body).toMatchObject({ unresolved: [dnOf(gus)] });

    await fixture.send('imports', [importObject(apps.directory, 'group', `ops-${suffix}`, undefined)]);
    const afterGroupDelete = await exportsAfter(4, 'the group deleted in the directory');
    expect(afterGroupDelete.slice(3)).toEqual([
      expect.objectContaining({ operation: 'delete', external_id: `saas-ops-${suffix}` }),
    ]);
    await waitUntilSettled(fixture);
    expect(await groupExports(apps.saas, groupId)).toHaveLength(4);
    expect((await get(`/v1/groups/${groupId}`)).body).toMatchObject({
      deleted: true,
      exportedTo: [{ applicationId: apps.saas, state: 'deprovisioned' }],
    });
  });

  it('exports the groups already in the Vault when a plan version takes their target out of sandbox, or maps them anew', async () => {
    const suffix = randomUUID().slice(0, 8);
    const sandboxed = { mode: 'sandbox', displayName: '"Team " + group.cn' };
    const apps = await applyTestPlan(suffix, sandboxed);
    const [ivy, jon] = [`ivy-${suffix}`, `jon-${suffix}`];
    await people(apps, [ivy, jon]);
    await fixture.send('imports', [
      importObject(apps.directory, 'group', `dev-${suffix}`, {
        cn: `dev-${suffix}`,
        member: [dnOf(ivy), dnOf(jon)],
      }),
    ]);
    const groupId = await waitFor('the Vault group', () => vaultGroup(apps.directory, `dev-${suffix}`));
    const [report] = await groupExportsOnce(apps.saas, groupId, 1, 'the sandbox report');
    expect(report).toMatchObject({ operation: 'create', status: 'sandbox' });

    // Live: the report left nothing, so the group is created for real, by the reconciliation alone.
    const live = await applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      source: planText(suffix, undefined, { ...sandboxed, mode: 'live' }),
      sourceName: 'plan.yaml',
      appliedBy: 'test',
    });
    expect(live.reconciles).toBe(true);
    const [, created] = await groupExportsOnce(apps.saas, groupId, 2, 'the group created once live');
    expect(created).toMatchObject({
      operation: 'create',
      status: 'pending',
      attributes: { displayName: `Team dev-${suffix}` },
      members: { add: [`saas-${ivy}`, `saas-${jon}`], remove: [] },
    });
    await waitFor('the reconciliation complete', async () => {
      const status = await get('/v1/plan/reconciliation');
      return status.body.completedAt !== null && (status.body.groups as number) >= 1 ? status : undefined;
    });
    await createSucceeded(apps.saas, created?.export_id ?? '', `saas-dev-${suffix}`);

    // A new mapping of the group's attributes reaches the group without any change in the directory.
    await applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      source: planText(suffix, undefined, { mode: 'live', displayName: '"Group " + group.cn' }),
      sourceName: 'plan.yaml',
      appliedBy: 'test',
    });
    const [, , renamed] = await groupExportsOnce(apps.saas, groupId, 3, 'the group renamed');
    expect(renamed).toMatchObject({
      operation: 'update',
      external_id: `saas-dev-${suffix}`,
      attributes: { displayName: `Group dev-${suffix}` },
      members: null,
    });
  });

  it('rejects a plan whose group class names an undeclared members attribute, naming the path', async () => {
    const suffix = randomUUID().slice(0, 8);
    const attempt = applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      source: planText(suffix, '{ kind: group, members: uniqueMember, attributes: { cn: {} } }'),
      sourceName: 'plan.yaml',
      appliedBy: 'test',
    });
    await expect(attempt).rejects.toBeInstanceOf(PlanInvalidError);
    const error = (await attempt.catch((caught: unknown) => caught)) as PlanInvalidError;
    expect(error.problems.map(({ path, message }) => ({ path, message }))).toEqual([
      {
        path: 'applications[1].objectClasses.group.members',
        message: 'unknown attribute "uniqueMember" of object class group (known: cn)',
      },
    ]);
    expect(error.message).toContain('applications[1].objectClasses.group.members');
  });
});
