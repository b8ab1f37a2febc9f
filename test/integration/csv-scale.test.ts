// An HR file at scale, end to end on the real Kafka broker and PostgreSQL (issue 19): a 100,000-row CSV
// uploaded through the API becomes 100,000 identities; the next file, with 1% of the rows changed and 0.5%
// removed, changes exactly those and makes exactly the removed people leavers — once the run has completed;
// then a truncated file (its first 60%) is held by the deletion guard and nobody leaves until it is
// released. JOINERY_CSV_SCALE_ROWS sets another size.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/api/app.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { waitUntilSettled } from '../support/settled.ts';
import {
  createStreamsFixture,
  query,
  startTestEngine,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';
import { applyTestPlan, testApp } from '../support/system.ts';

const ROWS = Number(process.env.JOINERY_CSV_SCALE_ROWS ?? 100_000);
const CHANGED = ROWS / 100;
const REMOVED = ROWS / 200;

interface Run {
  id: string;
  kind: string;
  status: string;
  objectCount: number | null;
  rejected: number;
  deletions: number;
  finishedAt: string | null;
}

describe(`an HR file of ${String(ROWS)} rows (real Kafka and PostgreSQL)`, () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let app: App;
  let hr = '';

  const planSource = [
    'version: 1',
    'vault:',
    '  attributes: { employeeId: {}, givenName: {}, department: {} }',
    'applications:',
    '  - name: hr',
    '    type: csv',
    '    createsIdentities: true',
    '    objectClasses:',
    '      worker: { attributes: { WorkerID: {}, FirstName: {}, Department: {} } }',
    '    csv: { externalId: WorkerID }',
    '    inbound:',
    '      - { vault: employeeId, from: WorkerID, authority: 100 }',
    '      - { vault: givenName, from: FirstName, authority: 100 }',
    '      - { vault: department, from: Department, authority: 100 }',
    '    joining: [{ name: worker id, all: [{ source: WorkerID, vault: employeeId }] }]',
    '    lifecycle: { leaveOnDelete: true }',
  ].join('\n');

  const id = (index: number) => `W${String(index).padStart(7, '0')}`;
  const row = (index: number, name = `First${String(index)}`) =>
    `${id(index)},${name},"Dept, ${String(index % 40)}"`;
  const file = (rows: string[]) => `WorkerID,FirstName,Department\n${rows.join('\n')}\n`;

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    engine = await startTestEngine(fixture);
    app = await testApp(fixture);
    const ids = await applyTestPlan(fixture, planSource);
    hr = ids.hr ?? '';
  });
  afterAll(async () => {
    await app.close();
    await engine.stop();
    await fixture.close();
  });

  const call = (method: 'GET' | 'POST', url: string, payload?: string) =>
    app.inject({
      method,
      url,
      headers: {
        authorization: `Bearer ${fixture.apiKey}`,
        ...(payload === undefined ? {} : { 'content-type': 'text/csv' }),
      },
      ...(payload === undefined ? {} : { payload }),
    });
  const upload = async (text: string): Promise<string> => {
    const response = await call('POST', `/v1/applications/${hr}/imports`, text);
    expect(response.statusCode, response.body).toBe(202);
    return response.json<{ runId: string }>().runId;
  };
  const runWhen = (runId: string, status: string) =>
    waitFor(
      `run ${runId} ${status}`,
      async () => {
        const run = (await call('GET', `/v1/runs/${runId}`)).json<Run>();
        return run.status === status ? run : undefined;
      },
      240_000,
    );
  const states = async (): Promise<Record<string, number>> =>
    Object.fromEntries(
      (
        await query<{ state: string; count: string }>(
          fixture.database.url,
          'select state, count(*) as count from identity where tenant_id = $1 group by state',
          [fixture.tenantId],
        )
      ).map((r) => [r.state, Number(r.count)]),
    );
  const until = (what: string, check: (counts: Record<string, number>) => boolean) =>
    waitFor(what, async () => (check(await states()) ? true : undefined), 240_000);

  const everyone = Array.from({ length: ROWS }, (_, index) => index);
  // A 100,000-row load takes a minute or two on two cores.
  const long = { timeout: 600_000 };

  it('makes every row an identity', long, async () => {
    const runId = await upload(file(everyone.map((index) => row(index))));
    expect(await runWhen(runId, 'completed')).toMatchObject({ kind: 'full', objectCount: ROWS, rejected: 0 });
    await until(`${String(ROWS)} active identities`, (counts) => counts.active === ROWS);
  });

  it('changes the 1% changed and makes the 0.5% removed leavers, after the run completed', long, async () => {
    const removed = new Set(everyone.filter((index) => index % 200 === 7));
    const changed = everyone.filter((index) => index % 100 === 3);
    const changedSet = new Set(changed);
    const runId = await upload(
      file(
        everyone
          .filter((index) => !removed.has(index))
          .map((index) => (changedSet.has(index) ? row(index, `Renamed${String(index)}`) : row(index))),
      ),
    );
    // Every look before the run has completed finds nobody gone: the deletions wait for the whole file.
    const early: Record<string, number>[] = [];
    const run = await waitFor(
      `run ${runId} completed`,
      async () => {
        const counts = await states();
        const seen = (await call('GET', `/v1/runs/${runId}`)).json<Run>();
        if (seen.status === 'completed') return seen;
        if ((counts.leaver ?? 0) > 0) early.push(counts);
        return undefined;
      },
      240_000,
    );
    expect(early).toEqual([]);
    expect(run).toMatchObject({ kind: 'full', objectCount: ROWS - REMOVED, deletions: REMOVED });
    await until(`${String(REMOVED)} leavers`, (counts) => counts.leaver === REMOVED);
    await waitUntilSettled(fixture);
    expect(await states()).toEqual({ active: ROWS - REMOVED, leaver: REMOVED });

    // Exactly the removed ones left, and none of them before the run completed.
    const leavers = await query<{ external_id: string; updated_at: Date }>(
      fixture.database.url,
      `select r.external_id, r.updated_at from repository_object r
       where r.tenant_id = $1 and r.application_id = $2 and r.deleted`,
      [fixture.tenantId, hr],
    );
    expect(new Set(leavers.map((r) => r.external_id))).toEqual(new Set([...removed].map(id)));
    const renamed = await query<{ count: string }>(
      fixture.database.url,
      `select count(*) as count from identity where tenant_id = $1
       and snapshot->'context'->'attributes'->>'givenName' like 'Renamed%'`,
      [fixture.tenantId],
    );
    expect(Number(renamed[0]?.count)).toBe(CHANGED);
    expect(CHANGED).toBe(changed.length);
  });

  it('holds a file truncated to its first 60%: nobody leaves until it is released', long, async () => {
    // The people of the last file, cut after the first 60% of the company.
    const kept = everyone.slice(0, Math.floor(ROWS * 0.6)).filter((index) => index % 200 !== 7);
    const runId = await upload(file(kept.map((index) => row(index))));
    const held = await runWhen(runId, 'held');
    expect(held.deletions).toBe(0);
    await waitUntilSettled(fixture);
    expect(await states()).toEqual({ active: ROWS - REMOVED, leaver: REMOVED });

    const release = await call('POST', `/v1/runs/${runId}/release`);
    expect(release.statusCode, release.body).toBe(200);
    const completed = await runWhen(runId, 'completed');
    expect(completed.deletions).toBe(ROWS - REMOVED - kept.length);
    await until('the released deletions made leavers', (counts) => counts.active === kept.length);
    expect(await states()).toEqual({ active: kept.length, leaver: ROWS - kept.length });
  });
});
