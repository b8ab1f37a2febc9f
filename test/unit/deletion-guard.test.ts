import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DELETION_LIMITS,
  decideDeletions,
  deletionLimits,
  trippedLimit,
} from '../../src/engine/deletion-guard.ts';

describe('the deletion guard decision', () => {
  it('has the defaults 500, or 20% where the application holds more than 100 objects', () => {
    expect(DEFAULT_DELETION_LIMITS).toEqual({ maxCount: 500, maxPercent: 20 });
    expect(deletionLimits(undefined)).toEqual({ maxCount: 500, maxPercent: 20 });
    expect(deletionLimits({ maxCount: 10 })).toEqual({ maxCount: 10, maxPercent: 20 });
    expect(deletionLimits({ maxPercent: 5 })).toEqual({ maxCount: 500, maxPercent: 5 });
  });

  it('holds the truncated HR run of the issue: 7,949 of 19,872 (40%)', () => {
    const decision = decideDeletions(
      [{ objectClass: 'worker', deletions: 7949, objects: 19872 }],
      DEFAULT_DELETION_LIMITS,
    );
    expect(decision.hold).toBe(true);
    if (!decision.hold) return;
    expect(decision.tripped).toEqual([
      { objectClass: 'worker', deletions: 7949, objects: 19872, limit: 'count', percent: 40 },
    ]);
    expect(decision.reason).toContain('7949 of 19872 worker objects (40%)');
  });

  it('holds more than the percentage only where the class holds more than 100 objects', () => {
    const limits = DEFAULT_DELETION_LIMITS;
    expect(trippedLimit({ objectClass: 'user', deletions: 21, objects: 100 }, limits)).toBeUndefined();
    expect(trippedLimit({ objectClass: 'user', deletions: 21, objects: 101 }, limits)).toBe('percent');
    expect(trippedLimit({ objectClass: 'user', deletions: 20, objects: 100 }, limits)).toBeUndefined();
    // Exactly the percentage is allowed; one more is not.
    expect(trippedLimit({ objectClass: 'user', deletions: 40, objects: 200 }, limits)).toBeUndefined();
    expect(trippedLimit({ objectClass: 'user', deletions: 41, objects: 200 }, limits)).toBe('percent');
  });

  it('holds more than the count whatever the size; exactly the count is allowed', () => {
    const limits = { maxCount: 3, maxPercent: 100 };
    expect(trippedLimit({ objectClass: 'user', deletions: 3, objects: 5 }, limits)).toBeUndefined();
    expect(trippedLimit({ objectClass: 'user', deletions: 4, objects: 5 }, limits)).toBe('count');
    expect(
      trippedLimit({ objectClass: 'user', deletions: 600, objects: 1_000_000 }, DEFAULT_DELETION_LIMITS),
    ).toBe('count');
  });

  it('decides per object class: one class past its limit holds the run, the others are named only when past theirs', () => {
    const decision = decideDeletions(
      [
        { objectClass: 'user', deletions: 10, objects: 1000 },
        { objectClass: 'group', deletions: 50, objects: 120 },
      ],
      DEFAULT_DELETION_LIMITS,
    );
    expect(decision.hold).toBe(true);
    if (decision.hold) expect(decision.tripped.map((entry) => entry.objectClass)).toEqual(['group']);
  });

  it('lets ordinary runs through: no deletions, a few, a first run', () => {
    expect(decideDeletions([], DEFAULT_DELETION_LIMITS)).toEqual({ hold: false });
    expect(
      decideDeletions([{ objectClass: 'user', deletions: 0, objects: 0 }], DEFAULT_DELETION_LIMITS),
    ).toEqual({ hold: false });
    expect(
      decideDeletions([{ objectClass: 'user', deletions: 15, objects: 19872 }], DEFAULT_DELETION_LIMITS),
    ).toEqual({ hold: false });
  });

  it('a limit of zero holds any deletion', () => {
    expect(
      decideDeletions([{ objectClass: 'user', deletions: 1, objects: 5 }], { maxCount: 0, maxPercent: 20 })
        .hold,
    ).toBe(true);
  });
});
