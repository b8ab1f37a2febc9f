// What completes an import run, on the real Kafka broker and on the embedded bus, with a real PostgreSQL:
// its completed marker (keyed by the run) and its objects (keyed by object) travel on different partitions,
// so the marker may be processed before or after them. With objectCount the run completes once that many
// objects are recorded, in either order; a full run without it is `incomplete` — on the run, in the API,
// in the logs and on deadletter — and deletes nothing (docs/topics.md, "Import runs").
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage } from '../../streams/cloudevents.ts';
import { uncountedReason } from '../../src/engine/import-stage.ts';
import { startEngine, type Engine } from '../../src/runtime/engine-runtime.ts';
import { buildApp } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
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

interface RunRow {
  status: string;
  reason: string | null;
  seen: number;
  object_count: number | null;
  deletions: number;
}

describe.each(['kafka', 'embedded'] as const)('Import runs on %s (real PostgreSQL)', (busKind) => {
  let fixture: StreamsFixture;
  let engine: Engine;
  const logLines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    fixture = await createStreamsFixture({ bus: busKind });
    engine = await startEngine({
      bus: fixture.bus,
      orm: fixture.orm,
      logger: pino(
        { level: 'warn' },
        {
          write(line: string) {
            logLines.push(JSON.parse(line) as Record<string, unknown>);
          },
        },
      ),
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
  const object = (applicationId: string, runId: string, externalId: string) =>
    encodeMessage({
      id: randomUUID(),
      type: 'joinery.import.object.v1',
      source: '/tests',
      time: at(),
      tenantId: fixture.tenantId,
      data: {
        tenantId: fixture.tenantId,
        applicationId,
        runId,
        objectClass: 'user',
        externalId,
        operation: 'upsert',
        attributes: { mail: `${externalId}@example.com` },
        observedAt: at(),
      } satisfies MessageData<'joinery.import.object.v1'>,
    });
  const marker = (
    applicationId: string,
    runId: string,
    phase: 'started' | 'completed',
    options: { objectCount?: number; kind?: 'full' | 'delta'; id?: string } = {},
  ) =>
    encodeMessage({
      id: options.id ?? randomUUID(),
      type: 'joinery.import.run.v1',
      source: '/tests',
      time: at(),
      tenantId: fixture.tenantId,
      data: {
        tenantId: fixture.tenantId,
        applicationId,
        runId,
        kind: options.kind ?? 'full',
        phase,
        at: at(),
        ...(options.objectCount === undefined ? {} : { objectCount: options.objectCount }),
      },
    });
  const objects = async (applicationId: string) =>
    (
      await query<{ external_id: string; deleted: boolean }>(
        fixture.database.url,
        'select external_id, deleted from repository_object where application_id = $1 order by external_id',
        [applicationId],
      )
    ).map((row) => [row.external_id, row.deleted]);
  const run = async (runId: string) =>
    (
      await query<RunRow>(
        fixture.database.url,
        'select status, reason, seen, object_count, deletions from import_run where run_id = $1',
        [runId],
      )
    )[0];
  const runWhen = (runId: string, what: string, check: (row: RunRow) => boolean) =>
    waitFor(`run ${runId}: ${what}`, async () => {
      const row = await run(runId);
      return row !== undefined && check(row) ? row : undefined;
    });

  /** An application whose first full run recorded a, b and c (completed, nothing deleted). */
  const applicationWithABC = async () => {
    const app = randomUUID();
    const first = randomUUID();
    await fixture.send('imports', [
      marker(app, first, 'started'),
      object(app, first, 'a'),
      object(app, first, 'b'),
      object(app, first, 'c'),
      marker(app, first, 'completed', { objectCount: 3 }),
    ]);
    await runWhen(first, 'completed', (row) => row.status === 'completed');
    return app;
  };

  it('with objectCount, marker before its objects: completing until the last object, then completed with its deletions', async () => {
    const app = await applicationWithABC();
    const second = randomUUID();
    await fixture.send('imports', [marker(app, second, 'completed', { objectCount: 2 })]);
    expect(await runWhen(second, 'marker recorded', (row) => row.status === 'completing')).toMatchObject({
      seen: 0,
      object_count: 2,
      deletions: 0,
    });
    await fixture.send('imports', [object(app, second, 'a')]);
    expect(await runWhen(second, 'one object seen', (row) => row.seen === 1)).toMatchObject({
      status: 'completing',
      deletions: 0,
    });
    expect(await objects(app)).toEqual([
      ['a', false],
      ['b', false],
      ['c', false],
    ]);
    await fixture.send('imports', [object(app, second, 'b')]);
    expect(await runWhen(second, 'completed', (row) => row.status === 'completed')).toMatchObject({
      seen: 2,
      deletions: 1,
      reason: null,
    });
    expect(await objects(app)).toEqual([
      ['a', false],
      ['b', false],
      ['c', true],
    ]);
  });

  it('with objectCount, marker after its objects: completed at the marker, with its deletions', async () => {
    const app = await applicationWithABC();
    const second = randomUUID();
    await fixture.send('imports', [marker(app, second, 'started'), object(app, second, 'b')]);
    await runWhen(second, 'its object seen', (row) => row.seen === 1);
    await fixture.send('imports', [marker(app, second, 'completed', { objectCount: 1 })]);
    expect(await runWhen(second, 'completed', (row) => row.status === 'completed')).toMatchObject({
      seen: 1,
      deletions: 2,
      reason: null,
    });
    expect(await objects(app)).toEqual([
      ['a', true],
      ['b', false],
      ['c', true],
    ]);
  });

  it('a full run completed without objectCount, after its objects: incomplete with its reason (run, API, log, deadletter), deletes nothing; the marker sent again with its count completes it', async () => {
    const app = await applicationWithABC();
    const second = randomUUID();
    await fixture.send('imports', [marker(app, second, 'started'), object(app, second, 'a')]);
    await runWhen(second, 'its object seen', (row) => row.seen === 1);
    const uncountedId = randomUUID();
    await fixture.send('imports', [marker(app, second, 'completed', { id: uncountedId })]);
    expect(await runWhen(second, 'incomplete', (row) => row.status === 'incomplete')).toMatchObject({
      reason: uncountedReason,
      seen: 1,
      object_count: null,
      deletions: 0,
    });
    expect(await objects(app)).toEqual([
      ['a', false],
      ['b', false],
      ['c', false],
    ]);

    const api = await buildApp({ orm: fixture.orm, readiness: createReadiness({}), logger: silentLogger });
    try {
      const response = await api.inject({
        method: 'GET',
        url: `/v1/runs?applicationId=${app}`,
        headers: { authorization: `Bearer ${fixture.apiKey}` },
      });
      expect(response.statusCode).toBe(200);
      const { items } = response.json<{ items: { id: string; status: string; reason: string | null }[] }>();
      expect(items.find((item) => item.id === second)).toMatchObject({
        status: 'incomplete',
        reason: uncountedReason,
      });
    } finally {
      await api.close();
    }

    expect(
      await waitFor('the warning in the logs', async () =>
        logLines.find(
          (line) => line.runId === second && line.msg === 'import run incomplete: deletions not detected',
        ),
      ),
    ).toMatchObject({ level: 40, applicationId: app, tenantId: fixture.tenantId, reason: uncountedReason });

    const dead = await readTopic(fixture.bus, fixture.topic('deadletter'), (messages) =>
      messages.some((message) => header(message, 'ce_id') === uncountedId),
    );
    const letter = dead.find((message) => header(message, 'ce_id') === uncountedId);
    expect(letter === undefined ? undefined : header(letter, 'joinery_dlq_code')).toBe('JNY_MESSAGE_INVALID');
    expect(letter === undefined ? undefined : header(letter, 'joinery_dlq_reason')).toBe(uncountedReason);

    // The producer sends the marker again, with its count: the run completes and detects its deletions.
    await fixture.send('imports', [marker(app, second, 'completed', { objectCount: 1 })]);
    expect(await runWhen(second, 'completed', (row) => row.status === 'completed')).toMatchObject({
      reason: null,
      seen: 1,
      object_count: 1,
      deletions: 2,
    });
    expect(await objects(app)).toEqual([
      ['a', false],
      ['b', true],
      ['c', true],
    ]);
  });

  it('a full run completed without objectCount, before its objects: incomplete, and stays so (deleting nothing) as its objects arrive', async () => {
    const app = await applicationWithABC();
    const second = randomUUID();
    await fixture.send('imports', [marker(app, second, 'started'), marker(app, second, 'completed')]);
    expect(await runWhen(second, 'incomplete', (row) => row.status === 'incomplete')).toMatchObject({
      reason: uncountedReason,
      seen: 0,
      deletions: 0,
    });
    await fixture.send('imports', [object(app, second, 'a')]);
    expect(await runWhen(second, 'its object seen', (row) => row.seen === 1)).toMatchObject({
      status: 'incomplete',
      reason: uncountedReason,
      deletions: 0,
    });
    expect(await objects(app)).toEqual([
      ['a', false],
      ['b', false],
      ['c', false],
    ]);
  });

  it('a delta run completed without objectCount completes at its marker and deletes nothing', async () => {
    const app = await applicationWithABC();
    const delta = randomUUID();
    await fixture.send('imports', [
      marker(app, delta, 'started', { kind: 'delta' }),
      object(app, delta, 'b'),
      marker(app, delta, 'completed', { kind: 'delta' }),
    ]);
    expect(await runWhen(delta, 'completed', (row) => row.status === 'completed')).toMatchObject({
      reason: null,
      deletions: 0,
    });
    await runWhen(delta, 'its object seen', (row) => row.seen === 1);
    expect(await objects(app)).toEqual([
      ['a', false],
      ['b', false],
      ['c', false],
    ]);
  });
});
