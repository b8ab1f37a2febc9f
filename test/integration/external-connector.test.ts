// A connector outside Joinery, over Kafka (docs/connectors.md, "External connectors over Kafka"), on the real
// broker and PostgreSQL: an application with `connector: external` in live mode gets its exports on the
// `exports` topic, and a small connector written here with kafkajs — the docs' example — carries them out
// in an in-memory store and answers on `export-results`. Creates and updates arrive in order per object, a
// retriable failure is retried, an export left unanswered comes back with the same exportId, duplicate and
// stale results change nothing, malformed results go to deadletter with their reason while good ones land,
// and the connector's next import confirms what it wrote.
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { encodeMessage } from '../../streams/cloudevents.ts';
import { uniqueName } from '../support/factories.ts';
import { waitUntilSettled } from '../support/settled.ts';
import {
  createStreamsFixture,
  exportQueue,
  header,
  importMessage,
  query,
  readTopic,
  startTestEngine,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';

type Export = MessageData<'joinery.export.v1'>;
type Result = MessageData<'joinery.export.result.v1'>;

/**
 * The external connector, as docs/connectors.md shows it: consume `exports`, write the application, answer
 * each export on `export-results` — idempotent on exportId, so a redelivery is answered, not done twice.
 * `write` is the application: it returns the object's id, or throws an error saying whether to retry (here
 * it may also return null: the reply is lost on the way, as when the connector dies before answering).
 */
async function startExternalConnector(options: {
  kafka: Kafka;
  prefix: string;
  write: (operation: Export) => string | null | Promise<string | null>;
}) {
  const consumer = options.kafka.consumer({ groupId: `${options.prefix}my-connector` });
  const producer = options.kafka.producer({ idempotent: true });
  const done = new Map<string, Result>(); // exportId → the answer given (persist it in a real connector)
  await Promise.all([consumer.connect(), producer.connect()]);
  await consumer.subscribe({ topics: [`${options.prefix}exports`], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const operation = JSON.parse(message.value?.toString() ?? 'null') as Export;
      const at = new Date().toISOString();
      const base = { tenantId: operation.tenantId, exportId: operation.exportId };
      let result = done.get(operation.exportId);
      if (result === undefined) {
        try {
          const externalId = await options.write(operation);
          if (externalId === null) return;
          result = { ...base, applicationId: operation.applicationId, status: 'succeeded', externalId, at };
          done.set(operation.exportId, result);
        } catch (error) {
          const { code = 'WRITE_FAILED', retriable = true } = error as { code?: string; retriable?: boolean };
          result = { ...base, applicationId: operation.applicationId, status: 'failed', code, retriable, at };
          result.message = String(error);
        }
      }
      if (operation.attempt !== undefined) result = { ...result, attempt: operation.attempt };
      await producer.send({
        topic: `${options.prefix}export-results`,
        messages: [
          {
            key: `${operation.applicationId}:${operation.exportId}`,
            value: JSON.stringify(result),
            headers: {
              ce_specversion: '1.0',
              ce_id: randomUUID(),
              ce_type: 'joinery.export.result.v1',
              ce_source: '/connectors/my-connector',
              ce_time: at,
              ce_tenantid: operation.tenantId,
              'content-type': 'application/json',
            },
          },
        ],
      });
    },
  });
  return {
    stop: async () => {
      await consumer.disconnect();
      await producer.disconnect();
    },
  };
}

