// The audit history end to end on the real Kafka broker and PostgreSQL (issue 20, items 1 and 2): a small
// sync — an HR file uploaded through the API, a SaaS account joined by a joining rule, its update exported
// and its result reported — and then the API asked what happened to the person: the import, the join with
// its rule, the attribute changes old → new (the sensitive salary masked) and the export, page by page,
// filtered, as CSV and JSON lines; another tenant's key sees none of it; a redelivered event is stored once.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { buildApp, type App } from '../../src/api/app.ts';
import { createAuditBatchHandler } from '../../src/audit/audit-consumer.ts';
import { claimExports, recordExportResult } from '../../src/engine/export-queue.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { createTenant, type IssuedServiceAccount } from '../../src/tenancy/tenants.ts';
import { MASKED_VALUE, type LogEvent } from '../../kernel/contracts/messages.ts';
import { decodeMessage } from '../../streams/cloudevents.ts';
import { processPartitionBatch, type ConsumedMessage } from '../../streams/partition-batch.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';
import {
  createStreamsFixture,
  importObjectMessage,
  startTestEngine,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';

type Item = LogEvent & { id: string };
interface Page {
  items: Item[];
  nextCursor: string | null;
}

describe('audit history (real Kafka and PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let app: App;
  let globex: IssuedServiceAccount;
  const apps = { hr: '', saas: '' };
  let identityId = '';

  const plan = [
    'version: 1',
    'vault:',
    '  attributes: { employeeId: {}, givenName: {}, salary: { sensitive: true } }',
    'applications:',
    '  - name: hr',
    '    type: csv',
    '    createsIdentities: true',
    '    objectClasses:',
    '      worker: { attributes: { WorkerID: {}, FirstName: {}, Salary: { sensitive: true } } }',
    '    csv: { externalId: WorkerID }',
    '    inbound:',
    '      - { vault: employeeId, from: WorkerID, authority: 100 }',
    '      - { vault: givenName, from: FirstName, authority: 100 }',
    '      - { vault: salary, from: Salary, authority: 100 }',
    '    joining: [{ name: worker id, all: [{ source: WorkerID, vault: employeeId }] }]',
    '  - name: saas',
    '    type: scim',
    '    mode: live',
    '    objectClasses:',
    '      User: { attributes: { userName: { direction: both }, displayName: { direction: both } } }',
    '    joining: [{ name: user name, all: [{ source: userName, vault: employeeId }] }]',
    '    outbound:',
    '      - { target: userName, from: employeeId }',
    '      - { target: displayName, from: givenName }',
  ].join('\n');

  const get = (url: string, apiKey = fixture.apiKey, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${apiKey}`, ...headers } });
  const upload = async (csv: string) => {
    const response = await app.inject({
      method: 'POST',
      url: `/v1/applications/${apps.hr}/imports`,
      headers: { authorization: `Bearer ${fixture.apiKey}`, 'content-type': 'text/csv' },
      payload: csv,
    });
    expect(response.statusCode, response.body).toBe(202);
    return response.json<{ runId: string }>().runId;
  };
  const history = async (query = '') =>
    (await get(`/v1/identities/${identityId}/history${query}`)).json<Page>();
  /** The identity's whole history once `ready` holds for it. */
  const historyWhen = (what: string, ready: (items: Item[]) => boolean) =>
    waitFor(`the history to show ${what}`, async () => {
      const { items } = await history('?limit=500');
      return ready(items) ? items : undefined;
    });

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    engine = await startTestEngine(fixture, { masterKeys: { current: randomBytes(32), previous: [] } });
    app = await buildApp({
      orm: fixture.orm,
      readiness: createReadiness({}),
      logger: silentLogger,
      topicPrefix: fixture.topics.topicPrefix,
      bus: fixture.bus,
    });
    globex = await createTenant(fixture.orm.em, { tenant: uniqueName('globex') });
    const applied = await applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
      source: plan,
    });
    const ids = new Map(applied.applications.map((a) => [a.name, a.id]));
    apps.hr = ids.get('hr') ?? '';
    apps.saas = ids.get('saas') ?? '';

    // The sync: Ada arrives from HR, her SaaS account joins her by rule, its update is exported.
    const firstRun = await upload('WorkerID,FirstName,Salary\nE1,Ada,50000\n');
    identityId = await waitFor('Ada to be projected', async () => {
      const { items } = (await get('/v1/identities?attribute=employeeId&value=E1')).json<{
        items: { id: string }[];
      }>();
      return items[0]?.id;
    });
    await fixture.send('imports', [
      importObjectMessage({
        tenantId: fixture.tenantId,
        applicationId: apps.saas,
        objectClass: 'User',
        externalId: 'ada',
        attributes: { userName: 'E1', displayName: 'A. Lovelace' },
      }),
    ]);
    const [claimed] = await waitFor('the SaaS update to be queued', async () => {
      const exports = await claimExports(fixture.orm.em, {
        tenantId: fixture.tenantId,
        applicationIds: [apps.saas],
        limit: 10,
        leaseMs: 60_000,
      });
      return exports.length > 0 ? exports : undefined;
    });
    if (claimed === undefined) throw new Error('nothing claimed');
    await recordExportResult(fixture.orm.em, {
      tenantId: fixture.tenantId,
      exportId: claimed.exportId,
      result: { status: 'succeeded', externalId: 'ada' },
      logstream: {
        topic: fixture.topic('logstream'),
        source: '/tests/connector',
        actor: { kind: 'connector', id: 'scim-test' },
      },
    });
    // HR changes her first name and salary.
    await upload('WorkerID,FirstName,Salary\nE1,Adeline,52000\n');
    expect(firstRun).not.toBe('');
  }, 120_000);
  afterAll(async () => {
    await app.close();
    await engine.stop();
    await fixture.close();
  });

  it('tells everything that happened to an identity: import, join by rule, changes old → new, export', async () => {
    const items = await historyWhen(
      'the second import and the export result',
      (all) =>
        all.some((item) => item.stage === 'export') &&
        all.some(
          (item) => item.stage === 'inbound' && item.changes?.some((c) => c.new === 'Adeline') === true,
        ),
    );
    // Newest first.
    const times = items.map((item) => Date.parse(item.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(items).toEqual(
      expect.arrayContaining([
        // The first HR import projected her; the SaaS account joined by the joining rule.
        expect.objectContaining({
          stage: 'join',
          outcome: 'succeeded',
          applicationId: apps.hr,
          externalId: 'E1',
          decidedBy: { kind: 'plan', name: 'createsIdentities' },
        }),
        expect.objectContaining({
          stage: 'join',
          outcome: 'succeeded',
          applicationId: apps.saas,
          externalId: 'ada',
          decidedBy: { kind: 'joining-rule', name: 'user name' },
        }),
        // The second HR import: the object changed, her attributes old → new, the salary masked.
        expect.objectContaining({ stage: 'import', applicationId: apps.hr, externalId: 'E1' }),
        expect.objectContaining({
          stage: 'inbound',
          applicationId: apps.hr,
          changes: [
            { attribute: 'givenName', old: 'Ada', new: 'Adeline' },
            { attribute: 'salary', old: MASKED_VALUE, new: MASKED_VALUE },
          ],
        }),
        // The update queued for the SaaS account, and the connector's result.
        expect.objectContaining({
          stage: 'outbound',
          outcome: 'succeeded',
          applicationId: apps.saas,
          changes: expect.arrayContaining([{ attribute: 'displayName', new: 'Ada' }]) as unknown,
        }),
        expect.objectContaining({
          stage: 'export',
          outcome: 'succeeded',
          externalId: 'ada',
          actor: { kind: 'connector', id: 'scim-test' },
        }),
      ]),
    );
    const first = items.find(
      (item) => item.stage === 'inbound' && item.changes?.some((c) => c.attribute === 'employeeId') === true,
    );
    expect(first?.changes).toEqual([
      { attribute: 'employeeId', new: 'E1' },
      { attribute: 'givenName', new: 'Ada' },
      { attribute: 'salary', new: MASKED_VALUE },
    ]);
    // No salary figure anywhere in what was stored.
    const { rows } = await sql<{ n: string }>`
      select count(*) as n from audit_event where tenant_id = ${fixture.tenantId}
        and (event::text like '%50000%' or event::text like '%52000%')`.execute(fixture.orm.em.getKysely());
    expect(Number(rows[0]?.n)).toBe(0);
  });

  it('pages newest first with a cursor, and filters by stage, outcome, object, run and time', async () => {
    const all = (await history('?limit=500')).items;
    const seen: string[] = [];
    let url = `/v1/identities/${identityId}/history?limit=2`;
    for (let pages = 0; pages < 100; pages++) {
      const body = (await get(url)).json<Page>();
      expect(body.items.length).toBeLessThanOrEqual(2);
      seen.push(...body.items.map((item) => item.id));
      if (body.nextCursor === null) break;
      url = `/v1/identities/${identityId}/history?limit=2&after=${body.nextCursor}`;
    }
    expect(seen).toEqual(all.map((item) => item.id));

    const joins = (await get(`/v1/audit?identityId=${identityId}&stage=join`)).json<Page>().items;
    expect(joins.map((item) => item.externalId).sort()).toEqual(['E1', 'ada']);
    const object = (await get(`/v1/audit?applicationId=${apps.saas}&externalId=ada`)).json<Page>().items;
    expect(object.length).toBeGreaterThan(0);
    expect(object.every((item) => item.externalId === 'ada')).toBe(true);
    const runId = all.find((item) => item.runId !== undefined)?.runId ?? '';
    const run = (await get(`/v1/audit?runId=${runId}`)).json<Page>().items;
    expect(run.some((item) => item.stage === 'import' && /started/.test(item.message))).toBe(true);
    expect(run.every((item) => item.runId === runId)).toBe(true);
    const succeeded = (await get(`/v1/audit?outcome=succeeded&stage=export`)).json<Page>().items;
    expect(succeeded.map((item) => item.stage)).toEqual(['export']);
    const future = encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString());
    expect((await get(`/v1/audit?from=${future}`)).json<Page>().items).toEqual([]);
  });

  it('streams the history as CSV and as JSON lines', async () => {
    const all = (await history('?limit=500')).items;
    const csv = await get(`/v1/identities/${identityId}/history`, fixture.apiKey, { accept: 'text/csv' });
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const lines = csv.body.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^at,id,stage,outcome,level,category,message,/);
    expect(lines.length).toBeGreaterThanOrEqual(all.length + 1);
    const ndjson = await get(`/v1/identities/${identityId}/history?format=ndjson`);
    expect(ndjson.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const events = ndjson.body
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Item);
    expect(events.map((event) => event.id)).toEqual(all.map((item) => item.id));
  });

  it("shows another tenant nothing, and refuses bad filters in the API's error shape", async () => {
    expect((await get(`/v1/identities/${identityId}/history`, globex.apiKey)).statusCode).toBe(404);
    expect((await get(`/v1/audit?identityId=${identityId}`, globex.apiKey)).json<Page>().items).toEqual([]);
    expect((await get('/v1/audit', globex.apiKey)).json<Page>().items).toEqual([]);
    for (const query of [
      'limit=9000',
      'after=nope',
      'stage=everything',
      'from=yesterday',
      `externalId=ada`,
    ]) {
      const response = await get(`/v1/audit?${query}`);
      expect(response.statusCode, query).toBe(400);
      expect(response.json<{ error: { code: string; message: string } }>().error.message).toMatch(
        /querystring\//,
      );
    }
  });

  it('stores a redelivered event once', async () => {
    const { rows } = await sql<{ event: LogEvent; event_id: string }>`
      select event, event_id from audit_event where tenant_id = ${fixture.tenantId} limit 1`.execute(
      fixture.orm.em.getKysely(),
    );
    const stored = rows[0];
    if (stored === undefined) throw new Error('no event stored');
    const count = async () =>
      Number(
        (
          await sql<{
            n: string;
          }>`select count(*) as n from audit_event where event_id = ${stored.event_id}`.execute(
            fixture.orm.em.getKysely(),
          )
        ).rows[0]?.n,
      );
    // The same CloudEvent again, as the relay publishes it after a crash between its send and its delete:
    // on another offset, through the consumer's own batch handler.
    const message: ConsumedMessage = {
      topic: 'logstream',
      topicName: fixture.topic('logstream'),
      partition: 0,
      offset: '999999',
      key: Buffer.from(fixture.tenantId),
      value: Buffer.from(JSON.stringify(stored.event)),
      headers: {
        ce_specversion: '1.0',
        ce_id: stored.event_id,
        ce_type: 'joinery.log.v1',
        ce_source: '/tests',
        ce_time: stored.event.at,
        ce_tenantid: fixture.tenantId,
        ce_dataschema: 'https://joinery.dev/schemas/joinery.log.v1.json',
        'content-type': 'application/json',
      },
    };
    expect(decodeMessage('logstream', message).ok).toBe(true);
    const handle = createAuditBatchHandler();
    await processPartitionBatch({
      em: fixture.orm.em,
      groupId: `${fixture.groupId}.redelivery`,
      deadletterTopic: fixture.topic('deadletter'),
      messages: [message],
      handle,
    });
    expect(handle.counters).toEqual({ stored: 0, duplicates: 1 });
    expect(await count()).toBe(1);
  });
});
