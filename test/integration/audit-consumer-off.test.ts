// audit.consumer off (JOINERY_AUDIT_CONSUMER=false, docs/configuration.md): the engine syncs and its stages
// still tell the logstream, but this process stores no audit history — and its audit API says so with every
// answer, rather than showing an empty history as if nothing had happened (real engine, Kafka, PostgreSQL).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.ts';
import { notRecordedNotice } from '../../src/api/audit.routes.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { decodeMessage } from '../../streams/cloudevents.ts';
import { silentLogger } from '../support/factories.ts';
import {
  createStreamsFixture,
  identityMessage,
  inbound,
  readTopic,
  startTestEngine,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';

describe('the audit consumer off (real engine, Kafka, PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let app: App;
  const identityId = randomUUID();

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    engine = await startTestEngine(fixture, { audit: { consumer: false, retentionDays: 90 } });
    app = await buildApp({
      orm: fixture.orm,
      readiness: createReadiness({}),
      logger: silentLogger,
      topicPrefix: fixture.topics.topicPrefix,
      auditRecording: false,
    });
  }, 120_000);
  afterAll(async () => {
    await app.close();
    await engine.stop();
    await fixture.close();
  });

  const get = (url: string) =>
    app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${fixture.apiKey}` } });

  it('syncs and tells the logstream, and the audit API says the history is not being recorded', async () => {
    await fixture.send('identity', [
      identityMessage(
        fixture.tenantId,
        identityId,
        inbound({ mail: 'ada@example.com' }, { externalId: 'ada' }),
      ),
    ]);
    const identity = await waitFor('the identity in the Vault', async () => {
      const answer = await get(`/v1/identities/${identityId}`);
      return answer.statusCode === 200 ? answer.json<Record<string, unknown>>() : undefined;
    });
    expect(JSON.stringify(identity)).toContain('ada@example.com');
    // The stages still tell what they decided: the identity's events are on the logstream topic.
    const told = await readTopic(fixture.bus, fixture.topic('logstream'), (messages) =>
      messages.some((message) => {
        const decoded = decodeMessage('logstream', message);
        return decoded.ok && decoded.envelope.tenantId === fixture.tenantId;
      }),
    );
    expect(told.length).toBeGreaterThan(0);

    const history = await get(`/v1/identities/${identityId}/history`);
    expect(history.statusCode).toBe(200);
    expect(history.headers['joinery-audit-recording']).toBe('off');
    expect(history.json()).toMatchObject({ notice: notRecordedNotice });
    const audit = await get('/v1/audit?format=ndjson');
    expect(audit.statusCode).toBe(200);
    expect(audit.headers['joinery-audit-recording']).toBe('off');
    expect(notRecordedNotice).toMatch(/does not record the audit history: audit\.consumer .* is off/);
  }, 90_000);

  it('says nothing of the kind where the history is recorded', async () => {
    const recording = await buildApp({
      orm: fixture.orm,
      readiness: createReadiness({}),
      logger: silentLogger,
      topicPrefix: fixture.topics.topicPrefix,
    });
    try {
      const answer = await recording.inject({
        method: 'GET',
        url: '/v1/audit',
        headers: { authorization: `Bearer ${fixture.apiKey}` },
      });
      expect(answer.statusCode).toBe(200);
      expect(answer.headers['joinery-audit-recording']).toBeUndefined();
      expect(answer.json()).not.toHaveProperty('notice');
    } finally {
      await recording.close();
    }
  });
});
