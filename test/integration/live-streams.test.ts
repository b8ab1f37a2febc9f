// Live streams over WebSocket (issue 20, item 3), on the real Kafka broker (and the embedded bus) and
// PostgreSQL with the real engine: tokens refused as they should be, a run's snapshot and exact counters
// to its end, a client that stops reading held to its bound and told what it missed, a reconnect that
// resumes without gaps. The engine does not emit import-stage log events yet: the tests produce those
// themselves onto the logstream topic; run counters come from the engine.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { createStreamTokens } from '../../src/live/stream-tokens.ts';
import type { RunProgress, StreamFrame } from '../../src/live/stream-messages.ts';
import { claimExports, recordExportResult } from '../../src/engine/export-queue.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';
import { connectStream, logEvent, produceLogEvents, type StreamClient } from '../support/live-streams.ts';
import {
  createStreamsFixture,
  query,
  startTestEngine,
  waitFor,
  type BusKind,
  type StreamsFixture,
} from '../support/streams.ts';

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
  "      columns: { 'Employee Number': WorkerID, 'First Name': FirstName }",
  '    inbound:',
  '      - { vault: employeeId, from: WorkerID, authority: 100 }',
  '      - { vault: givenName, from: FirstName, authority: 100 }',
  '    joining: [{ name: worker id, all: [{ source: WorkerID, vault: employeeId }] }]',
  // Two targets: every person is exported to one at once, and held for approval in the other.
  ...['saas live', 'audited approval'].flatMap((target) => {
    const [name, mode] = target.split(' ');
    return [
      `  - name: ${name ?? ''}`,
      '    type: scim',
      `    mode: ${mode ?? ''}`,
      '    objectClasses: { User: { attributes: { userName: { direction: out } } } }',
      '    outbound: [{ target: userName, from: employeeId }]',
      '    classifications: [1]',
    ];
  }),
  'classifications:',
  `  - { value: 1, name: person, when: 'identity.employeeId != "none"' }`,
].join('\n');

// A resume never gives up waiting for the read-back on start: one that did not finish would time the test out.
const limits = {
  maxEvents: 200,
  maxBytes: 256 * 1024,
  highWaterBytes: 64 * 1024,
  ringEvents: 5000,
  replayWaitMs: 600_000,
};

