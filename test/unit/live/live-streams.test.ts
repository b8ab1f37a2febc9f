// The live streams' pure parts: the reconnect ring, the bounded socket queue and the stream tokens.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createEventRing, type RingEntry } from '../../../src/live/event-ring.ts';
import { createSocketQueue } from '../../../src/live/socket-queue.ts';
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
    event,
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
