// The live streams' pure parts: the reconnect ring, the bounded socket queue and the stream tokens.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createEventRing, type RingEntry } from '../../../src/live/event-ring.ts';
import { createSocketQueue } from '../../../src/live/socket-queue.ts';
import { eventFrame, readStreamEvent } from '../../../src/live/stream-events.ts';
import { auditDocument } from '../../../src/audit/audit-store.ts';
import { createStreamTokens } from '../../../src/live/stream-tokens.ts';
import type { LogEvent } from '../../../kernel/contracts/messages.ts';

const tenantId = '2d0f7a2e-4f6c-4d7b-9a51-0d7d3f7e6a11';
const entry = (partition: number, offset: number): RingEntry => {
  const event: LogEvent = {
    tenantId,
    at: new Date(0).toISOString(),
    level: 'info',
    category: 'c',
    message: String(offset),
  };
  return {
    id: `${String(partition)}-${String(offset)}`,
    partition,
    offset: BigInt(offset),
    event: { tenantId: event.tenantId },
    frame: `{"n":${String(offset)}}`,
  };
};

describe('the reconnect ring', () => {
  it('replays what follows an id on its partition, in order', () => {
    const ring = createEventRing({ maxEvents: 100, maxBytes: 1 << 20 });
    for (let offset = 10; offset < 20; offset++) ring.add(entry(1, offset));
    ring.add(entry(2, 5));
    const { entries, gap } = ring.after('1-14', () => true);
    expect(entries.map((found) => found.id)).toEqual(['1-15', '1-16', '1-17', '1-18', '1-19']);
    expect(gap).toBeUndefined();
  });

  it('says where it resumes from when the events after an id were evicted', () => {
    const ring = createEventRing({ maxEvents: 5, maxBytes: 1 << 20 });
    for (let offset = 0; offset < 20; offset++) ring.add(entry(0, offset));
    const { entries, gap } = ring.after('0-3', () => true);
    expect(gap).toEqual({ retainedFrom: '0-15' });
    expect(entries.map((found) => found.id)).toEqual(['0-15', '0-16', '0-17', '0-18', '0-19']);
    expect(ring.size().events).toBe(5);
  });

  it('knows nothing of a partition it never saw', () => {
    const ring = createEventRing({ maxEvents: 5, maxBytes: 1 << 20 });
    expect(ring.after('4-100', () => true).gap).toEqual({ retainedFrom: null });
  });
});

describe('a logstream record on a live stream', () => {
  const event = {
    tenantId,
    at: '2026-12-06T10:00:00.000Z',
    level: 'info',
    category: 'identity',
    message: 'identity created',
    stage: 'identity',
    runId: '7a1c6c4e-8a43-4b59-9d4f-3c2d1e0f9a88',
  };
  const record = (headers: Record<string, string>, value: string | null) => ({
    headers: { ce_type: 'joinery.log.v1', ce_tenantid: tenantId, ...headers },
    value: value === null ? null : Buffer.from(value),
  });

  it('is sent as the text it came with, its filter keys read once', () => {
    const json = JSON.stringify(event);
    const read = readStreamEvent(record({}, json));
    expect(read).toEqual({
      json,
      keys: { tenantId, runId: event.runId, stage: 'identity' },
    });
    const frame = eventFrame('3-1207', json);
    expect(JSON.parse(frame)).toEqual({ type: 'event', id: '3-1207', event });
  });

  it('is skipped when it is not a log event, not JSON, or its data names another tenant', () => {
    expect(readStreamEvent(record({ ce_type: 'joinery.identity.event.v1' }, '{}'))).toEqual({
      skipped: 'ce_type joinery.identity.event.v1 is not joinery.log.v1',
    });
    expect(readStreamEvent(record({}, '{"tenantId":'))).toEqual({ skipped: 'the value is not JSON' });
    expect(readStreamEvent(record({}, null))).toEqual({ skipped: 'no value' });
    const other = JSON.stringify({ ...event, tenantId: '0b7e3c1a-5d2f-4e6a-8b9c-1d2e3f4a5b6c' });
    expect(readStreamEvent(record({}, other))).toEqual({ skipped: 'ce_tenantid and data.tenantId differ' });
  });
});

