import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay } from '../../kernel/retry.ts';
import { attributeChanges, decideOutbound, type OutboundInput } from '../../src/engine/outbound.ts';
import { exportRetryBackoff } from '../../src/engine/export-queue.ts';

const secret = { keyId: 'tenant-key-1', ciphertext: 'c2VhbGVk' };
const input = (overrides: Partial<OutboundInput> = {}): OutboundInput => ({
  identityState: 'active',
  belongs: true,
  desired: { userName: 'ada', title: 'Engineer', department: null },
  objectClass: 'User',
  deprovision: 'disable',
  passwords: [],
  ...overrides,
});
const provisioned = {
  objectClass: 'User',
  externalId: 'u-1',
  desired: { userName: 'ada', title: 'Engineer', department: null },
  state: 'provisioned' as const,
  enabled: true,
};

describe('outbound decision', () => {
  it('creates the object of an identity that belongs and has none, without empty attributes', () => {
    const { operations, next } = decideOutbound(input());
    expect(operations).toEqual([
      { operation: 'create', externalId: null, attributes: { userName: 'ada', title: 'Engineer' } },
    ]);
    expect(next).toMatchObject({ state: 'provisioned', enabled: true, externalId: null });
  });

  it('out of sandbox, counts for nothing what a sandbox only reported: the application holds what it holds', () => {
    // In sandbox the report shows the create, and the decision is remembered as a report.
    const reported = decideOutbound(input({ sandbox: true }));
    expect(reported.operations.map((o) => o.operation)).toEqual(['create']);
    expect(reported.next).toMatchObject({ state: 'provisioned', sandbox: true });
    // Still in sandbox: the same identity reports nothing new.
    expect(decideOutbound(input({ sandbox: true, previous: reported.next })).operations).toEqual([]);
    // Live: the create is really exported; an account joined meanwhile is updated where it differs.
    const live = decideOutbound(input({ previous: reported.next }));
    expect(live.operations).toEqual([
      { operation: 'create', externalId: null, attributes: { userName: 'ada', title: 'Engineer' } },
    ]);
    expect(live.next?.sandbox).toBeUndefined();
    expect(
      decideOutbound(
        input({
          previous: reported.next,
          joined: { externalId: 'ad-7', attributes: { userName: 'ada', title: 'Intern' } },
        }),
      ).operations,
    ).toEqual([{ operation: 'update', externalId: 'ad-7', attributes: { title: 'Engineer' } }]);
    // What was really exported before a spell in sandbox still counts there.
    expect(decideOutbound(input({ sandbox: true, previous: provisioned })).operations).toEqual([]);
  });

  it('creates a disabled identity disabled', () => {
    expect(decideOutbound(input({ identityState: 'disabled' })).operations.map((o) => o.operation)).toEqual([
      'create',
      'disable',
    ]);
  });

  it('exports nothing when nothing changed, and only the changed attributes otherwise', () => {
    expect(decideOutbound(input({ previous: provisioned })).operations).toEqual([]);
    const { operations } = decideOutbound(
      input({ previous: provisioned, desired: { userName: 'ada', title: 'Architect', department: 'R&D' } }),
    );
    expect(operations).toEqual([
      { operation: 'update', externalId: 'u-1', attributes: { title: 'Architect', department: 'R&D' } },
    ]);
  });

  it('updates an object joined by a rule only where the application holds other values', () => {
    const { operations } = decideOutbound(
      input({ joined: { externalId: 'ad-7', attributes: { userName: 'ada', title: 'Intern', extra: 'x' } } }),
    );
    expect(operations).toEqual([
      { operation: 'update', externalId: 'ad-7', attributes: { title: 'Engineer' } },
    ]);
  });

  it('disables a leaver, enables a returner, and deletes the object of a deleted identity', () => {
    expect(decideOutbound(input({ identityState: 'leaver', previous: provisioned })).operations).toEqual([
      { operation: 'disable', externalId: 'u-1' },
    ]);
    expect(decideOutbound(input({ previous: { ...provisioned, enabled: false } })).operations).toEqual([
      { operation: 'enable', externalId: 'u-1' },
    ]);
    const deleted = decideOutbound(input({ identityState: 'deleted', previous: provisioned }));
    expect(deleted.operations).toEqual([{ operation: 'delete', externalId: 'u-1' }]);
    // Decided again (a replayed event): nothing more.
    expect(decideOutbound(input({ identityState: 'deleted', previous: deleted.next })).operations).toEqual(
      [],
    );
  });

  it('deprovisions an identity that no longer belongs as the application says, once', () => {
    const disabled = decideOutbound(input({ belongs: false, previous: provisioned }));
    expect(disabled.operations).toEqual([{ operation: 'disable', externalId: 'u-1' }]);
    expect(decideOutbound(input({ belongs: false, previous: disabled.next })).operations).toEqual([]);
    expect(
      decideOutbound(input({ belongs: false, deprovision: 'delete', previous: provisioned })).operations,
    ).toEqual([{ operation: 'delete', externalId: 'u-1' }]);
    expect(
      decideOutbound(input({ belongs: false, deprovision: 'keep', previous: provisioned })).operations,
    ).toEqual([]);
    expect(decideOutbound(input({ belongs: false })).operations).toEqual([]);
  });

  it('passes password changes through, sealed, after the create', () => {
    expect(decideOutbound(input({ passwords: [secret] })).operations).toEqual([
      expect.objectContaining({ operation: 'create' }),
      { operation: 'password', externalId: null, secret },
    ]);
  });

  it('compares multi-valued attributes by value', () => {
    expect(attributeChanges({ groups: ['a', 'b'] }, { groups: ['a', 'b'] })).toBeUndefined();
    expect(attributeChanges({ groups: ['a', 'b'] }, { groups: ['b', 'a'] })).toEqual({ groups: ['b', 'a'] });
    expect(attributeChanges({}, { title: null })).toBeUndefined();
  });
});

describe('export retry backoff', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** The delay before retry `attempt` when the jitter draws `random` (0 lowest, 1 the ceiling). */
  const delay = (attempt: number, random: number): number => {
    vi.spyOn(Math, 'random').mockReturnValue(random);
    return backoffDelay(exportRetryBackoff, attempt);
  };

  it('doubles from 5 s up to an hour, with jitter in the upper half', () => {
    expect(delay(1, 0)).toBe(2_500);
    expect(delay(1, 1)).toBe(5_000);
    expect(delay(3, 0)).toBe(10_000);
    expect(delay(3, 1)).toBe(20_000);
    expect(delay(30, 0)).toBe(1_800_000);
    expect(delay(30, 1)).toBe(3_600_000);
  });
});
