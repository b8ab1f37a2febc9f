// SIEM export to a real rsyslog (Debian's, started by the project's infra code): a sync's logstream events
// reach it as RFC 5424 messages with octet-counted framing and OCSF JSON, and an rsyslog stopped and
// started again mid-run still ends with every event, exactly as produced (at least once: duplicates are
// allowed and recognised by the event id).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import { createRsyslog, type RsyslogService } from '../../src/infra/rsyslog.ts';
import { startEngine, type Engine } from '../../src/runtime/engine-runtime.ts';
import { putDestination } from '../../src/siem/destinations.ts';
import { toOcsf } from '../../src/siem/ocsf.ts';
import { decodeMessage } from '../../streams/cloudevents.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';
import { receivedBy, type Received } from '../support/rsyslog-received.ts';
import {
  createStreamsFixture,
  identityMessage,
  inbound,
  readTopic,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';

const product = { name: 'Joinery', vendor: 'Joinery', version: 'test' };

/** The logstream events one identity of sync() makes: its inbound changes, created, disabled. */
const EVENTS_PER_IDENTITY = 3;

describe('SIEM export to rsyslog (real rsyslog, Kafka, PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let rsyslog: RsyslogService;

  beforeAll(async () => {
    rsyslog = createRsyslog();
    await rsyslog.up();
    fixture = await createStreamsFixture();
    await putDestination(fixture.orm.em.fork(), undefined, fixture.tenantId, randomUUID(), {
      kind: 'syslog',
      name: uniqueName('rsyslog'),
      format: 'ocsf',
      settings: { host: rsyslog.host, port: rsyslog.port },
    });
    engine = await startEngine({
      bus: fixture.bus,
      orm: fixture.orm,
      logger: silentLogger,
      settings: {
        groupId: fixture.groupId,
        actorCacheSize: 1000,
        maxBatchSize: 500,
        sessionTimeoutMs: 6000,
        topics: fixture.topics,
      },
      siem: {
        keyring: undefined,
        product,
        refreshMs: 200,
        backoff: { initialDelayMs: 100, maxDelayMs: 1_000, jitter: 'equal' },
      },
    });
  });
  afterAll(async () => {
    await engine.stop();
    await fixture.close();
    // Left running for the next run (like the other infra services), unless this test stopped it.
    await rsyslog.up();
  });

  /**
   * Creates `count` identities and disables them: EVENTS_PER_IDENTITY events each — its attributes' changes
   * (inbound) and two lifecycle events.
   */
  async function sync(count: number): Promise<void> {
    const ids = Array.from({ length: count }, () => randomUUID());
    await fixture.send(
      'identity',
      ids.flatMap((id, index) => [
        identityMessage(
          fixture.tenantId,
          id,
          inbound({ mail: `p${String(index)}@example.com` }, { externalId: id }),
        ),
        identityMessage(fixture.tenantId, id, inbound({}, { externalId: id, lifecycle: 'disabled' })),
      ]),
    );
  }

  /** The tenant's logstream events as the engine produced them: id → data. */
  async function produced(expected: number): Promise<Map<string, LogEvent>> {
    const messages = await readTopic(
      fixture.bus,
      fixture.topic('logstream'),
      (all) => all.length >= expected,
      60_000,
    );
    const events = new Map<string, LogEvent>();
    for (const message of messages) {
      const decoded = decodeMessage('logstream', message);
      if (decoded.ok && decoded.envelope.tenantId === fixture.tenantId)
        events.set(decoded.envelope.id, decoded.envelope.data as LogEvent);
    }
    return events;
  }

  /** Every produced event received, as OCSF exactly as Joinery formats it; duplicates only by event id. */
  function expectAllDelivered(events: Map<string, LogEvent>, received: Received[]): void {
    const byId = new Map<string, Received>();
    for (const line of received) {
      const earlier = byId.get(line.eventId);
      if (earlier !== undefined)
        expect(line.payload, 'a duplicate is the same event').toEqual(earlier.payload);
      byId.set(line.eventId, line);
    }
    expect([...byId.keys()].sort()).toEqual([...events.keys()].sort());
    for (const [id, event] of events) {
      const line = byId.get(id);
      expect(line?.payload).toEqual(toOcsf({ id, event }, product));
      // <PRI>: facility 13 (log audit), severity 6 (informational).
      expect(line?.pri).toBe(13 * 8 + 6);
      expect(line?.msgId).toBe(event.stage ?? event.category);
    }
  }

  it("delivers a sync's events to rsyslog framed as RFC 5424 with OCSF JSON", async () => {
    await sync(50);
    const events = await produced(50 * EVENTS_PER_IDENTITY);
    expect(events.size).toBe(50 * EVENTS_PER_IDENTITY);
    const received = await waitFor('rsyslog to receive every event', async () => {
      const lines = receivedBy(rsyslog, fixture.tenantId);
      return new Set(lines.map((line) => line.eventId)).size >= events.size ? lines : undefined;
    });
    expectAllDelivered(events, received);
    const created = received.find((line) => (line.payload.activity_id as number) === 1)?.payload;
    expect(created).toMatchObject({
      class_uid: 3001,
      category_uid: 3,
      type_uid: 300101,
      metadata: { version: '1.3.0' },
    });
  });

  it('still ends with every event, in order per identity, after rsyslog is stopped and started mid-run', async () => {
    await sync(100);
    // rsyslog goes away while these events are being delivered, and more are produced while it is down.
    await waitFor('delivery to be under way', async () =>
      receivedBy(rsyslog, fixture.tenantId).length > 50 * EVENTS_PER_IDENTITY ? true : undefined,
    );
    await rsyslog.down();
    await sync(100);
    await produced(250 * EVENTS_PER_IDENTITY);
    // Down for a moment: the worker's retries meet a refused connection.
    await waitFor('a failed attempt to be recorded', async () =>
      (engine.siem?.progress()[0]?.failures ?? 0) > 0 ? true : undefined,
    );
    await rsyslog.up();
    const events = await produced(250 * EVENTS_PER_IDENTITY);
    expect(events.size).toBe(250 * EVENTS_PER_IDENTITY);
    const received = await waitFor(
      'rsyslog to receive every event',
      async () => {
        const lines = receivedBy(rsyslog, fixture.tenantId);
        return new Set(lines.map((line) => line.eventId)).size >= events.size ? lines : undefined;
      },
      60_000,
    );
    expectAllDelivered(events, received);
    // Each identity's events arrived in the order they were produced (first time each was seen).
    const firstSeen = [...new Map(received.map((line) => [line.eventId, line] as const)).values()];
    const order = new Map<string, string[]>();
    for (const line of received) {
      if (!firstSeen.includes(line)) continue;
      const user = (line.payload.user as { uid: string }).uid;
      order.set(user, [...(order.get(user) ?? []), line.payload.activity_name as string]);
    }
    const producedOrder = new Map<string, string[]>();
    for (const [id, event] of events) {
      const ocsf = toOcsf({ id, event }, product);
      const user = (ocsf.user as { uid: string } | undefined)?.uid;
      if (user !== undefined)
        producedOrder.set(user, [...(producedOrder.get(user) ?? []), ocsf.activity_name as string]);
    }
    expect(order.size).toBe(250);
    for (const [user, activities] of order) expect(activities).toEqual(producedOrder.get(user));
  });
});
