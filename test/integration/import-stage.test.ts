// The Import stage on the real Kafka broker and on the embedded bus, with a real PostgreSQL.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage, type Envelope } from '../../streams/cloudevents.ts';
import { createImportStage, type ImportOutcome } from '../../src/engine/import-stage.ts';
import { startEngine, type Engine } from '../../src/runtime/engine-runtime.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { reconciliationStatus } from '../../src/engine/plan-reconciliation.ts';
import { buildApp } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { silentLogger } from '../support/factories.ts';
import {
  createStreamsFixture,
  header,
  query,
  readTopic,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';
import { waitUntilSettled } from '../support/settled.ts';

describe.each(['kafka', 'embedded'] as const)('Import stage on %s (real PostgreSQL)', (busKind) => {
  let fixture: StreamsFixture;
  let engine: Engine;

  beforeAll(async () => {
    fixture = await createStreamsFixture({ bus: busKind });
    engine = await startEngine({
      bus: fixture.bus,
      orm: fixture.orm,
      logger: silentLogger,
      settings: {
        groupId: fixture.groupId,
        actorCacheSize: 100,
        maxBatchSize: 500,
        sessionTimeoutMs: 6000,
        topics: fixture.topics,
      },
    });
  });
  afterAll(async () => {
    await engine.stop();
    await fixture.close();
  });

  const at = () => new Date().toISOString();
  const object = (
    applicationId: string,
    runId: string | undefined,
    externalId: string,
    attributes: Record<string, unknown>,
  ) => {
    const data: MessageData<'joinery.import.object.v1'> = {
      tenantId: fixture.tenantId,
      applicationId,
      objectClass: 'user',
      externalId,
      operation: 'upsert',
      attributes: attributes as MessageData<'joinery.import.object.v1'>['attributes'],
      observedAt: at(),
      ...(runId === undefined ? {} : { runId }),
    };
    return encodeMessage({
      id: randomUUID(),
      type: 'joinery.import.object.v1',
      source: '/tests',
      time: at(),
      tenantId: fixture.tenantId,
      data,
    });
  };
  const marker = (
    applicationId: string,
    runId: string,
    phase: 'started' | 'completed' | 'aborted',
    objectCount?: number,
  ) =>
    encodeMessage({
      id: randomUUID(),
      type: 'joinery.import.run.v1',
      source: '/tests',
      time: at(),
      tenantId: fixture.tenantId,
      data: {
        tenantId: fixture.tenantId,
        applicationId,
        runId,
        kind: 'full',
        phase,
        at: at(),
        ...(objectCount === undefined ? {} : { objectCount }),
      },
    });
  const objects = async (applicationId: string) =>
    query<{ external_id: string; deleted: boolean; attributes: Record<string, unknown>; updated_at: Date }>(
      fixture.database.url,
      'select external_id, deleted, attributes, updated_at from repository_object where application_id = $1 order by external_id',
      [applicationId],
    );
  const runStatus = (runId: string) =>
    waitFor(`run ${runId} to complete`, async () => {
      const [row] = await query<{ status: string; deletions: number; seen: number }>(
        fixture.database.url,
        'select status, deletions, seen from import_run where run_id = $1',
        [runId],
      );
      return row?.status === 'completed' || row?.status === 'aborted' ? row : undefined;
    });

  /** The run's row once its completion marker is recorded (the transaction that recorded it has committed). */
  const runMarked = (runId: string) =>
    waitFor(`the completion marker of run ${runId}`, async () => {
      const [row] = await query<{ status: string; seen: number; object_count: number; deletions: number }>(
        fixture.database.url,
        'select status, seen, object_count, deletions from import_run where run_id = $1',
        [runId],
      );
      return row?.status === 'completing' || row?.status === 'completed' ? row : undefined;
    });

  it('records objects with multi-valued and binary attributes, stops unchanged ones at the hash, and deletes what a completed full run did not see', async () => {
    const app = randomUUID();
    const first = randomUUID();
    await fixture.send('imports', [
      marker(app, first, 'started'),
      object(app, first, 'a', {
        mail: 'a@example.com',
        proxyAddresses: ['smtp:a@x', 'smtp:a@y'],
        objectGUID: 'Dk3n0m6QwU2l3p9B2x1yzA==',
      }),
      object(app, first, 'b', { mail: 'b@example.com' }),
      object(app, first, 'c', { mail: 'c@example.com' }),
      marker(app, first, 'completed', 3),
    ]);
    expect(await runStatus(first)).toMatchObject({ status: 'completed', deletions: 0, seen: 3 });
    const before = await objects(app);
    expect(before.map((o) => o.external_id)).toEqual(['a', 'b', 'c']);
    expect(before[0]?.attributes).toEqual({
      mail: 'a@example.com',
      proxyAddresses: ['smtp:a@x', 'smtp:a@y'],
      objectGUID: 'Dk3n0m6QwU2l3p9B2x1yzA==',
    });

    const second = randomUUID();
    await fixture.send('imports', [
      marker(app, second, 'started'),
      // Same content, keys in another order: unchanged.
      object(app, second, 'a', {
        objectGUID: 'Dk3n0m6QwU2l3p9B2x1yzA==',
        proxyAddresses: ['smtp:a@x', 'smtp:a@y'],
        mail: 'a@example.com',
      }),
      object(app, second, 'b', { mail: 'b.new@example.com' }),
      marker(app, second, 'completed', 2),
    ]);
    expect(await runStatus(second)).toMatchObject({ status: 'completed', deletions: 1 });
    const after = await objects(app);
    expect(after.map((o) => [o.external_id, o.deleted])).toEqual([
      ['a', false],
      ['b', false],
      ['c', true],
    ]);
    expect(after[0]?.updated_at).toEqual(before[0]?.updated_at);
    expect(after[1]?.attributes).toEqual({ mail: 'b.new@example.com' });
  });

  it("never deletes after an aborted run, and waits for a run's late objects before deleting", async () => {
    const app = randomUUID();
    const first = randomUUID();
    await fixture.send('imports', [
      object(app, first, 'x', {}),
      object(app, first, 'y', {}),
      marker(app, first, 'completed', 2),
    ]);
    await runStatus(first);

    const aborted = randomUUID();
    await fixture.send('imports', [object(app, aborted, 'x', {}), marker(app, aborted, 'aborted')]);
    expect(await runStatus(aborted)).toMatchObject({ status: 'aborted', deletions: 0 });
    expect((await objects(app)).every((o) => !o.deleted)).toBe(true);

    // The completion marker first: the run completes (and deletes y) only once its object x is recorded.
    // The marker recorded (the run waiting for its object) is the transaction that would have deleted.
    const late = randomUUID();
    await fixture.send('imports', [marker(app, late, 'completed', 1)]);
    expect(await runMarked(late)).toMatchObject({
      status: 'completing',
      seen: 0,
      object_count: 1,
      deletions: 0,
    });
    expect((await objects(app)).every((o) => !o.deleted)).toBe(true);
    await fixture.send('imports', [object(app, late, 'x', {})]);
    expect(await runStatus(late)).toMatchObject({ status: 'completed', deletions: 1 });
    expect((await objects(app)).map((o) => [o.external_id, o.deleted])).toEqual([
      ['x', false],
      ['y', true],
    ]);
  });

  it('records a full run on an object another transaction held as the run went by: nothing it saw is deleted', async () => {
    const app = randomUUID();
    const first = randomUUID();
    await fixture.send('imports', [
      marker(app, first, 'started'),
      object(app, first, 'held', { mail: 'held@example.com' }),
      object(app, first, 'free', { mail: 'free@example.com' }),
      marker(app, first, 'completed', 2),
    ]);
    await runStatus(first);
    // As an administrator's join does: the object locked, its hash reset (to be looked at again), while the
    // next full run, with the same content, is imported.
    const holder = new pg.Client({ connectionString: fixture.database.url });
    await holder.connect();
    const second = randomUUID();
    try {
      await holder.query('begin');
      await holder.query(
        "update repository_object set content_hash = '' where application_id = $1 and external_id = 'held'",
        [app],
      );
      await fixture.send('imports', [
        marker(app, second, 'started'),
        object(app, second, 'held', { mail: 'held@example.com' }),
        object(app, second, 'free', { mail: 'free@example.com' }),
        marker(app, second, 'completed', 2),
      ]);
      await waitFor('the import batch waiting for the held object', async () => {
        const [row] = await query<{ n: string }>(
          fixture.database.url,
          "select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()",
        );
        return Number(row?.n) > 0 ? true : undefined;
      });
      await holder.query('commit');
    } finally {
      await holder.end();
    }
    expect(await runStatus(second)).toMatchObject({ status: 'completed', deletions: 0 });
    expect((await objects(app)).map((row) => [row.external_id, row.deleted])).toEqual([
      ['free', false],
      ['held', false],
    ]);
  });

  it('applies a re-fed object only while it waits to be looked at again: an import that got there first is never undone', async () => {
    const app = randomUUID();
    const outcomes: ImportOutcome[] = [];
    const stage = createImportStage({ onBatch: (outcome) => outcomes.push(outcome) });
    const envelope = (title: string, refeed = false): Envelope<'joinery.import.object.v1'> => ({
      id: randomUUID(),
      type: 'joinery.import.object.v1',
      source: '/tests',
      time: at(),
      tenantId: fixture.tenantId,
      data: {
        tenantId: fixture.tenantId,
        applicationId: app,
        objectClass: 'user',
        externalId: 'x',
        operation: 'upsert',
        attributes: { title },
        observedAt: at(),
        ...(refeed ? { refeed } : {}),
      },
    });
    const handle = async (message: Envelope<'joinery.import.object.v1'>) => {
      await fixture.orm.em.fork().transactional((tx) =>
        stage(tx, [
          {
            envelope: message,
            message: {
              topic: 'imports',
              topicName: 'imports',
              partition: 0,
              offset: '0',
              key: null,
              value: null,
            },
          },
        ]),
      );
      return outcomes.at(-1);
    };
    const resetHash = () =>
      query(
        fixture.database.url,
        "update repository_object set content_hash = '' where application_id = $1",
        [app],
      );
    await handle(envelope('Engineer'));
    // The sweep looks at the object again: its hash reset, a copy of what it holds now on its way.
    await resetHash();
    const refed = envelope('Engineer', true);
    // An import of a newer version is handled first; the re-fed copy, older, is then skipped.
    expect(await handle(envelope('Principal Engineer'))).toMatchObject({ changed: 1 });
    expect(await handle(refed)).toMatchObject({ changed: 0, unchanged: 1 });
    expect((await objects(app)).map((row) => row.attributes)).toEqual([{ title: 'Principal Engineer' }]);
    // Still waiting when its copy arrives: it is looked at again (and its hash restored).
    await resetHash();
    expect(await handle(envelope('Principal Engineer', true))).toMatchObject({ changed: 1 });
    const [row] = await query<{ content_hash: string }>(
      fixture.database.url,
      'select content_hash from repository_object where application_id = $1',
      [app],
    );
    expect(row?.content_hash).toHaveLength(64);
  });

  it('projects identities from an application that creates them, maps attributes with the plan, and updates only on a real change', async () => {
    const plan = [
      'version: 1',
      'vault:',
      '  attributes:',
      '    employeeId: {}',
      '    displayName: {}',
      '    level: { type: int }',
      'applications:',
      `  - name: hr-${randomUUID().slice(0, 8)}`,
      '    type: csv',
      '    createsIdentities: true',
      '    objectClasses:',
      '      worker:',
      '        attributes: { WorkerID: {}, FirstName: {}, LastName: {}, Grade: { type: int } }',
      '    inbound:',
      '      - { vault: employeeId, from: WorkerID }',
      '      - { vault: displayName, expression: \'source.FirstName + " " + source.LastName\' }',
      '      - { vault: level, expression: "source.Grade + 1" }',
      'classifications:',
      '  - { value: 1, name: ada, when: \'identity.displayName.contains("Ada")\' }',
      '  - { value: 0, name: others, when: "true" }',
    ].join('\n');
    const applied = await applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      source: plan,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
    });
    const hr = applied.applications[0]?.id ?? '';
    const worker = (id: string, first: string) =>
      object(hr, undefined, id, { WorkerID: id, FirstName: first, LastName: 'Lovelace', Grade: 6 });
    await fixture.send('imports', [worker('W1', 'Ada'), worker('W2', 'Augusta')]);

    const identities = () =>
      query<{ employee_id: string; display_name: string; version: number; classification: number }>(
        fixture.database.url,
        `select snapshot->'context'->'attributes'->>'employeeId' as employee_id,
                snapshot->'context'->'attributes'->>'displayName' as display_name, version,
                (snapshot->'context'->>'classification')::int as classification
         from identity where tenant_id = $1 and snapshot->'context'->'attributes' ? 'employeeId' order by 1`,
        [fixture.tenantId],
      );
    await waitFor('two projected identities', async () =>
      (await identities()).length === 2 ? true : undefined,
    );
    expect((await identities()).map((i) => [i.employee_id, i.display_name])).toEqual([
      ['W1', 'Ada Lovelace'],
      ['W2', 'Augusta Lovelace'],
    ]);
    expect((await identities()).map((i) => i.classification)).toEqual([1, 0]);
    // An int attribute reaches CEL as an int: Grade 6 → level 7.
    const [level] = await query<{ level: number }>(
      fixture.database.url,
      `select (snapshot->'context'->'attributes'->>'level')::int as level from identity
       where tenant_id = $1 and snapshot->'context'->'attributes'->>'employeeId' = 'W1'`,
      [fixture.tenantId],
    );
    expect(level?.level).toBe(7);

    // The plan, the tenant's first, looks at the identities created up to a second after it was applied:
    // W1 and W2 may be among them. Their versions are compared once that is done, and everything settled.
    await waitFor('the plan reconciliation complete', async () => {
      const status = await reconciliationStatus(fixture.orm.em, fixture.tenantId);
      return status?.completedAt != null || undefined;
    });
    await waitUntilSettled(fixture);
    const before = await identities();

    // W1 unchanged (stops at the hash), W2 renamed; a replay never projects a second identity.
    await fixture.send('imports', [worker('W1', 'Ada'), worker('W2', 'Augusta Ada')]);
    await waitFor('the rename', async () =>
      (await identities()).some((i) => i.display_name === 'Augusta Ada Lovelace') ? true : undefined,
    );
    // W1's message is on another partition than W2's: the rename says nothing about it.
    await waitUntilSettled(fixture);
    const after = await identities();
    expect(after).toHaveLength(2);
    expect(after.find((i) => i.employee_id === 'W1')?.version).toBe(
      before.find((i) => i.employee_id === 'W1')?.version,
    );
    // Classified at inbound from the merged attributes, and reclassified by a later import.
    expect(after.map((i) => [i.employee_id, i.classification])).toEqual([
      ['W1', 1],
      ['W2', 1],
    ]);
  });

  it('takes every object of a full import through changed inbound mappers, and stops them at the hash otherwise', async () => {
    const name = `payroll-${randomUUID().slice(0, 8)}`;
    const planWith = (displayName: string) =>
      [
        'version: 1',
        'vault:',
        '  attributes: { employeeId: {}, displayName: {}, level: { type: int } }',
        'applications:',
        `  - name: ${name}`,
        '    type: csv',
        '    createsIdentities: true',
        '    objectClasses:',
        '      worker: { attributes: { WorkerID: {}, FirstName: {}, LastName: {} } }',
        '    inbound:',
        '      - { vault: employeeId, from: WorkerID }',
        `      - { vault: displayName, expression: '${displayName}' }`,
      ].join('\n');
    const apply = (source: string) =>
      applyPlan(fixture.orm.em, {
        tenantId: fixture.tenantId,
        source,
        sourceName: 'plan.yaml',
        appliedBy: 'test',
      });
    const payroll =
      (await apply(planWith('source.FirstName + " " + source.LastName'))).applications[0]?.id ?? '';
    const fullRun = async () => {
      const runId = randomUUID();
      await fixture.send('imports', [
        marker(payroll, runId, 'started'),
        object(payroll, runId, 'P1', { WorkerID: 'P1', FirstName: 'Ada', LastName: 'Lovelace' }),
        object(payroll, runId, 'P2', { WorkerID: 'P2', FirstName: 'Alan', LastName: 'Turing' }),
        marker(payroll, runId, 'completed', 2),
      ]);
      await runStatus(runId);
    };
    const names = () =>
      query<{ name: string; version: number }>(
        fixture.database.url,
        `select snapshot->'context'->'attributes'->>'displayName' as name, version from identity
         where tenant_id = $1 and snapshot->'context'->'attributes'->>'employeeId' in ('P1', 'P2') order by 1`,
        [fixture.tenantId],
      );
    await fullRun();
    await waitFor('the two identities', async () => ((await names()).length === 2 ? true : undefined));
    expect((await names()).map((row) => row.name)).toEqual(['Ada Lovelace', 'Alan Turing']);
    const before = await objects(payroll);

    // The same objects under the same plan stop at the hash: the repository does not even move.
    await fullRun();
    expect((await objects(payroll)).map((o) => o.updated_at)).toEqual(before.map((o) => o.updated_at));

    // New inbound mappers: the next full import of the same objects goes through them.
    await apply(planWith('source.LastName + ", " + source.FirstName'));
    await fullRun();
    await waitFor('the names mapped the new way', async () =>
      (await names()).every((row) => row.name.includes(',')) ? true : undefined,
    );
    expect((await names()).map((row) => row.name)).toEqual(['Lovelace, Ada', 'Turing, Alan']);
  });

  it('joins by the first matching rule, holds an ambiguous match with its candidates, leaves a disconnector unjoined, and keeps a hard join when the matched attribute changes', async () => {
    const suffix = randomUUID().slice(0, 8);
    const plan = [
      'version: 1',
      'vault:',
      '  attributes: { employeeId: {}, payrollId: {}, mail: {} }',
      'applications:',
      `  - name: hr-${suffix}`,
      '    type: csv',
      '    createsIdentities: true',
      '    objectClasses: { worker: { attributes: { WorkerID: {}, PayrollID: {} } } }',
      '    inbound: [{ vault: employeeId, from: WorkerID, authority: 100 }, { vault: payrollId, from: PayrollID }]',
      `  - name: ad-${suffix}`,
      '    type: active-directory',
      '    objectClasses: { user: { attributes: { extensionAttribute4: {}, employeeID: {}, mail: {} } } }',
      '    joining:',
      '      - { name: payroll, all: [{ source: extensionAttribute4, vault: payrollId }] }',
      '      - { name: employee id, all: [{ source: employeeID, vault: employeeId }] }',
      '    inbound: [{ vault: mail, from: mail }, { vault: employeeId, from: employeeID, authority: 1 }]',
    ].join('\n');
    const applied = await applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      source: plan,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
    });
    const [hr, ad] = applied.applications.map((a) => a.id);
    const hrWorker = (id: string, payroll: string) =>
      object(hr ?? '', undefined, `${id}-${suffix}`, {
        WorkerID: `${id}-${suffix}`,
        PayrollID: `${payroll}-${suffix}`,
      });
    await fixture.send('imports', [
      hrWorker('W1', 'P1'),
      hrWorker('W2', 'P2'),
      hrWorker('W3', 'PX'),
      hrWorker('W4', 'PX'),
    ]);
    const vault = () =>
      query<{ id: string; employee_id: string; mail: string | null }>(
        fixture.database.url,
        `select id, snapshot->'context'->'attributes'->>'employeeId' as employee_id, snapshot->'context'->'attributes'->>'mail' as mail
         from identity where tenant_id = $1 and snapshot->'context'->'attributes'->>'employeeId' like $2 order by 2`,
        [fixture.tenantId, `%-${suffix}`],
      );
    await waitFor('four HR identities', async () => ((await vault()).length === 4 ? true : undefined));

    const adUser = (id: string, attributes: Record<string, string>) =>
      object(ad ?? '', undefined, id, attributes);
    await fixture.send('imports', [
      adUser('a1', { extensionAttribute4: `P1-${suffix}`, employeeID: 'WRONG', mail: 'w1@example.com' }),
      adUser('a2', { employeeID: `W2-${suffix}`, mail: 'w2@example.com' }),
      adUser('a3', { extensionAttribute4: 'nobody', employeeID: 'nobody', mail: 'x@example.com' }),
      adUser('a4', { extensionAttribute4: `PX-${suffix}`, mail: 'px@example.com' }),
    ]);
    const joins = () =>
      query<{
        external_id: string;
        join_state: string | null;
        identity_id: string | null;
        join_candidates: { rule: string; identityIds: string[] } | null;
      }>(
        fixture.database.url,
        'select external_id, join_state, identity_id, join_candidates from repository_object where application_id = $1 order by external_id',
        [ad],
      );
    await waitFor('the AD objects joined', async () =>
      (await joins()).every((j) => j.join_state !== null) && (await joins()).length === 4 ? true : undefined,
    );
    await waitFor('mail on the joined identities', async () =>
      (await vault()).filter((i) => i.mail !== null).length === 2 ? true : undefined,
    );
    const identities = await vault();
    const byEmployee = new Map(identities.map((i) => [i.employee_id.replace(`-${suffix}`, ''), i]));
    const result = await joins();
    expect(result.map((j) => [j.external_id, j.join_state])).toEqual([
      ['a1', 'joined'],
      ['a2', 'joined'],
      ['a3', 'unjoined'],
      ['a4', 'ambiguous'],
    ]);
    expect(result[0]?.identity_id).toBe(byEmployee.get('W1')?.id);
    expect(result[1]?.identity_id).toBe(byEmployee.get('W2')?.id);
    expect(result[3]?.join_candidates?.rule).toBe('payroll');
    expect(new Set(result[3]?.join_candidates?.identityIds)).toEqual(
      new Set([byEmployee.get('W3')?.id, byEmployee.get('W4')?.id]),
    );
    // AD also maps employeeID, with a lower authority than HR: W1 keeps HR's employee id.
    expect(byEmployee.get('W1')?.mail).toBe('w1@example.com');
    expect([...byEmployee.keys()].sort()).toEqual(['W1', 'W2', 'W3', 'W4']);
    expect(byEmployee.get('W3')?.mail ?? null).toBeNull();

    // The attribute rule 1 matched on changes: the hard join holds, and the identity follows the new mail.
    await fixture.send('imports', [
      adUser('a1', { extensionAttribute4: 'changed', mail: 'w1.new@example.com' }),
    ]);
    await waitFor('the new mail on W1', async () =>
      (await vault()).some((i) => i.mail === 'w1.new@example.com') ? true : undefined,
    );
    expect((await joins())[0]?.identity_id).toBe(byEmployee.get('W1')?.id);

    // The API shows where each attribute came from, and the objects joined to the identity.
    const api = await buildApp({ orm: fixture.orm, readiness: createReadiness({}), logger: silentLogger });
    const w1 = await api.inject({
      method: 'GET',
      url: `/v1/identities/${byEmployee.get('W1')?.id ?? ''}`,
      headers: { authorization: `Bearer ${fixture.apiKey}` },
    });
    expect(w1.statusCode).toBe(200);
    expect(w1.json()).toMatchObject({
      state: 'active',
      attributes: { employeeId: `W1-${suffix}`, mail: 'w1.new@example.com' },
      provenance: {
        employeeId: { applicationId: hr, authority: 100 },
        mail: { applicationId: ad, authority: 0 },
      },
      repositoryObjects: expect.arrayContaining([
        expect.objectContaining({
          applicationId: ad,
          externalId: 'a1',
          joinState: 'joined',
          joinProvenance: 'rule:payroll',
        }),
      ]) as unknown,
    });
    const stranger = await createTenant(fixture.orm.em, { tenant: `stranger-${suffix}` });
    const hidden = await api.inject({
      method: 'GET',
      url: `/v1/identities/${byEmployee.get('W1')?.id ?? ''}`,
      headers: { authorization: `Bearer ${stranger.apiKey}` },
    });
    expect(hidden.statusCode).toBe(404);
    await api.close();
  });

  it('projects exactly one identity when two authoritative objects of one person arrive at the same time', async () => {
    const suffix = randomUUID().slice(0, 8);
    const source = (name: string, idAttribute: string, mapped: string) => [
      `  - name: ${name}-${suffix}`,
      '    type: csv',
      '    createsIdentities: true',
      `    objectClasses: { person: { attributes: { ${idAttribute}: {}, Value: {} } } }`,
      `    joining: [{ name: employee id, all: [{ source: ${idAttribute}, vault: employeeId }] }]`,
      `    inbound: [{ vault: employeeId, from: ${idAttribute} }, { vault: ${mapped}, from: Value }]`,
    ];
    const plan = [
      'version: 1',
      'vault:',
      '  attributes: { employeeId: {}, title: {}, badge: {} }',
      'applications:',
      ...source('hr', 'WorkerID', 'title'),
      ...source('badges', 'EmployeeNo', 'badge'),
    ].join('\n');
    const applied = await applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      source: plan,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
    });
    const [hr = '', badges = ''] = applied.applications.map((a) => a.id);
    const people = Array.from({ length: 20 }, (_, i) => `P${String(i)}-${suffix}`);
    // Different keys, hence different partitions and transactions, sent together.
    await Promise.all([
      fixture.send(
        'imports',
        people.map((id) => object(hr, undefined, `hr-${id}`, { WorkerID: id, Value: 'Engineer' })),
      ),
      fixture.send(
        'imports',
        people.map((id) => object(badges, undefined, `badge-${id}`, { EmployeeNo: id, Value: `B-${id}` })),
      ),
    ]);
    const identities = () =>
      query<{ employee_id: string; title: string | null; badge: string | null }>(
        fixture.database.url,
        `select snapshot->'context'->'attributes'->>'employeeId' as employee_id,
                snapshot->'context'->'attributes'->>'title' as title, snapshot->'context'->'attributes'->>'badge' as badge
         from identity where tenant_id = $1 and snapshot->'context'->'attributes'->>'employeeId' like $2 order by 1`,
        [fixture.tenantId, `%-${suffix}`],
      );
    await waitFor('both sources merged on every identity', async () => {
      const rows = await identities();
      return rows.length === people.length && rows.every((row) => row.title !== null && row.badge !== null)
        ? true
        : undefined;
    });
    const rows = await identities();
    expect(rows).toHaveLength(people.length);
    expect(new Set(rows.map((row) => row.employee_id)).size).toBe(people.length);
  });

  it("runs the plan's rules on an identity at inbound, over its merged attributes", async () => {
    const suffix = randomUUID().slice(0, 8);
    const plan = [
      'version: 1',
      'vault:',
      '  attributes: { employeeId: {}, status: {}, title: {} }',
      'applications:',
      `  - name: hr-${suffix}`,
      '    type: csv',
      '    createsIdentities: true',
      '    objectClasses: { worker: { attributes: { WorkerID: {}, Status: {}, JobTitle: {} } } }',
      '    inbound: [{ vault: employeeId, from: WorkerID }, { vault: status, from: Status }, { vault: title, from: JobTitle }]',
      'rules:',
      '  - name: leavers lose their title',
      '    when: identity.status == "terminated"',
      '    set: { title: \'"Former employee"\' }',
    ].join('\n');
    const applied = await applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      source: plan,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
    });
    const hr = applied.applications[0]?.id ?? '';
    const worker = (id: string, status: string) =>
      object(hr, undefined, `${id}-${suffix}`, {
        WorkerID: `${id}-${suffix}`,
        Status: status,
        JobTitle: 'Engineer',
      });
    await fixture.send('imports', [worker('R1', 'active'), worker('R2', 'terminated')]);
    const titles = () =>
      query<{ employee_id: string; title: string }>(
        fixture.database.url,
        `select snapshot->'context'->'attributes'->>'employeeId' as employee_id, snapshot->'context'->'attributes'->>'title' as title
         from identity where tenant_id = $1 and snapshot->'context'->'attributes'->>'employeeId' like $2 order by 1`,
        [fixture.tenantId, `%-${suffix}`],
      );
    await waitFor('both identities', async () => ((await titles()).length === 2 ? true : undefined));
    expect((await titles()).map((t) => [t.employee_id.replace(`-${suffix}`, ''), t.title])).toEqual([
      ['R1', 'Engineer'],
      ['R2', 'Former employee'],
    ]);
  });

  it('dead-letters an object of a tenant that does not exist, stores nothing of it, and records its neighbours', async () => {
    const app = randomUUID();
    const stranger = randomUUID();
    const foreign = object(app, undefined, 'ghost', { mail: 'ghost@example.com' });
    const data = JSON.parse(String(foreign.value)) as MessageData<'joinery.import.object.v1'>;
    const orphan = encodeMessage({
      id: randomUUID(),
      type: 'joinery.import.object.v1',
      source: '/tests',
      time: at(),
      tenantId: stranger,
      data: { ...data, tenantId: stranger },
    });
    await fixture.send('imports', [orphan, object(app, undefined, 'known', { mail: 'k@example.com' })]);
    await waitFor('the neighbour to be recorded', async () =>
      (await objects(app)).length === 1 ? true : undefined,
    );
    const dead = await readTopic(fixture.bus, fixture.topic('deadletter'), (messages) =>
      messages.some((m) => header(m, 'ce_tenantid') === stranger),
    );
    const letters = dead.filter((m) => header(m, 'ce_tenantid') === stranger);
    expect(letters.map((m) => [header(m, 'joinery_dlq_code'), header(m, 'joinery_dlq_reason')])).toEqual([
      ['JNY_UNKNOWN_TENANT', `unknown tenant ${stranger}`],
    ]);
    expect((await objects(app)).map((o) => o.external_id)).toEqual(['known']);
    expect(
      await query(
        fixture.database.url,
        'select count(*)::int as n from repository_object where tenant_id = $1',
        [stranger],
      ),
    ).toEqual([{ n: 0 }]);
  });
});