describe("the audit history's insert document", () => {
  it('carries the event text it was given as it is, and serialises an event given without text', () => {
    const event = {
      tenantId,
      at: '2026-12-06T10:00:00.000Z',
      level: 'info' as const,
      category: 'identity',
      message: 'identity created',
      identityId: '5f0e2d1c-3b4a-4968-8776-655443322110',
    };
    // Text with its own spacing: kept to the character (PostgreSQL's jsonb reads both the same).
    const json = JSON.stringify(event, null, 1);
    const document = auditDocument([
      { eventId: 'a', event, json },
      { eventId: 'b', event },
    ]);
    expect(document).toContain(`"event":${json}}`);
    const rows = JSON.parse(document) as Record<string, unknown>[];
    expect(rows).toEqual([
      expect.objectContaining({ event_id: 'a', identity_id: event.identityId, run_id: null, event }),
      expect.objectContaining({ event_id: 'b', tenant_id: tenantId, category: 'identity', event }),
    ]);
  });
});

describe('a socket queue', () => {
  it('drops past its bound, and says how many and where, in order', () => {
    const sent: string[] = [];
    let buffered = 1_000_000;
    const queue = createSocketQueue(
      { maxEvents: 3, maxBytes: 1 << 20, highWaterBytes: 100 },
      { send: (frame) => sent.push(frame), bufferedAmount: () => buffered },
    );
    for (let n = 1; n <= 10; n++) queue.push(`0-${String(n)}`, `e${String(n)}`);
    expect(queue.stats()).toMatchObject({ events: 4, dropped: 7 });
    queue.setProgress('p1');
    queue.setProgress('p2');
    expect(queue.flush()).toBe(true);
    expect(sent).toEqual([]);
    buffered = 0;
    expect(queue.flush()).toBe(false);
    expect(sent).toEqual([
      'p2',
      'e1',
      'e2',
      'e3',
      JSON.stringify({ type: 'dropped', count: 7, firstId: '0-4', lastId: '0-10' }),
    ]);
  });

  it('never holds more bytes than its bound', () => {
    const queue = createSocketQueue(
      { maxEvents: 1000, maxBytes: 1000, highWaterBytes: 0 },
      { send: () => undefined, bufferedAmount: () => 1 },
    );
    for (let n = 0; n < 500; n++) queue.push(`0-${String(n)}`, 'x'.repeat(100));
    expect(queue.stats().bytes).toBeLessThanOrEqual(1000 + 96);
    expect(queue.stats().dropped).toBe(490);
  });
});

describe('stream tokens', () => {
  const key = randomBytes(32);
  it('open one socket of their tenant, once, before they expire', () => {
    let now = 1_000_000;
    const tokens = createStreamTokens({ key, now: () => now });
    const { token } = tokens.issue({ tenantId, serviceAccountId: 'sa' });
    expect(token).not.toContain(tenantId);
    expect(tokens.redeem(token)).toEqual({
      ok: true,
      claims: { tenantId, serviceAccountId: 'sa', expiresAt: now + 60_000 },
    });
    expect(tokens.redeem(token)).toEqual({ ok: false, reason: 'used' });
    const late = tokens.issue({ tenantId, serviceAccountId: 'sa' });
    now += 60_001;
    expect(tokens.redeem(late.token)).toEqual({ ok: false, reason: 'expired' });
  });

  it('are refused when signed with another key or altered', () => {
    const theirs = createStreamTokens({ key: randomBytes(32) }).issue({ tenantId, serviceAccountId: 'sa' });
    const ours = createStreamTokens({ key });
    expect(ours.redeem(theirs.token)).toEqual({ ok: false, reason: 'signature' });
    const [prefix, payload = '', signature] = ours
      .issue({ tenantId, serviceAccountId: 'sa' })
      .token.split('.');
    const altered = `${prefix ?? ''}.${payload.slice(0, -2)}AA.${signature ?? ''}`;
    expect(ours.redeem(altered).ok).toBe(false);
    expect(ours.redeem('jny_key_secret')).toEqual({ ok: false, reason: 'malformed' });
  });
});