const planSource = [
  'version: 1',
  'vault:',
  '  attributes: { employeeId: {}, givenName: {}, familyName: {} }',
  'classifications: [{ value: 1, name: staff, when: "true" }]',
  'applications:',
  '  - name: hr',
  '    type: csv',
  '    createsIdentities: true',
  '    objectClasses:',
  '      worker: { attributes: { WorkerID: {}, First: {}, Last: {} } }',
  '    csv: { externalId: WorkerID }',
  '    inbound:',
  '      - { vault: employeeId, from: WorkerID, authority: 100 }',
  '      - { vault: givenName, from: First, authority: 100 }',
  '      - { vault: familyName, from: Last, authority: 100 }',
  '    joining: [{ name: worker id, all: [{ source: WorkerID, vault: employeeId }] }]',
  '  - name: saas',
  '    type: scim',
  '    connector: external',
  '    mode: live',
  '    classifications: [1]',
  '    objectClasses:',
  '      user:',
  '        attributes:',
  '          userName: { direction: both }',
  '          givenName: { direction: both }',
  '          familyName: { direction: both }',
  '    outbound:',
  '      - { target: userName, from: employeeId }',
  '      - { target: givenName, from: givenName }',
  '      - { target: familyName, from: familyName }',
  // The shortest lease the plan allows: W3's unanswered create comes back within the test.
  '    export: { maxAttempts: 5, leaseSeconds: 10 }',
].join('\n');

