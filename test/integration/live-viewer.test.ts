// The live viewer end to end (issue 20, item 4) in real headless Chromium (Debian's chromium, installed by
// the project's infrastructure code, driven by playwright-core), against the real API, engine, Kafka and
// PostgreSQL: sign in with an API key, watch a CSV sync of thousands of people advance to completion with
// exact counts, see its malformed row with its reason, and keep a screenshot (test-results/); then open a
// person's identity page and read their audit history, with a later change shown before → after; find a
// person by an attribute, and watch the tenant's events live, narrowed to one stage.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { chromiumArgs, ensureChromium } from '../../src/infra/chromium.ts';
import { projectRoot } from '../../src/infra/process.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { silentLogger } from '../support/factories.ts';
import { logEvent, produceLogEvents } from '../support/live-streams.ts';
import {
  createStreamsFixture,
  importObjectMessage,
  query,
  startTestEngine,
  waitFor,
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
].join('\n');

const PEOPLE = 6000;

describe('the live viewer in headless Chromium (real API, engine, Kafka and PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let app: App;
  let browser: Browser;
  let base: string;
  let hr: string;
  let page: Page;

  beforeAll(async () => {
    const { executablePath } = await ensureChromium();
    fixture = await createStreamsFixture();
    engine = await startTestEngine(fixture);
    app = await buildApp({
      orm: fixture.orm,
      readiness: createReadiness({}),
      logger: silentLogger,
      topicPrefix: fixture.topics.topicPrefix,
      bus: fixture.bus,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    base = `http://127.0.0.1:${String(typeof address === 'object' && address !== null ? address.port : 0)}`;
    await app.liveStreams.hub?.ready();
    const applied = await applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
      source: planSource,
    });
    hr = applied.applications[0]?.id ?? '';
    browser = await chromium.launch({ executablePath, headless: true, args: [...chromiumArgs] });
  }, 600_000);
  afterAll(async () => {
    await browser.close();
    await app.close();
    await engine.stop();
    await fixture.close();
  });

  it('shows a sync advance to completion with exact counts and its bad row with the reason', async () => {
    page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    const served = await page.goto(`${base}/viewer/`);
    expect(served?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.fill('#api-key', fixture.apiKey);
    await page.click('button[type=submit]');
    await page.waitForSelector('text=Sync runs');

    // The sync: a CSV upload through the API, with one malformed row (a field too many).
    const rows = Array.from(
      { length: PEOPLE },
      (_, index) => `E${String(100_000 + index)},Person ${String(index)}`,
    );
    rows.splice(1234, 0, 'E-bad,Grace,oops');
    const badLine = 1234 + 2;
    const upload = fetch(`${base}/v1/applications/${hr}/imports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fixture.apiKey}`, 'content-type': 'text/csv' },
      body: ['Employee Number,First Name', ...rows].join('\n') + '\n',
    });
    // The run is listed as soon as the upload starts: the viewer's list shows it, and we open it.
    const link = await page.waitForSelector('a[data-run]', { timeout: 30_000 });
    const runId = (await link.getAttribute('data-run')) ?? '';
    await link.click();
    await page.waitForSelector('[data-run-status]');

    // What the page shows, sampled while it runs: the count only goes up.
    const seenValues: number[] = [];
    const seen = async () =>
      Number(
        ((await page.textContent('[data-stage=import] [data-count=seen]')) ?? '').replace(/\D/g, '') || '0',
      );
    const answer = await upload;
    expect(answer.status).toBe(202);
    // A live error of the run, as the engine's stages will emit them: shown with its object and reason.
    await produceLogEvents(fixture, [
      logEvent(fixture.tenantId, {
        category: 'export',
        message: 'export failed',
        level: 'error',
        stage: 'export',
        outcome: 'failed',
        runId,
        externalId: 'uid=E100007',
        errorCode: 'JNY_EXPORT_REFUSED',
        reason: 'the directory refused the password: too short',
      }),
    ]);
    await waitFor(
      'the viewer to show the run completed',
      async () => {
        seenValues.push(await seen());
        const status = await page.getAttribute('[data-run-status]', 'data-run-status');
        const joined = await page.textContent('[data-stage=join] [data-count=joined]');
        return status === 'completed' && joined === PEOPLE.toLocaleString('en-US') ? true : undefined;
      },
      90_000,
    );
    expect(await page.textContent('[data-stage=import] [data-count=seen]')).toBe(
      PEOPLE.toLocaleString('en-US'),
    );
    expect(await page.textContent('[data-stage=import] [data-count=rejected]')).toBe('1');
    expect(seenValues).toEqual([...seenValues].sort((a, b) => a - b));
    await page.waitForSelector(`[data-error=rejected-row] >> text=line ${String(badLine)}`);
    expect(await page.textContent('[data-error=rejected-row]')).toContain(
      'the row does not have as many fields as the header',
    );
    await page.waitForSelector('[data-error=event] >> text=uid=E100007');
    expect(await page.textContent('[data-error=event]')).toContain('too short');

    const dir = join(projectRoot, 'test-results');
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, 'live-viewer-run.png'), fullPage: true });
    console.log(`[live-viewer] seen values sampled: ${[...new Set(seenValues)].join(', ')}`);
    expect(problems).toEqual([]);
  }, 180_000);

  it("shows a person's audit history on their identity page, a later change before → after", async () => {
    // The sync above made the person; a later change of their first name comes as a delta import.
    const [person] = await query<{ identity_id: string }>(
      fixture.database.url,
      `select identity_id from repository_object where application_id = $1 and external_id = 'E100000'`,
      [hr],
    );
    const identityId = person?.identity_id ?? '';
    await fixture.send('imports', [
      importObjectMessage({
        tenantId: fixture.tenantId,
        applicationId: hr,
        objectClass: 'worker',
        externalId: 'E100000',
        attributes: { WorkerID: 'E100000', FirstName: 'Ada' },
      }),
    ]);
    await waitFor('the change in the audit history', async () => {
      const [row] = await query(
        fixture.database.url,
        `select 1 from audit_event where tenant_id = $1 and identity_id = $2 and stage = 'inbound'
           and event->'changes' @> '[{"attribute": "givenName", "new": "Ada"}]'`,
        [fixture.tenantId, identityId],
      );
      return row;
    });

    await page.goto(`${base}/viewer/#/identities/${identityId}`);
    await page.waitForSelector('[data-history=loaded] [data-history-event]');
    const change = page.locator('[data-history-event] [data-change=givenName]').first();
    expect(await change.locator('.old').textContent()).toBe('"Person 0"');
    expect(await change.locator('.new').textContent()).toBe('"Ada"');
    // The history goes back to how the person came to be: joined by the plan (projected), first name set.
    const history = (await page.textContent('[data-history]')) ?? '';
    expect(history).toContain('plan createsIdentities');
    expect(history).toContain('mapper');
    await page.screenshot({
      path: join(projectRoot, 'test-results', 'live-viewer-identity.png'),
      fullPage: true,
    });
  }, 60_000);

  it('pages a long identity history: 50 events, then "Older events" shows the older ones', async () => {
    const [person] = await query<{ identity_id: string }>(
      fixture.database.url,
      `select identity_id from repository_object where application_id = $1 and external_id = 'E100001'`,
      [hr],
    );
    const identityId = person?.identity_id ?? '';
    // 60 earlier events of this person (two hours ago, a minute apart), beside those of the sync above.
    const earlier = Date.now() - 2 * 3600_000;
    await produceLogEvents(
      fixture,
      Array.from({ length: 60 }, (_, index) =>
        logEvent(fixture.tenantId, {
          at: new Date(earlier + index * 60_000).toISOString(),
          category: 'lifecycle',
          stage: 'inbound',
          outcome: 'succeeded',
          message: `earlier event ${String(index)}`,
          identityId,
        }),
      ),
    );
    const total = await waitFor('the earlier events in the audit history', async () => {
      const rows = await query<{ count: string; earlier: string }>(
        fixture.database.url,
        `select count(*) as count, count(*) filter (where event->>'message' like 'earlier event %') as earlier
           from audit_event where tenant_id = $1 and identity_id = $2`,
        [fixture.tenantId, identityId],
      );
      const counted = rows[0];
      return counted !== undefined && Number(counted.earlier) === 60 ? Number(counted.count) : undefined;
    });
    expect(total).toBeGreaterThan(60);

    await page.goto(`${base}/viewer/#/identities/${identityId}`);
    await page.waitForSelector('[data-history=loaded] [data-history-event]');
    const events = page.locator('[data-history] [data-history-event]');
    /** The earlier events shown, by their number, in the page's order. */
    const earlierShown = async () =>
      (await events.allTextContents())
        .map((text) => /earlier event (\d+)/.exec(text)?.[1])
        .filter((index) => index !== undefined)
        .map(Number);
    // The page may still show this person's history from the first case for a moment (the same page, another
    // hash): its first page of 50 is what comes once it has loaded the history again.
    await waitFor('the first page of 50 events', async () =>
      (await events.count()) === 50 ? true : undefined,
    );
    // Newest first: the sync's events, then the latest of the earlier ones; the oldest are not shown yet.
    const firstPage = await earlierShown();
    expect(firstPage.length).toBe(50 - (total - 60));
    expect(firstPage[0]).toBe(59);
    expect(firstPage).not.toContain(0);

    await page.click('[data-history] button[data-older]');
    await waitFor('the older events to be shown', async () =>
      (await events.count()) === total ? true : undefined,
    );
    expect(await earlierShown()).toEqual(Array.from({ length: 60 }, (_, index) => 59 - index));
    // The last page has no further cursor: no "Older events" button is left.
    expect(await page.locator('[data-history] button[data-older]').count()).toBe(0);
  }, 90_000);

  it("finds a person by an attribute's value and watches the tenant's events live, narrowed to a stage", async () => {
    const [person] = await query<{ identity_id: string }>(
      fixture.database.url,
      `select identity_id from repository_object where application_id = $1 and external_id = 'E100002'`,
      [hr],
    );
    const identityId = person?.identity_id ?? '';
    expect(identityId).not.toBe('');

    // People: employeeId, in another case than stored, finds the one person; their page opens from the list.
    await page.goto(`${base}/viewer/#/people`);
    await page.fill('input[name=attribute]', 'employeeId');
    await page.fill('input[name=value]', 'e100002');
    await page.click('form.filters button[type=submit]');
    const found = page.locator('[data-people=found] a[data-identity]');
    await found.first().waitFor();
    expect(await found.count()).toBe(1);
    expect(await found.getAttribute('data-identity')).toBe(identityId);
    await found.click();
    await page.waitForSelector('[data-history=loaded] [data-history-event]');
    expect(page.url()).toContain(`#/identities/${identityId}`);
    // Nobody has an unknown value: said, not an empty table.
    await page.goto(`${base}/viewer/#/people`);
    await page.fill('input[name=value]', 'E999999');
    await page.click('form.filters button[type=submit]');
    await page.waitForSelector('[data-people=none]');

    // Live: the tenant's stream, narrowed to the Inbound stage on the server.
    await page.goto(`${base}/viewer/#/live`);
    await page.waitForSelector('[data-stream-status=live]');
    await page.selectOption('select[name=stage]', 'inbound');
    // The stream opened for the new filter, not the one it replaced (which is live until the page closes it).
    await page.waitForSelector('[data-stream-status=live][data-stream-stage=inbound]');
    // An event of another stage, then the person's change: only the change is shown.
    await produceLogEvents(fixture, [
      logEvent(fixture.tenantId, {
        category: 'lifecycle',
        stage: 'pulse',
        outcome: 'succeeded',
        message: 'a pulse the filter leaves out',
        identityId,
      }),
    ]);
    await fixture.send('imports', [
      importObjectMessage({
        tenantId: fixture.tenantId,
        applicationId: hr,
        objectClass: 'worker',
        externalId: 'E100002',
        attributes: { WorkerID: 'E100002', FirstName: 'Grace' },
      }),
    ]);
    const change = page.locator('[data-live-events] [data-change=givenName] .new', { hasText: '"Grace"' });
    await change.first().waitFor({ timeout: 30_000 });
    const stages = await page.locator('[data-live-events] [data-history-event] .stage').allTextContents();
    expect(stages.length).toBeGreaterThan(0);
    expect(new Set(stages)).toEqual(new Set(['inbound']));
    await page.screenshot({
      path: join(projectRoot, 'test-results', 'live-viewer-live.png'),
      fullPage: true,
    });
  }, 90_000);
});
