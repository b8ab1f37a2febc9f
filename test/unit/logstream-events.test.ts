import { describe, expect, it } from 'vitest';
import { MASKED_VALUE } from '../../kernel/contracts/messages.ts';
import { messageProblem } from '../../kernel/contracts/message-validators.ts';
import { attributeChanges, maskedValues } from '../../streams/logstream.ts';
import { disconnectorEvents } from '../../src/engine/inbound.ts';
import { dayOf, dayOfPartition, daysFrom, nextDay, partitionName } from '../../src/audit/audit-partitions.ts';

describe('logstream attribute changes', () => {
  it('lists what changed old → new in name order, leaving out a side without a value', () => {
    expect(
      attributeChanges(
        { givenName: 'Ada', surname: 'Lovelace', title: 'Countess' },
        { givenName: 'Adeline', surname: 'Lovelace', mail: 'ada@example.test' },
      ),
    ).toEqual([
      { attribute: 'givenName', old: 'Ada', new: 'Adeline' },
      { attribute: 'mail', new: 'ada@example.test' },
      { attribute: 'title', old: 'Countess' },
    ]);
  });

  it('masks a sensitive attribute on both sides, and says nothing when nothing changed', () => {
    const sensitive = new Set(['salary']);
    expect(attributeChanges({ salary: 50000 }, { salary: 52000 }, sensitive)).toEqual([
      { attribute: 'salary', old: MASKED_VALUE, new: MASKED_VALUE },
    ]);
    expect(maskedValues({ salary: 1, cn: 'x' }, sensitive)).toEqual([
      { attribute: 'cn', new: 'x' },
      { attribute: 'salary', new: MASKED_VALUE },
    ]);
    expect(attributeChanges({ groups: ['a', 'b'] }, { groups: ['a', 'b'] })).toEqual([]);
  });

  it('cuts long text, so the history is no copy of a photo', () => {
    const [change] = attributeChanges({}, { photo: 'x'.repeat(5000) });
    expect(String(change?.new)).toMatch(/^x{1000}… \(5000 characters\)$/);
  });

  it('makes events the joinery.log.v1 contract accepts, and refuses an unknown stage', () => {
    const event = {
      tenantId: '0b8f6a1e-2c4d-4e5f-8a9b-0c1d2e3f4a5b',
      at: '2026-12-06T10:00:00.000Z',
      level: 'info',
      category: 'inbound',
      stage: 'inbound',
      outcome: 'succeeded',
      message: 'changed',
      changes: attributeChanges({ a: 1 }, { a: 2 }),
    };
    expect(messageProblem('joinery.log.v1', event)).toBeUndefined();
    expect(messageProblem('joinery.log.v1', { ...event, stage: 'everything' })).toBeDefined();
  });
});

describe('objects that joined no identity', () => {
  const tenantId = '0b8f6a1e-2c4d-4e5f-8a9b-0c1d2e3f4a5b';
  const hr = '1b8f6a1e-2c4d-4e5f-8a9b-0c1d2e3f4a5b';
  const ad = '2b8f6a1e-2c4d-4e5f-8a9b-0c1d2e3f4a5b';
  const runId = '3b8f6a1e-2c4d-4e5f-8a9b-0c1d2e3f4a5b';
  const object = (applicationId: string, externalId: string, at: string, run?: string) => ({
    tenantId,
    applicationId,
    objectClass: 'user',
    externalId,
    operation: 'upsert' as const,
    observedAt: at,
    ...(run === undefined ? {} : { runId: run }),
  });

  it('tells a batch of them as one event per application and run, with their count, and one alone by its id', () => {
    const events = disconnectorEvents([
      object(hr, 'w1', '2026-12-06T10:00:00.000Z', runId),
      object(hr, 'w2', '2026-12-06T10:00:02.000Z', runId),
      object(hr, 'w3', '2026-12-06T10:00:01.000Z', runId),
      object(ad, 'a1', '2026-12-06T10:00:03.000Z'),
    ]);
    expect(events).toEqual([
      [
        `join/${hr}/w1/2026-12-06T10:00:00.000Z/3`,
        {
          tenantId,
          at: '2026-12-06T10:00:02.000Z',
          category: 'join',
          stage: 'join',
          level: 'info',
          outcome: 'skipped',
          applicationId: hr,
          objectClass: 'user',
          runId,
          objectCount: 3,
          message: '3 objects joined no identity (disconnectors)',
        },
      ],
      [
        `join/${ad}/a1/2026-12-06T10:00:03.000Z`,
        expect.objectContaining({ applicationId: ad, externalId: 'a1', outcome: 'skipped' }),
      ],
    ]);
    for (const [, event] of events) expect(messageProblem('joinery.log.v1', event)).toBeUndefined();
    expect(events[1]?.[1]).not.toHaveProperty('objectCount');
  });
});

describe('audit history day partitions', () => {
  it('names a UTC day and reads it back, with the day after and the days ahead', () => {
    expect(dayOf('2026-12-06T23:59:59.999+00:00')).toBe('2026-12-06');
    expect(dayOf('2026-12-06T23:30:00-01:00')).toBe('2026-12-07');
    expect(partitionName('2026-12-06')).toBe('audit_event_p20261206');
    expect(dayOfPartition('audit_event_p20261206')).toBe('2026-12-06');
    expect(dayOfPartition('audit_event')).toBeUndefined();
    expect(nextDay('2026-12-31')).toBe('2027-01-01');
    expect(daysFrom(new Date('2026-02-27T12:00:00Z'), 3)).toEqual(['2026-02-27', '2026-02-28', '2026-03-01']);
  });
});