async function liveApp(fixture: StreamsFixture, tokenKey: Buffer): Promise<{ app: App; base: string }> {
  const app = await buildApp({
    orm: fixture.orm,
    readiness: createReadiness({}),
    logger: silentLogger,
    topicPrefix: fixture.topics.topicPrefix,
    bus: fixture.bus,
    live: { tokenKey, limits },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await app.liveStreams.hub?.ready();
  return { app, base: `ws://127.0.0.1:${String(port)}` };
}

async function mintToken(app: App, apiKey: string): Promise<string> {
  const answer = await app.inject({
    method: 'POST',
    url: '/v1/streams/tokens',
    headers: { authorization: `Bearer ${apiKey}` },
  });
  expect(answer.statusCode).toBe(201);
  return answer.json<{ token: string }>().token;
}

/**
 * Kafka starts a new group at the partition's end once it resolves the offset, a moment after it joins:
 * probes are produced until the stream shows one, so the events a test then produces are all seen.
 */
async function untilLive(fixture: StreamsFixture, client: StreamClient): Promise<void> {
  await waitFor('the logstream consumer to deliver', async () => {
    await produceLogEvents(fixture, [logEvent(fixture.tenantId, { category: 'probe' })]);
    await new Promise((resolve) => setImmediate(resolve));
    return client.events().some((frame) => frame.event.category === 'probe') ? true : undefined;
  });
}

/** Events numbered `from`, `from + 1`, … in their message, of one stage, on the tenant's logstream. */
const produceNumbered = (fixture: StreamsFixture, from: number, count: number, stage: 'admin' | 'import') =>
  produceLogEvents(
    fixture,
    Array.from({ length: count }, (_, index) =>
      logEvent(fixture.tenantId, { category: 'seq', message: String(from + index), stage }),
    ),
  );

/** The client's event frame numbered `n`, once it has it. */
const untilNumbered = (client: StreamClient, n: number) =>
  client.until(
    `event ${String(n)}`,
    (frame): frame is Extract<StreamFrame, { type: 'event' }> =>
      frame.type === 'event' && frame.event.message === String(n),
  );

const numbered = (frames: StreamFrame[]) =>
  frames.flatMap((frame) =>
    frame.type === 'event' && frame.event.category === 'seq' ? [Number(frame.event.message)] : [],
  );

describe.each<BusKind>(['kafka', 'embedded'])('live streams on the %s bus (real PostgreSQL)', (busKind) => {
  let fixture: StreamsFixture;
  let app: App;
  let base: string;
  const tokenKey = randomBytes(32);
  const url = async (query: string, apiKey = fixture.apiKey) =>
    `${base}/v1/streams?token=${encodeURIComponent(await mintToken(app, apiKey))}${query}`;

  beforeAll(async () => {
    fixture = await createStreamsFixture({ bus: busKind });
    ({ app, base } = await liveApp(fixture, tokenKey));
  });
  afterAll(async () => {
    await app.close();
    await fixture.close();
  });

  it("refuses an expired, reused or forged token, and another tenant's run, each with a close code and reason", async () => {
    const expired = createStreamTokens({ key: tokenKey, now: () => Date.now() - 120_000 }).issue({
      tenantId: fixture.tenantId,
      serviceAccountId: randomUUID(),
    });
    const refusedExpired = await connectStream(
      `${base}/v1/streams?token=${encodeURIComponent(expired.token)}`,
    );
    expect(await refusedExpired.closed).toEqual({
      code: 4401,
      reason: 'the stream token expired: mint a new one (POST /v1/streams/tokens)',
    });

    const forged = createStreamTokens({ key: randomBytes(32) }).issue({
      tenantId: fixture.tenantId,
      serviceAccountId: randomUUID(),
    });
    const refusedForged = await connectStream(`${base}/v1/streams?token=${encodeURIComponent(forged.token)}`);
    expect((await refusedForged.closed).code).toBe(4401);

    const token = await mintToken(app, fixture.apiKey);
    const first = await connectStream(`${base}/v1/streams?token=${encodeURIComponent(token)}`);
    await first.until('hello', (frame) => frame.type === 'hello');
    const again = await connectStream(`${base}/v1/streams?token=${encodeURIComponent(token)}`);
    expect(await again.closed).toEqual({
      code: 4401,
      reason: 'the stream token was used already: mint one per connection',
    });
    first.socket.close();

    // Another tenant's token asks for this tenant's run: refused as unknown, nothing sent.
    const other = await createTenant(fixture.orm.em, { tenant: uniqueName('globex') });
    const applied = await applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
      source: planSource,
    });
    const hr = applied.applications[0]?.id ?? '';
    const run = await app.inject({
      method: 'POST',
      url: `/v1/applications/${hr}/imports`,
      headers: { authorization: `Bearer ${fixture.apiKey}`, 'content-type': 'text/csv' },
      payload: 'Employee Number,First Name\nE1,Ada\n',
    });
    const runId = run.json<{ runId: string; streamUrl: string }>().runId;
    expect(run.json<{ streamUrl: string }>().streamUrl).toBe(`/v1/streams?run=${runId}`);
    const stranger = await connectStream(await url(`&run=${runId}`, other.apiKey));
    expect(await stranger.closed).toEqual({ code: 4404, reason: `sync run ${runId} not found` });
    expect(stranger.frames).toEqual([]);

    // A bad query never opens a socket: the API's error shape.
    const bad = await app.inject({ method: 'GET', url: '/v1/streams?token=x&stage=nope' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'JNY_VALIDATION' } });
  });

  it("delivers the tenant's events matching the filters, never another tenant's", async () => {
    const everything = await connectStream(await url(''));
    const failedExports = await connectStream(await url('&stage=export&outcome=failed'));
    await untilLive(fixture, everything);
    const other = await createTenant(fixture.orm.em, { tenant: uniqueName('initech') });
    await produceLogEvents(fixture, [
      logEvent(other.tenantId, { category: 'seq', message: '-1', stage: 'export', outcome: 'failed' }),
      logEvent(fixture.tenantId, { category: 'seq', message: '1', stage: 'export', outcome: 'succeeded' }),
      logEvent(fixture.tenantId, {
        category: 'seq',
        message: '2',
        stage: 'export',
        outcome: 'failed',
        errorCode: 'JNY_EXPORT_FAILED',
        reason: 'the directory refused the password',
      }),
      logEvent(fixture.tenantId, { category: 'seq', message: '3', stage: 'import' }),
    ]);
    await everything.until('event 3', (frame) => frame.type === 'event' && frame.event.message === '3');
    await failedExports.until('event 2', (frame) => frame.type === 'event' && frame.event.message === '2');
    expect(numbered(everything.frames)).toEqual([1, 2, 3]);
    expect(numbered(failedExports.frames)).toEqual([2]);
    everything.socket.close();
    failedExports.socket.close();
  });

  it('resumes from lastEventId without a gap', async () => {
    const first = await connectStream(await url('&stage=admin'));
    await produceNumbered(fixture, 1, 30, 'admin');
    const thirtieth = await untilNumbered(first, 30);
    first.socket.close();
    await first.closed;
    const consumedBefore = app.liveStreams.hub?.stats().consumed ?? 0;
    // Produced while no one listens.
    await produceNumbered(fixture, 31, 40, 'admin');
    await waitFor('the hub to consume the 40', async () =>
      (app.liveStreams.hub?.stats().consumed ?? 0) >= consumedBefore + 40 ? true : undefined,
    );
    const again = await connectStream(await url(`&stage=admin&lastEventId=${thirtieth.id}`));
    await again.until('resumed', (frame) => frame.type === 'resumed');
    await produceNumbered(fixture, 71, 1, 'admin');
    await untilNumbered(again, 71);
    const seq = numbered(again.frames);
    expect(seq).toEqual(Array.from({ length: 41 }, (_, index) => index + 31));
    const resumedAt = again.frames.findIndex((frame) => frame.type === 'resumed');
    expect(again.frames[resumedAt]).toEqual({ type: 'resumed', after: thirtieth.id, replayed: 40 });
    expect(again.frames.some((frame) => frame.type === 'missed')).toBe(false);
    again.socket.close();
  });

  it('resumes from lastEventId across a restart of the server, from the events it reads back on start', async () => {
    const first = await connectStream(await url('&stage=import'));
    await produceNumbered(fixture, 1, 20, 'import');
    const twentieth = await untilNumbered(first, 20);
    await app.close();
    await first.closed;
    // Produced while the server is down; the partition's last record is not an event (the hub skips it, and
    // its read-back still ends there).
    await produceNumbered(fixture, 21, 30, 'import');
    await fixture.send('logstream', [
      { key: fixture.tenantId, value: 'not JSON', headers: { ce_type: 'joinery.log.v1' } },
    ]);
    ({ app, base } = await liveApp(fixture, tokenKey));
    const fresh = await connectStream(await url('&stage=import'));
    const again = await connectStream(await url(`&stage=import&lastEventId=${twentieth.id}`));
    await again.until('resumed', (frame) => frame.type === 'resumed');
    await produceNumbered(fixture, 51, 1, 'import');
    await untilNumbered(again, 51);
    await untilNumbered(fresh, 51);
    expect(numbered(again.frames)).toEqual(Array.from({ length: 31 }, (_, index) => index + 21));
    expect(again.frames.find((frame) => frame.type === 'resumed')).toEqual({
      type: 'resumed',
      after: twentieth.id,
      replayed: 30,
    });
    expect(again.frames.some((frame) => frame.type === 'missed')).toBe(false);
    // A new connection gets what happens from now on, not what was read back.
    expect(numbered(fresh.frames)).toEqual([51]);
    // No hub leaves offsets behind in the embedded bus: the closed one's group is deleted, the running one
    // commits none.
    if (busKind === 'embedded') {
      const groups = await query<{ group_id: string }>(
        fixture.database.url,
        `select distinct group_id from bus_group_offset where group_id like 'joinery-live-%'`,
      );
      expect(groups).toEqual([]);
    }
    again.socket.close();
    fresh.socket.close();
  });

  it('holds a client that stops reading to its bound, and tells it how many events it missed', async () => {
    const slow = await connectStream(await url('&stage=connector'));
    await untilLive(fixture, await connectStream(await url('')));
    // The client stops reading: its TCP window fills, then ws buffers, then the hub's queue.
    slow.socket.pause();
    const total = 3000;
    const before = app.liveStreams.hub?.stats().consumed ?? 0;
    const padding = 'x'.repeat(4000);
    await produceLogEvents(
      fixture,
      Array.from({ length: total }, (_, index) =>
        logEvent(fixture.tenantId, {
          category: 'seq',
          message: String(index + 1),
          stage: 'connector',
          reason: padding,
        }),
      ),
    );
    await waitFor('the hub to consume them', async () =>
      (app.liveStreams.hub?.stats().consumed ?? 0) >= before + total ? true : undefined,
    );
    const held = app.liveStreams.hub?.stats().queues ?? [];
    const worst = Math.max(...held.map((queue) => queue.bytes + queue.buffered));
    // The queue's bytes, a drop notice per hole, and what ws holds past the high-water mark (one frame).
    expect(worst).toBeLessThanOrEqual(limits.maxBytes + limits.maxEvents * 96 + limits.highWaterBytes + 8192);
    expect(held.some((queue) => queue.dropped > 0)).toBe(true);
    console.log(
      `[live-streams ${busKind}] a client that stopped reading: at most ${String(worst)} bytes held for it, ${String(Math.max(...held.map((queue) => queue.dropped)))} of ${String(total)} events dropped`,
    );

    slow.socket.resume();
    await waitFor('every event delivered or counted as dropped', async () => {
      const delivered = numbered(slow.frames).length;
      const dropped = slow.frames.reduce(
        (sum, frame) => sum + (frame.type === 'dropped' ? frame.count : 0),
        0,
      );
      return delivered + dropped === total ? true : undefined;
    });
    const delivered = numbered(slow.frames);
    // What arrived is in order, and the holes are exactly where the notices say.
    expect(delivered).toEqual([...delivered].sort((a, b) => a - b));
    expect(slow.frames.some((frame) => frame.type === 'dropped')).toBe(true);
    expect(delivered.length).toBeLessThan(total);
    slow.socket.close();
  });

  it("streams a run: its snapshot, then the engine's exact counters until it completes", async () => {
    // A tenant of its own: its export queue holds only what this case queues (the first case leaves a run
    // in the shared tenant, imported once this engine starts, and a connector would claim its export too).
    const tenant = await createTenant(fixture.orm.em, { tenant: uniqueName('runs') });
    const engine: Engine = await startTestEngine(fixture);
    try {
      const applications = (
        await applyPlan(fixture.orm.em, {
          tenantId: tenant.tenantId,
          sourceName: 'plan.yaml',
          appliedBy: 'test',
          source: planSource,
        })
      ).applications;
      const [hr, saas] = [applications[0]?.id ?? '', applications[1]?.id ?? ''];
      const importFile = async (rows: string[]) => {
        const run = await app.inject({
          method: 'POST',
          url: `/v1/applications/${hr}/imports`,
          headers: { authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'text/csv' },
          payload: ['Employee Number,First Name', ...rows].join('\n') + '\n',
        });
        expect(run.statusCode, run.body).toBe(202);
        return run.json<{ runId: string }>().runId;
      };
      const readRun = async (id: string) =>
        (
          await app.inject({
            method: 'GET',
            url: `/v1/runs/${id}`,
            headers: { authorization: `Bearer ${tenant.apiKey}` },
          })
        ).json<{ streamUrl: string; exports: Omit<NonNullable<RunProgress['stages']['export']>, 'at'> }>();
      // An earlier run of one person: its export is queued before any of the next run's.
      const earlier = await importFile(['E1,Ada']);
      await waitFor("the earlier run's exports", async () => {
        const { exports } = await readRun(earlier);
        return exports.queued === 1 && exports.held === 1 ? true : undefined;
      });

      const rows = Array.from(
        { length: 2000 },
        (_, index) => `E${String(index + 1000)},Person ${String(index)}`,
      );
      // One malformed row (a field too many): rejected with its line and reason, the run goes on (as a
      // delta, so Ada, absent from this file, is not deleted).
      rows.splice(500, 0, 'E-bad,Grace,oops');
      const runId = await importFile(rows);
      const client = await connectStream(
        `${base}${(await readRun(runId)).streamUrl}&token=${encodeURIComponent(await mintToken(app, tenant.apiKey))}`,
      );
      const snapshot = await client.until('snapshot', (frame) => frame.type === 'snapshot');
      expect(snapshot).toMatchObject({ type: 'snapshot', run: { id: runId, applicationId: hr } });
      const isDone = (progress: RunProgress) =>
        progress.status === 'completed' &&
        progress.stages.join !== null &&
        progress.stages.join.joined === 2000;
      await client.until(
        'the run to complete',
        (frame) => (frame.type === 'snapshot' || frame.type === 'progress') && isDone(frame.run),
        60_000,
      );
      const last = client.frames
        .filter((frame) => frame.type === 'progress' || frame.type === 'snapshot')
        .at(-1);
      expect(
        last?.type === 'progress' || last?.type === 'snapshot' ? last.run.stages.import : undefined,
      ).toEqual({
        seen: 2000,
        total: 2000,
        rejected: 1,
        deletions: 0,
      });
      // Events of the run reach its stream; another run's do not.
      await produceLogEvents(fixture, [
        logEvent(tenant.tenantId, { category: 'seq', message: '1', runId: randomUUID(), stage: 'import' }),
        logEvent(tenant.tenantId, {
          category: 'seq',
          message: '2',
          runId,
          stage: 'import',
          outcome: 'failed',
          reason: 'bad row',
        }),
      ]);
      await client.until('its event', (frame) => frame.type === 'event' && frame.event.message === '2');
      expect(numbered(client.frames)).toEqual([2]);

      // The exports the run caused, counted in it: every person queued for one target, held for the
      // other; then the connector delivers some, and some fail — the run's counters follow, after its end.
      const exportsAre = (expected: Omit<NonNullable<RunProgress['stages']['export']>, 'at'>) =>
        client.until(
          `the run's exports ${JSON.stringify(expected)}`,
          (frame) =>
            (frame.type === 'snapshot' || frame.type === 'progress') &&
            frame.run.stages.export !== null &&
            Object.entries(expected).every(
              ([status, count]) => frame.run.stages.export?.[status as keyof typeof expected] === count,
            ),
          60_000,
        );
      await exportsAre({ queued: 2000, held: 2000, delivered: 0, failed: 0, sandbox: 0 });
      // A connector claims the application's due exports in queue order, whatever run caused them: the
      // earlier run's first, then ten of this run's. Each result counts in the run of the export it answers.
      const claimed = await claimExports(fixture.orm.em.fork(), {
        tenantId: tenant.tenantId,
        applicationIds: [saas],
        limit: 11,
        leaseMs: 60_000,
      });
      expect(claimed).toHaveLength(11);
      expect(claimed[0]?.attributes).toEqual({ userName: 'E1' });
      for (const [index, item] of claimed.entries())
        await recordExportResult(fixture.orm.em.fork(), {
          tenantId: tenant.tenantId,
          exportId: item.exportId,
          result:
            index < 8
              ? { status: 'succeeded', externalId: `user-${String(index)}` }
              : { status: 'failed', code: 'SCIM_400', message: 'refused', retriable: false },
        });
      const delivered = { queued: 1990, held: 2000, delivered: 7, failed: 3, sandbox: 0 };
      await exportsAre(delivered);
      expect((await readRun(runId)).exports).toMatchObject(delivered);
      expect((await readRun(earlier)).exports).toMatchObject({
        queued: 0,
        held: 1,
        delivered: 1,
        failed: 0,
        sandbox: 0,
      });
      client.socket.close();
    } finally {
      await engine.stop();
    }
  }, 90_000);
});
