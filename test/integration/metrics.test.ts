// GET /metrics after a small sync (real Kafka and PostgreSQL, the engine in this process): the figures a
// user checks — consumer lag back to 0, actor cache lookups, the export queue's depth per application and
// status as the export items say, SIEM delivery lag back to 0 for a Kafka-topic destination.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { createMetrics, type Metrics } from '../../src/metrics/engine-metrics.ts';
import { startEngine, type Engine } from '../../src/runtime/engine-runtime.ts';
import { putDestination } from '../../src/siem/destinations.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';
import {
  applicationId,
  createStreamsFixture,
  identityMessage,
  inbound,
  readTopic,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';

/** The value of one sample of the exposition text, by metric name and exact labels. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels);
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const have = new Map([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (wanted.every(([key, value]) => have.get(key) === value)) return Number(match[3]);
  }
  return undefined;
}

describe('Prometheus metrics (GET /metrics, real Kafka and PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let metrics: Metrics;
  let app: App;
  const destinationId = randomUUID();

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    await putDestination(fixture.orm.em.fork(), undefined, fixture.tenantId, destinationId, {
      kind: 'kafka',
      name: uniqueName('siem'),
      format: 'ecs',
      settings: {},
    });
    const settings = {
      groupId: fixture.groupId,
      actorCacheSize: 1000,
      maxBatchSize: 500,
      sessionTimeoutMs: 6000,
      topics: fixture.topics,
    };
    engine = await startEngine({
      bus: fixture.bus,
      orm: fixture.orm,
      logger: silentLogger,
      settings,
      siem: {
        keyring: undefined,
        product: { name: 'Joinery', vendor: 'Joinery', version: 'test' },
        refreshMs: 200,
      },
    });
    metrics = createMetrics({
      orm: fixture.orm,
      logger: silentLogger,
      engine,
      kafka: fixture.kafka,
      offsetsGroupId: fixture.groupId,
      groups: [{ groupId: fixture.groupId, topics: [fixture.topic('identity')] }],
      logstreamTopic: fixture.topic('logstream'),
      cacheMs: 0,
    });
    app = await buildApp({
      orm: fixture.orm,
      readiness: createReadiness({}),
      logger: silentLogger,
      metrics: { scrape: () => metrics.scrape(), contentType: metrics.registry.contentType },
    });
  });
  afterAll(async () => {
    await app.close();
    await metrics.close();
    await engine.stop();
    await fixture.close();
  });

  const scrape = async (): Promise<string> => {
    const answer = await app.inject({ method: 'GET', url: '/metrics' });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-type']).toContain('text/plain');
    return answer.body;
  };

  it('shows consumer lag back at 0, actor cache lookups, the export queue as stored and SIEM lag at 0 after a sync', async () => {
    const ids = Array.from({ length: 40 }, () => randomUUID());
    const lagOf = (text: string) =>
      sample(text, 'joinery_consumer_lag_messages', {
        group: fixture.groupId,
        topic: fixture.topic('identity'),
      });
    // Two rounds: the first reads each identity from PostgreSQL, the second finds it in the actor cache. Each
    // identity makes three logstream events: created, and its attributes' changes in each round.
    await fixture.send(
      'identity',
      ids.map((id) =>
        identityMessage(fixture.tenantId, id, inbound({ mail: `${id}@example.com` }, { externalId: id })),
      ),
    );
    await waitFor('the first round to be consumed', async () =>
      (lagOf(await scrape()) ?? 1) === 0 ? true : undefined,
    );
    await fixture.send(
      'identity',
      ids.map((id) => identityMessage(fixture.tenantId, id, inbound({ seq: 2 }, { externalId: id }))),
    );
    // The export queue as the Outbound stage leaves it: two applications, items in three statuses.
    const other = randomUUID();
    const items = [
      ...ids.slice(0, 5).map((id) => ({ identity: id, application: applicationId, status: 'pending' })),
      ...ids.slice(5, 8).map((id) => ({ identity: id, application: applicationId, status: 'failed' })),
      ...ids.slice(8, 10).map((id) => ({ identity: id, application: other, status: 'held' })),
    ];
    await sql`
      insert into export_item (export_id, tenant_id, application_id, identity_id, object_class, operation, status, next_attempt_at, created_at)
      select gen_random_uuid(), ${fixture.tenantId}, application, identity, 'user', 'create', status, now(), now()
      from jsonb_to_recordset(${JSON.stringify(items)}::jsonb) as i(identity uuid, application uuid, status text)`.execute(
      fixture.orm.em.getKysely(),
    );

    const text = await waitFor(
      'consumer lag and SIEM delivery lag to reach 0',
      async () => {
        const current = await scrape();
        const lag = lagOf(current);
        const siem = sample(current, 'joinery_siem_delivery_lag_messages', { destination_id: destinationId });
        const delivered = sample(current, 'joinery_siem_delivered_events', { destination_id: destinationId });
        // The counters are copied after each batch's commit, a moment after its position.
        const hits = sample(current, 'joinery_actor_cache_lookups_total', { result: 'hit' }) ?? 0;
        return lag === 0 && siem === 0 && delivered === ids.length * 3 && hits >= 40 ? current : undefined;
      },
      60_000,
    );
    const queue = (application: string, status: string) =>
      sample(text, 'joinery_export_queue_items', {
        tenant_id: fixture.tenantId,
        application_id: application,
        status,
      });
    expect(queue(applicationId, 'pending')).toBe(5);
    expect(queue(applicationId, 'failed')).toBe(3);
    expect(queue(other, 'held')).toBe(2);
    const hits = sample(text, 'joinery_actor_cache_lookups_total', { result: 'hit' }) ?? 0;
    const misses = sample(text, 'joinery_actor_cache_lookups_total', { result: 'miss' }) ?? 0;
    expect(misses).toBe(40);
    expect(hits).toBe(40);
    expect(sample(text, 'joinery_actor_cache_hit_ratio')).toBeCloseTo(hits / (hits + misses));
    expect(sample(text, 'joinery_siem_delivery_lag_seconds', { destination_id: destinationId })).toBe(0);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    // The Kafka-topic destination: the tenant's events as ECS, keyed by tenant.
    const siem = await readTopic(fixture.bus, `${fixture.topics.topicPrefix}siem`, (all) => all.length >= 40);
    expect(siem.every((message) => message.key?.toString() === fixture.tenantId)).toBe(true);
    const ecs = siem.map(
      (message) =>
        JSON.parse(message.value?.toString() ?? '{}') as { event: { category: string[]; type: string[] } },
    );
    expect(ecs.every((document) => document.event.category.includes('iam'))).toBe(true);
    expect(ecs.find((document) => document.event.type.includes('creation'))).toMatchObject({
      event: { category: ['iam'], type: ['creation', 'user'] },
    });
  });
});