describe('external connector over Kafka (real Kafka and PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let connector: { stop(): Promise<void> };
  const apps = { hr: '', saas: '' };
  /** The application: objects by id, and every operation it was given, in the order it saw them. */
  const store = new Map<string, Record<string, unknown>>();
  const seen: Export[] = [];
  /** When the connector took each delivery, by exportId and attempt. */
  const takenAt = new Map<string, number>();
  let failedOnce = false;
  let ignoredOnce = false;

  const write = (operation: Export): string | null => {
    seen.push(operation);
    takenAt.set(`${operation.exportId}:${String(operation.attempt)}`, Date.now());
    const userName = operation.attributes?.userName;
    // W2's create fails once with a retriable error; W3's first delivery is never answered (a lost reply).
    if (operation.operation === 'create' && userName === 'W2' && !failedOnce) {
      failedOnce = true;
      throw Object.assign(new Error('429 Too Many Requests'), { code: 'RATE_LIMITED', retriable: true });
    }
    if (operation.operation === 'create' && userName === 'W3' && !ignoredOnce) {
      ignoredOnce = true;
      return null;
    }
    if (operation.operation === 'create') {
      const id = `u-${String(userName)}`;
      store.set(id, { ...operation.attributes });
      return id;
    }
    const id = operation.externalId ?? '';
    store.set(id, { ...store.get(id), ...operation.attributes });
    return id;
  };

  const sendWorker = (id: string, first: string, last: string) =>
    fixture.send('imports', [
      importMessage({
        tenantId: fixture.tenantId,
        applicationId: apps.hr,
        objectClass: 'worker',
        externalId: id,
        attributes: { WorkerID: id, First: first, Last: last },
      }),
    ]);
  const sendResult = (data: Result, tenantId = data.tenantId) =>
    fixture.send('export-results', [
      encodeMessage({
        id: randomUUID(),
        type: 'joinery.export.result.v1',
        source: '/tests',
        time: new Date().toISOString(),
        tenantId,
        data,
      }),
    ]);
  const queue = async () => exportQueue(fixture, apps.saas);
  const createOf = async (userName: string) =>
    (await queue()).find((row) => row.operation === 'create' && row.attributes?.userName === userName);

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    const applied = await applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
      source: planSource,
    });
    const ids = new Map(applied.applications.map((a) => [a.name, a.id]));
    apps.hr = ids.get('hr') ?? '';
    apps.saas = ids.get('saas') ?? '';
    engine = await startTestEngine(fixture, { connectorPollMs: 100 });
    connector = await startExternalConnector({
      kafka: fixture.kafka,
      prefix: fixture.topics.topicPrefix,
      write,
    });
  });
  afterAll(async () => {
    await connector.stop();
    await engine.stop();
    await fixture.close();
  });

  it('creates the objects, retrying a retriable failure and republishing an unanswered export', async () => {
    await sendWorker('W1', 'Ada', 'Lovelace');
    await sendWorker('W2', 'Alan', 'Turing');
    await sendWorker('W3', 'Grace', 'Hopper');
    const creates = await waitFor(
      'three creates succeeded',
      async () => {
        const rows = (await queue()).filter((row) => row.operation === 'create');
        return rows.length === 3 && rows.every((row) => row.status === 'succeeded') ? rows : undefined;
      },
      45_000,
    );
    expect(creates.map((row) => row.external_id).sort()).toEqual(['u-W1', 'u-W2', 'u-W3']);
    expect(store.get('u-W2')).toEqual({ userName: 'W2', givenName: 'Alan', familyName: 'Turing' });
    // The failed create came back after its backoff with the same exportId, as attempt 2.
    const w2 = await createOf('W2');
    const w2Deliveries = seen.filter((operation) => operation.exportId === w2?.export_id);
    expect(w2Deliveries.map((operation) => operation.attempt)).toEqual([1, 2]);
    // The unanswered one was published again once its lease ran out: same exportId, next attempt.
    const w3 = await createOf('W3');
    const w3Deliveries = seen.filter((operation) => operation.exportId === w3?.export_id);
    expect(w3Deliveries.map((operation) => operation.attempt)).toEqual([1, 2]);
    // After the plan's 10 s lease (less the first delivery's way through the relay), not the default 5 min.
    const w3Wait =
      (takenAt.get(`${String(w3?.export_id)}:2`) ?? 0) - (takenAt.get(`${String(w3?.export_id)}:1`) ?? 0);
    expect(w3Wait).toBeGreaterThan(7_000);
    expect(w3Wait).toBeLessThan(45_000);
    // A create's anchor is the identity's hard join.
    const joins = await query<{ external_id: string }>(
      fixture.database.url,
      'select external_id from identity_source where application_id = $1 order by external_id',
      [apps.saas],
    );
    expect(joins.map((row) => row.external_id)).toEqual(['u-W1', 'u-W2', 'u-W3']);
  }, 60_000);

  it('publishes updates in order per object, keyed by the object', async () => {
    await sendWorker('W1', 'Augusta', 'Lovelace');
    await waitFor('the first update succeeded', async () => {
      const rows = (await queue()).filter((row) => row.external_id === 'u-W1' && row.operation === 'update');
      return rows.length === 1 && rows[0]?.status === 'succeeded' ? rows : undefined;
    });
    await sendWorker('W1', 'Augusta Ada', 'King');
    const rows = await waitFor('both updates succeeded', async () => {
      const updates = (await queue()).filter(
        (row) => row.external_id === 'u-W1' && row.operation === 'update',
      );
      return updates.length === 2 && updates.every((row) => row.status === 'succeeded') ? updates : undefined;
    });
    expect(store.get('u-W1')).toEqual({ userName: 'W1', givenName: 'Augusta Ada', familyName: 'King' });
    // The application saw W1's operations in queue order: create, then the updates.
    const w1 = seen.filter(
      (operation) => operation.externalId === 'u-W1' || operation.attributes?.userName === 'W1',
    );
    expect(w1.map((operation) => operation.operation)).toEqual(['create', 'update', 'update']);
    expect(w1.slice(1).map((operation) => operation.exportId)).toEqual(rows.map((row) => row.export_id));
    const published = await readTopic(fixture.bus, fixture.topic('exports'), (messages) =>
      rows.every((row) => messages.some((message) => header(message, 'ce_id') === `${row.export_id}:1`)),
    );
    const keys = published
      .filter((message) => rows.some((row) => header(message, 'ce_id') === `${row.export_id}:1`))
      .map((message) => message.key?.toString());
    expect(keys).toEqual([`${apps.saas}:u-W1`, `${apps.saas}:u-W1`]);
  }, 60_000);

  it('ignores duplicate and stale results, and dead-letters malformed ones while good ones land', async () => {
    const w1 = await createOf('W1');
    if (w1 === undefined) throw new Error('no create of W1');
    const before = await query(fixture.database.url, 'select * from export_item where export_id = $1', [
      w1.export_id,
    ]);
    const base = { tenantId: fixture.tenantId, applicationId: apps.saas, at: new Date().toISOString() };
    const other = await createTenant(fixture.orm.em, { tenant: uniqueName('other') });
    await sendResult({ ...base, exportId: w1.export_id, status: 'succeeded', externalId: 'u-W1' });
    await sendResult({
      ...base,
      exportId: w1.export_id,
      status: 'failed',
      code: 'LATE',
      message: 'a late failure',
      retriable: true,
      attempt: 1,
    });
    await sendResult({ ...base, exportId: w1.export_id, status: 'succeeded' }); // no externalId
    await sendResult({
      ...base,
      tenantId: other.tenantId,
      exportId: w1.export_id,
      status: 'succeeded',
      externalId: 'x',
    });
    await fixture.send('export-results', [{ key: 'junk', value: Buffer.from('{not json'), headers: {} }]);
    // A good result behind the bad ones still lands: W4's create, answered by the connector.
    await sendWorker('W4', 'Edsger', 'Dijkstra');
    await waitFor('W4 created', async () =>
      (await createOf('W4'))?.status === 'succeeded' ? true : undefined,
    );
    await waitUntilSettled(fixture);

    const after = await query(fixture.database.url, 'select * from export_item where export_id = $1', [
      w1.export_id,
    ]);
    expect(after).toEqual(before);
    const letters = await readTopic(
      fixture.bus,
      fixture.topic('deadletter'),
      (messages) =>
        messages.filter((message) => header(message, 'joinery_dlq_topic') === fixture.topic('export-results'))
          .length >= 3,
    );
    const reasons = letters
      .filter((message) => header(message, 'joinery_dlq_topic') === fixture.topic('export-results'))
      .map(
        (message) =>
          `${header(message, 'joinery_dlq_code') ?? ''}: ${header(message, 'joinery_dlq_reason') ?? ''}`,
      );
    expect(reasons).toEqual(
      expect.arrayContaining([
        'JNY_MESSAGE_INVALID: a succeeded result needs externalId: the anchor of the object in the application',
        `JNY_NOT_FOUND: export ${w1.export_id} not found in tenant ${other.tenantId}`,
        'JNY_MESSAGE_INVALID: missing CloudEvents header ce_specversion',
      ]),
    );
    expect(reasons).toHaveLength(3);
  }, 60_000);

  it('confirms the exports when the connector imports what it wrote', async () => {
    const objects = [...store.entries()];
    await fixture.send(
      'imports',
      objects.map(([externalId, attributes]) =>
        importMessage({
          tenantId: fixture.tenantId,
          applicationId: apps.saas,
          objectClass: 'user',
          externalId,
          attributes: attributes as Record<string, string>,
        }),
      ),
    );
    // Confirmed: every create (the object exists) and the latest update (the object shows its values). The
    // first update's givenName was overwritten by the second, so the object never shows it: it stays succeeded.
    const firstUpdate = (await queue()).find((row) => row.operation === 'update');
    let last: unknown;
    const rows = await waitFor('the exports confirmed', async () => {
      const all = await queue();
      last = all;
      return all.every(
        (row) =>
          row.status === (row === all.find((r) => r.operation === 'update') ? 'succeeded' : 'confirmed'),
      ) && all.some((row) => row.status === 'confirmed')
        ? all
        : undefined;
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${JSON.stringify(last)}`);
    });
    expect(rows.filter((row) => row.status === 'confirmed').map((row) => row.operation)).toEqual([
      'create',
      'create',
      'create',
      'update',
      'create',
    ]);
    expect(rows.find((row) => row.export_id === firstUpdate?.export_id)?.attributes).toEqual({
      givenName: 'Augusta',
    });
  }, 60_000);
});
