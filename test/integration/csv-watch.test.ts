// The watched folder of an HR application (issue 19), on the real Kafka broker and PostgreSQL with the test
// engine: a file dropped in the directory is imported as a full run once it stops changing, then moved to
// imported/ (or failed/, with why) under its run id — once, whichever engine process looks.
import {
  appendFileSync,
  mkdirSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/api/app.ts';
import { startCsvWatcher, type CsvWatcher } from '../../src/connectors/csv/csv-watch.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { silentLogger } from '../support/factories.ts';
import {
  createStreamsFixture,
  query,
  startTestEngine,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';
import { applyTestPlan, testApp } from '../support/system.ts';

interface RunRow {
  run_id: string;
  status: string;
  kind: string | null;
  object_count: number | null;
  reason: string | null;
}

describe('a watched folder of HR files (real Kafka and PostgreSQL, the test engine)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  const directory = mkdtempSync(join(tmpdir(), 'joinery-csv-watch-'));
  let hr = '';
  let badge = '';
  let app: App;
  const watchers: CsvWatcher[] = [];

  const planSource = [
    'version: 1',
    'vault:',
    '  attributes: { employeeId: {}, givenName: {} }',
    'applications:',
    '  - name: hr',
    '    type: csv',
    '    createsIdentities: true',
    '    objectClasses:',
    '      worker: { attributes: { WorkerID: {}, FirstName: {} } }',
    '    csv:',
    '      externalId: WorkerID',
    '      onError: fail',
    `      watch: { directory: '${directory}', pattern: 'hr-*.csv' }`,
    '    inbound:',
    '      - { vault: employeeId, from: WorkerID, authority: 100 }',
    '      - { vault: givenName, from: FirstName, authority: 100 }',
    '    joining: [{ name: worker id, all: [{ source: WorkerID, vault: employeeId }] }]',
    '  - name: badge',
    '    type: csv',
    '    objectClasses:',
    '      badge: { attributes: { BadgeID: {} } }',
    '    csv:',
    '      externalId: BadgeID',
    `      watch: { directory: '${join(directory, 'badges')}' }`,
  ].join('\n');

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    const ids = await applyTestPlan(fixture, planSource);
    hr = ids.hr ?? '';
    badge = ids.badge ?? '';
    app = await testApp(fixture);
    // The watchers look only when the test tells them to (every wait below does): a look of their own, at
    // whatever moment a loaded machine gives it, would race the writer of the file being written.
    engine = await startTestEngine(fixture, { csvWatchPollMs: 3_600_000 });
  });
  afterAll(async () => {
    for (const watcher of watchers) await watcher.stop();
    await app.close();
    await engine.stop();
    await fixture.close();
    rmSync(directory, { recursive: true, force: true });
  });

  const runs = () =>
    query<RunRow>(
      fixture.database.url,
      'select run_id, status, kind, object_count, reason from import_run where application_id = $1',
      [hr],
    );
  const finished = (runId: string) =>
    waitFor(`run ${runId} to finish`, async () => {
      const run = (await runs()).find((row) => row.run_id === runId);
      return run !== undefined && ['completed', 'aborted', 'held'].includes(run.status) ? run : undefined;
    });
  /** The run id in the name a file was moved under, once it is in `into`. */
  const movedTo = (into: 'imported' | 'failed', stem: string) =>
    waitFor(`${stem} in ${into}/`, async () => {
      await engine.csvWatcher.poll();
      const folder = join(directory, into);
      if (!existsSync(folder)) return undefined;
      const names = readdirSync(folder).filter(
        (name) => name.startsWith(`${stem}.`) && name.endsWith('.csv'),
      );
      return names.length === 0 ? undefined : names;
    });
  const runIdOf = (name: string) => /\.([0-9a-f-]{36})\.csv$/.exec(name)?.[1] ?? '';

  it('imports a dropped file as a full run once it is complete, and moves it to imported/ with its run id', async () => {
    writeFileSync(join(directory, 'hr-1.csv'), 'WorkerID,FirstName\nW1,Ada\nW2,Grace\nW3,Linus\n');
    const [moved] = await movedTo('imported', 'hr-1');
    expect(moved).toMatch(/^hr-1\.[0-9a-f-]{36}\.csv$/);
    expect(existsSync(join(directory, 'hr-1.csv'))).toBe(false);
    expect(await finished(runIdOf(moved ?? ''))).toMatchObject({
      status: 'completed',
      kind: 'full',
      object_count: 3,
    });
    const [identity] = await waitFor('W2 in the Vault', async () => {
      const rows = await query<{ id: string }>(
        fixture.database.url,
        `select identity_id as id from repository_object where application_id = $1 and external_id = 'W2' and identity_id is not null`,
        [hr],
      );
      return rows.length > 0 ? rows : undefined;
    });
    expect(identity).toBeDefined();
  });

  it('leaves a file that is still being written until it stops changing', async () => {
    const before = (await runs()).length;
    const path = join(directory, 'hr-2.csv');
    writeFileSync(path, 'WorkerID,FirstName\nW1,Ada\n');
    // The writer appends a row after each look of the watcher: every look sees a new size.
    for (let row = 2; row <= 6; row++) {
      await engine.csvWatcher.poll();
      appendFileSync(path, `W${String(row)},Person ${String(row)}\n`);
    }
    await engine.csvWatcher.poll();
    expect(existsSync(path)).toBe(true);
    expect(await runs()).toHaveLength(before);
    // The writer stops: two looks later the whole file is imported.
    const [moved] = await movedTo('imported', 'hr-2');
    expect(await finished(runIdOf(moved ?? ''))).toMatchObject({ status: 'completed', object_count: 6 });
    expect(await runs()).toHaveLength(before + 1);
  });

  it('moves a malformed file (onError: fail) to failed/ with a file saying why', async () => {
    writeFileSync(join(directory, 'hr-3.csv'), 'WorkerID,FirstName\nW1,Ada\nW2\nW3,Linus\n');
    const [moved] = await movedTo('failed', 'hr-3');
    const runId = runIdOf(moved ?? '');
    const reason = readFileSync(join(directory, 'failed', `${moved ?? ''}.error.txt`), 'utf8');
    expect(reason).toMatch(
      /^hr-3\.csv was not imported \(run [0-9a-f-]{36}\): line 3: the row does not have as many fields as the header/,
    );
    expect(reason).toContain('nothing was deleted');
    const run = await finished(runId);
    expect(run).toMatchObject({ status: 'aborted' });
    expect(run.reason).toMatch(/line 3/);
  });

  it('imports a file once when several engine processes watch the same database', async () => {
    // Two more watchers on their own connections, as other engine processes would be, beside the engine's.
    for (let n = 0; n < 2; n++)
      watchers.push(
        startCsvWatcher({
          orm: fixture.orm,
          bus: fixture.bus,
          topicPrefix: fixture.topics.topicPrefix,
          logger: silentLogger,
          source: `/joinery/test/watcher-${String(n)}`,
          // Looks only when told: a look at its own pace, on a loaded machine, would race the test's writer.
          pollMs: 3_600_000,
        }),
      );
    const before = (await runs()).length;
    writeFileSync(join(directory, 'hr-4.csv'), 'WorkerID,FirstName\nW1,Ada\nW2,Grace\nW3,Linus\nW4,Alan\n');
    // Everyone looks at once, again and again, while the file is imported.
    const looks = Array.from({ length: 6 }, () => [
      engine.csvWatcher.poll(),
      ...watchers.map((watcher) => watcher.poll()),
    ]).flat();
    await Promise.all(looks);
    const moved = await movedTo('imported', 'hr-4');
    // A few more looks: nothing is left to import.
    await Promise.all([engine.csvWatcher.poll(), ...watchers.map((watcher) => watcher.poll())]);
    expect(moved).toHaveLength(1);
    expect(await runs()).toHaveLength(before + 1);
    expect(await finished(runIdOf(moved[0] ?? ''))).toMatchObject({ status: 'completed', object_count: 4 });
  });

  it('logs a missing watched directory once, not at every look, and shows it in the application summary', async () => {
    const logged: { level: number; msg: string; directory?: string; problem?: string }[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => logged.push(JSON.parse(line) as (typeof logged)[number]) },
    );
    const watcher = startCsvWatcher({
      orm: fixture.orm,
      bus: fixture.bus,
      topicPrefix: fixture.topics.topicPrefix,
      logger,
      source: '/joinery/test/watcher-log',
      pollMs: 3_600_000,
    });
    watchers.push(watcher);
    const summary = async () =>
      (
        await app.inject({
          method: 'GET',
          url: `/v1/applications/${badge}/summary`,
          headers: { authorization: `Bearer ${fixture.apiKey}` },
        })
      ).json<{ watch: { directory: string; problem: string | null; waiting: number } | null }>();
    const about = (msg: string) =>
      logged.filter((line) => line.msg === msg && line.directory === join(directory, 'badges'));

    for (let look = 0; look < 3; look++) await watcher.poll();
    expect(about('watched directory unusable')).toEqual([
      expect.objectContaining({
        level: 40,
        problem: `the watched directory ${join(directory, 'badges')} does not exist`,
      }),
    ]);
    expect((await summary()).watch).toEqual({
      directory: join(directory, 'badges'),
      pattern: '*.csv',
      pollSeconds: 30,
      problem: `the watched directory ${join(directory, 'badges')} does not exist`,
      waiting: 0,
    });

    mkdirSync(join(directory, 'badges'));
    writeFileSync(join(directory, 'badges', 'waiting.csv'), 'BadgeID\nB1\n');
    await watcher.poll();
    await watcher.poll();
    expect(about('watched directory usable again')).toHaveLength(1);
    expect(about('watched directory unusable')).toHaveLength(1);
    expect((await summary()).watch).toMatchObject({ problem: null });
  });
});
