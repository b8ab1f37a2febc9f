// The deletion guard, end to end on the real Kafka broker and PostgreSQL (issue 17 item 6): a truncated
// full run — one holding only the first 60% of its source's rows — deletes nothing and makes no leavers; it
// stops as `held` with its would-be deletions, which an administrator lists, then releases (the deletions and
// leavers appear) or discards (nothing happens). And at export, disables count toward the mass-deletion
// threshold as deletes do: a mass disable is held, not pending.
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage } from '../../streams/cloudevents.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { buildApp } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { silentLogger } from '../support/factories.ts';
import {
  createStreamsFixture,
  exportQueue,
  query,
  startTestEngine,
  type StreamsFixture,
  waitFor,
} from '../support/streams.ts';
import { waitUntilSettled } from '../support/settled.ts';

interface RunRow {
  status: string;
  reason: string | null;
  deletions: number;
}

describe('Deletion guard (real Kafka and PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let api: Awaited<ReturnType<typeof buildApp>>;
  const logLines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    engine = await startTestEngine(fixture, {
      logger: pino(
        { level: 'warn' },
        {
          write(line: string) {
            logLines.push(JSON.parse(line) as Record<string, unknown>);
          },
        },
      ),
    });
    api = await buildApp({
      orm: fixture.orm,
      readiness: createReadiness({}),
      logger: silentLogger,
      topicPrefix: fixture.topics.topicPrefix,
    });
  });
  afterAll(async () => {
    await api.close();
    await engine.stop();
    await fixture.close();
  });

  /** A tenant of its own with an authoritative HR application and a live directory. */
  async function tenantWithPlan(hrExtra: string[] = [], directoryExport = '') {
    const suffix = randomUUID().slice(0, 8);
    const { tenantId, apiKey } = await createTenant(fixture.orm.em, { tenant: `guard-${suffix}` });
    const plan = [
      'version: 1',
      'vault:',
      '  attributes: { employeeId: {}, givenName: {}, employeeType: {}, status: {} }',
      'lifecycle: { deletionDelayDays: 30 }',
      'applications:',
      `  - name: hr-${suffix}`,
      '    type: csv',
      '    createsIdentities: true',
      '    objectClasses:',
      '      worker: { attributes: { WorkerID: {}, FirstName: {}, WorkerType: {}, Status: {} } }',
      '    inbound:',
      '      - { vault: employeeId, from: WorkerID, authority: 100 }',
      '      - { vault: givenName, from: FirstName, authority: 100 }',
      '      - { vault: employeeType, from: WorkerType, authority: 100 }',
      '      - { vault: status, from: Status, authority: 100 }',
      '    lifecycle:',
      '      status: \'source.Status == "terminated" ? "left" : "active"\'',
      '      leaveOnDelete: true',
      ...hrExtra,
      `  - name: directory-${suffix}`,
      '    type: scim',
      '    mode: live',
      '    objectClasses:',
      '      User: { attributes: { userName: { direction: both } } }',
      '    outbound:',
      '      - { target: userName, from: employeeId }',
      '    classifications: [1]',
      ...(directoryExport === '' ? [] : [`    export: ${directoryExport}`]),
      'classifications:',
      '  - { value: 1, name: employee, when: \'identity.employeeType == "Employee"\' }',
    ].join('\n');
    const applied = await applyPlan(fixture.orm.em, {
      tenantId,
      source: plan,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
    });
    const [hr = '', directory = ''] = applied.applications.map((a) => a.id);
    return { tenantId, apiKey, hr, directory };
  }

  type Tenant = Awaited<ReturnType<typeof tenantWithPlan>>;
  const at = () => new Date().toISOString();
  const worker = (t: Tenant, id: string, runId?: string, status = 'active') => {
    const data: MessageData<'joinery.import.object.v1'> = {
      tenantId: t.tenantId,
      applicationId: t.hr,
      ...(runId === undefined ? {} : { runId }),
      objectClass: 'worker',
      externalId: id,
      operation: 'upsert',
      attributes: { WorkerID: id, FirstName: `First ${id}`, WorkerType: 'Employee', Status: status },
      observedAt: at(),
    };
    return encodeMessage({
      id: randomUUID(),
      type: 'joinery.import.object.v1',
      source: '/tests',
      time: at(),
      tenantId: t.tenantId,
      data,
    });
  };
  const marker = (t: Tenant, runId: string, phase: 'started' | 'completed', objectCount?: number) => {
    const data: MessageData<'joinery.import.run.v1'> = {
      tenantId: t.tenantId,
      applicationId: t.hr,
      runId,
      kind: 'full',
      phase,
      at: at(),
      ...(objectCount === undefined ? {} : { objectCount }),
    };
    return encodeMessage({
      id: randomUUID(),
      type: 'joinery.import.run.v1',
      source: '/tests',
      time: at(),
      tenantId: t.tenantId,
      data,
    });
  };
  /** A full run of these workers, started to completed. */
  const fullRun = async (t: Tenant, ids: string[]) => {
    const runId = randomUUID();
    await fixture.send('imports', [
      marker(t, runId, 'started'),
      ...ids.map((id) => worker(t, id, runId)),
      marker(t, runId, 'completed', ids.length),
    ]);
    return runId;
  };
  const run = async (runId: string) =>
    (
      await query<RunRow>(
        fixture.database.url,
        'select status, reason, deletions from import_run where run_id = $1',
        [runId],
      )
    )[0];
  const runWhen = (runId: string, what: string, check: (row: RunRow) => boolean) =>
    waitFor(`run ${runId}: ${what}`, async () => {
      const row = await run(runId);
      return row !== undefined && check(row) ? row : undefined;
    });
  const deletedObjects = async (t: Tenant) =>
    Number(
      (
        await query<{ n: string }>(
          fixture.database.url,
          'select count(*) as n from repository_object where application_id = $1 and deleted',
          [t.hr],
        )
      )[0]?.n,
    );
  const identities = async (t: Tenant, state: string) =>
    Number(
      (
        await query<{ n: string }>(
          fixture.database.url,
          'select count(*) as n from identity where tenant_id = $1 and state = $2',
          [t.tenantId, state],
        )
      )[0]?.n,
    );
  const call = (t: Tenant, method: 'GET' | 'POST', url: string) =>
    api.inject({ method, url, headers: { authorization: `Bearer ${t.apiKey}` } });
  const until = <T>(what: string, check: () => Promise<T | undefined | false>) =>
    waitFor(what, async () => (await check()) || undefined);
  const ids = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);

  it('holds a 60% full run with the default limits: no deletions, no leavers until released; then exactly its deletions and leavers', async () => {
    const t = await tenantWithPlan();
    const everyone = ids('W', 150);
    const first = await fullRun(t, everyone);
    await runWhen(first, 'completed', (row) => row.status === 'completed');
    await until('150 active identities', async () => (await identities(t, 'active')) === 150);

    // The source is truncated: the run holds only its first 60% (90 of 150; 60 deletions, 40% > 20%).
    const truncated = await fullRun(t, everyone.slice(0, 90));
    const held = await runWhen(truncated, 'held', (row) => row.status === 'held');
    expect(held.deletions).toBe(0);
    expect(held.reason).toContain('deletion guard: 60 of 150 worker objects (40%)');
    expect(held.reason).toContain('maxPercent 20%');
    await waitUntilSettled(fixture);
    expect(await deletedObjects(t)).toBe(0);
    expect(await identities(t, 'leaver')).toBe(0);
    expect(await identities(t, 'active')).toBe(150);

    // The logs say why.
    expect(
      await waitFor('the warning in the logs', async () =>
        logLines.find(
          (line) =>
            line.runId === truncated && line.msg === 'import run held by the deletion guard: nothing deleted',
        ),
      ),
    ).toMatchObject({
      level: 40,
      applicationId: t.hr,
      tenantId: t.tenantId,
      deletions: 60,
      reason: held.reason,
    });
    // The run in the API says why; its would-be deletions are listed, paged, with their attributes.
    const shown = await call(t, 'GET', `/v1/runs/${truncated}`);
    expect(shown.json()).toMatchObject({ status: 'held', deletions: 0 });
    expect(shown.json<{ reason: string }>().reason).toContain('deletion guard');
    const firstPage = await call(t, 'GET', `/v1/runs/${truncated}/deletions?limit=50`);
    expect(firstPage.statusCode).toBe(200);
    const page1 = firstPage.json<{
      runStatus: string;
      items: { externalId: string; objectClass: string; attributes: Record<string, unknown> }[];
      nextCursor: string | null;
    }>();
    expect(page1.runStatus).toBe('held');
    expect(page1.items).toHaveLength(50);
    expect(page1.items[0]).toMatchObject({
      externalId: 'W0090',
      objectClass: 'worker',
      attributes: { WorkerID: 'W0090', FirstName: 'First W0090' },
    });
    const secondPage = await call(
      t,
      'GET',
      `/v1/runs/${truncated}/deletions?limit=50&after=${page1.nextCursor ?? ''}`,
    );
    const page2 = secondPage.json<{ items: { externalId: string }[]; nextCursor: string | null }>();
    expect(page2.items.map((item) => item.externalId)).toEqual(everyone.slice(140));
    expect(page2.nextCursor).toBeNull();
    // Only a held run can be released or discarded.
    expect((await call(t, 'POST', `/v1/runs/${first}/release`)).statusCode).toBe(409);

    // Released: the run completes with exactly its 60 deletions; their identities become leavers.
    const released = await call(t, 'POST', `/v1/runs/${truncated}/release`);
    expect(released.statusCode).toBe(200);
    expect(await runWhen(truncated, 'completed', (row) => row.status === 'completed')).toMatchObject({
      deletions: 60,
    });
    await until('60 leavers', async () => (await identities(t, 'leaver')) === 60);
    expect(await deletedObjects(t)).toBe(60);
    expect(
      await query<{ external_id: string }>(
        fixture.database.url,
        'select external_id from repository_object where application_id = $1 and deleted and external_id < $2',
        [t.hr, 'W0090'],
      ),
    ).toEqual([]);
    expect(
      (await call(t, 'GET', `/v1/runs/${truncated}/deletions`)).json<{ items: unknown[] }>().items,
    ).toEqual([]);
  });

  it('discards a held run: nothing is deleted, nobody leaves, the run says discarded', async () => {
    const t = await tenantWithPlan(['    deletionGuard: { maxCount: 2 }']);
    const everyone = ids('D', 6);
    const first = await fullRun(t, everyone);
    await runWhen(first, 'completed', (row) => row.status === 'completed');
    await until('6 active identities', async () => (await identities(t, 'active')) === 6);

    // Three deletions of six objects: more than maxCount 2 (the percentage needs more than 100 objects).
    const truncated = await fullRun(t, everyone.slice(0, 3));
    expect(await runWhen(truncated, 'held', (row) => row.status === 'held')).toMatchObject({
      deletions: 0,
    });
    expect((await run(truncated))?.reason).toContain('more than maxCount 2');
    const listed = (await call(t, 'GET', `/v1/runs/${truncated}/deletions`)).json<{
      items: { externalId: string }[];
    }>();
    expect(listed.items.map((item) => item.externalId)).toEqual(everyone.slice(3));

    const discarded = await call(t, 'POST', `/v1/runs/${truncated}/discard`);
    expect(discarded.statusCode).toBe(200);
    expect(discarded.json()).toMatchObject({ status: 'discarded', deletions: 0 });
    expect(discarded.json<{ reason: string }>().reason).toContain('discarded by');
    // The producer sends the completed marker again: a discarded run stays discarded.
    await fixture.send('imports', [marker(t, truncated, 'completed', 3)]);
    await waitUntilSettled(fixture);
    expect(await run(truncated)).toMatchObject({ status: 'discarded', deletions: 0 });
    expect(await deletedObjects(t)).toBe(0);
    expect(await identities(t, 'leaver')).toBe(0);
    expect((await call(t, 'POST', `/v1/runs/${truncated}/release`)).statusCode).toBe(409);
  });

  it('holds a mass disable at export: disables count toward the threshold as deletes do', async () => {
    const t = await tenantWithPlan([], '{ deletionThreshold: 3 }');
    const everyone = ids('X', 8);
    await fixture.send(
      'imports',
      everyone.map((id) => worker(t, id)),
    );
    await until('8 creates', async () => (await exportQueue(fixture, t.directory)).length === 8);
    // All eight leave (a delta, not a run): eight disables against a threshold of three.
    await fixture.send(
      'imports',
      everyone.map((id) => worker(t, id, undefined, 'terminated')),
    );
    const disables = await until('8 disables', async () => {
      const queued = (await exportQueue(fixture, t.directory)).filter((item) => item.operation === 'disable');
      return queued.length === 8 ? queued : undefined;
    });
    expect(disables.filter((item) => item.status === 'pending').length).toBeLessThanOrEqual(3);
    expect(
      disables.filter((item) => item.status === 'held' && item.hold_reason === 'mass-deletion').length,
    ).toBeGreaterThanOrEqual(5);
  });
});
