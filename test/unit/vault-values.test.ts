import { describe, expect, it } from 'vitest';
import { toVaultAttributes, toVaultValue } from '../../src/engine/vault-values.ts';

describe('toVaultValue: a mapped value as the declared Vault attribute takes it', () => {
  describe('single-valued', () => {
    it('takes the one value of a one-value list (a multi-valued directory attribute)', () => {
      expect(toVaultValue({ type: 'string' }, ['a@x'])).toEqual({ ok: true, value: 'a@x' });
      expect(toVaultValue({}, ['a@x'])).toEqual({ ok: true, value: 'a@x' });
      expect(toVaultValue({ type: 'int' }, [42])).toEqual({ ok: true, value: 42 });
    });

    it('reads an empty list as no value', () => {
      expect(toVaultValue({ type: 'string' }, [])).toEqual({ ok: true, value: null });
      expect(toVaultValue({ type: 'int' }, [])).toEqual({ ok: true, value: null });
    });

    it('keeps null', () => {
      expect(toVaultValue({ type: 'string' }, null)).toEqual({ ok: true, value: null });
      expect(toVaultValue({ type: 'bool' }, null)).toEqual({ ok: true, value: null });
    });

    it('takes the first of several values, in the order the source gave them, and says how many there were', () => {
      expect(toVaultValue({ type: 'string' }, ['b@x', 'a@x', 'c@x'])).toEqual({
        ok: true,
        value: 'b@x',
        of: 3,
      });
      // Only the value taken must be coercible.
      expect(toVaultValue({ type: 'int' }, ['7', 'seven'])).toEqual({ ok: true, value: 7, of: 2 });
      expect(toVaultValue({ type: 'int' }, ['seven', '7'])).toMatchObject({ ok: false });
    });

    it('keeps a scalar of the declared type as it is', () => {
      expect(toVaultValue({ type: 'string' }, 'a@x')).toEqual({ ok: true, value: 'a@x' });
      expect(toVaultValue({ type: 'string' }, '')).toEqual({ ok: true, value: '' });
      expect(toVaultValue({ type: 'int' }, -3)).toEqual({ ok: true, value: -3 });
      expect(toVaultValue({ type: 'double' }, 1.5)).toEqual({ ok: true, value: 1.5 });
      expect(toVaultValue({ type: 'bool' }, false)).toEqual({ ok: true, value: false });
      expect(toVaultValue({ type: 'bytes' }, 'AQID')).toEqual({ ok: true, value: 'AQID' });
      expect(toVaultValue({ type: 'timestamp' }, '2026-12-06T07:00:00Z')).toEqual({
        ok: true,
        value: '2026-12-06T07:00:00Z',
      });
    });
  });

  describe('scalar conversions', () => {
    it('string: a number or a boolean becomes its text', () => {
      expect(toVaultValue({ type: 'string' }, 1234)).toEqual({ ok: true, value: '1234' });
      expect(toVaultValue({ type: 'string' }, 0.5)).toEqual({ ok: true, value: '0.5' });
      expect(toVaultValue({ type: 'string' }, true)).toEqual({ ok: true, value: 'true' });
      expect(toVaultValue({ type: 'string' }, [1234])).toEqual({ ok: true, value: '1234' });
    });

    it('int: an integer string becomes its number; a fraction, a word, a boolean or an unsafe integer cannot', () => {
      expect(toVaultValue({ type: 'int' }, '123')).toEqual({ ok: true, value: 123 });
      expect(toVaultValue({ type: 'int' }, ' -0042 ')).toEqual({ ok: true, value: -42 });
      expect(toVaultValue({ type: 'int' }, '+7')).toEqual({ ok: true, value: 7 });
      for (const value of ['1.5', '', 'E123', '0x10', '1e3', '9007199254740993', 1.5, true]) {
        const result = toVaultValue({ type: 'int' }, value);
        expect(result.ok, String(value)).toBe(false);
      }
    });

    it('double: a decimal string becomes its number; anything else cannot', () => {
      expect(toVaultValue({ type: 'double' }, '1.25')).toEqual({ ok: true, value: 1.25 });
      expect(toVaultValue({ type: 'double' }, '-3')).toEqual({ ok: true, value: -3 });
      expect(toVaultValue({ type: 'double' }, '.5')).toEqual({ ok: true, value: 0.5 });
      expect(toVaultValue({ type: 'double' }, '2.5e3')).toEqual({ ok: true, value: 2500 });
      expect(toVaultValue({ type: 'double' }, 7)).toEqual({ ok: true, value: 7 });
      for (const value of ['', 'NaN', 'Infinity', '1,5', 'abc', false]) {
        expect(toVaultValue({ type: 'double' }, value).ok, String(value)).toBe(false);
      }
    });

    it('bool: "true"/"false" in any case (LDAP says TRUE/FALSE) become booleans; numbers and other words cannot', () => {
      expect(toVaultValue({ type: 'bool' }, 'TRUE')).toEqual({ ok: true, value: true });
      expect(toVaultValue({ type: 'bool' }, 'false')).toEqual({ ok: true, value: false });
      expect(toVaultValue({ type: 'bool' }, ['True'])).toEqual({ ok: true, value: true });
      for (const value of ['yes', '1', '0', '', 1, 0]) {
        expect(toVaultValue({ type: 'bool' }, value).ok, String(value)).toBe(false);
      }
    });

    it('bytes and timestamp: strings only, kept as the source wrote them', () => {
      expect(toVaultValue({ type: 'timestamp' }, '20261206070000Z')).toEqual({
        ok: true,
        value: '20261206070000Z',
      });
      expect(toVaultValue({ type: 'bytes' }, 12).ok).toBe(false);
      expect(toVaultValue({ type: 'timestamp' }, 1733468400).ok).toBe(false);
      expect(toVaultValue({ type: 'timestamp' }, true).ok).toBe(false);
    });

    it('says why a value cannot be coerced, without the value (it may be sensitive)', () => {
      expect(toVaultValue({ type: 'int', sensitive: true }, 'S3cret')).toEqual({
        ok: false,
        reason: 'a string value that cannot be read as int',
      });
    });
  });

  describe('multi-valued', () => {
    it('keeps a list, each value coerced', () => {
      expect(toVaultValue({ type: 'string', multiValued: true }, ['b', 'a'])).toEqual({
        ok: true,
        value: ['b', 'a'],
      });
      expect(toVaultValue({ type: 'int', multiValued: true }, ['1', 2])).toEqual({ ok: true, value: [1, 2] });
      expect(toVaultValue({ multiValued: true }, [])).toEqual({ ok: true, value: [] });
    });

    it('makes a scalar a list of one, and keeps null', () => {
      expect(toVaultValue({ multiValued: true }, 'g1')).toEqual({ ok: true, value: ['g1'] });
      expect(toVaultValue({ multiValued: true }, null)).toEqual({ ok: true, value: null });
    });

    it('cannot take a list with a value that cannot be coerced', () => {
      expect(toVaultValue({ type: 'int', multiValued: true }, ['1', 'two'])).toMatchObject({ ok: false });
    });
  });
});

describe("toVaultAttributes: an object's mapped attributes as the plan's Vault declares them", () => {
  const declared = {
    mail: { type: 'string' as const },
    employeeNumber: { type: 'int' as const },
    groups: { type: 'string' as const, multiValued: true },
    proxy: {},
  };

  it('coerces every declared attribute and notes the choices it made', () => {
    const { attributes, notes } = toVaultAttributes(declared, {
      mail: ['a@x', 'b@x'],
      employeeNumber: ['0042'],
      groups: 'staff',
      proxy: [],
    });
    expect(attributes).toEqual({ mail: 'a@x', employeeNumber: 42, groups: ['staff'], proxy: null });
    expect(notes).toEqual([
      {
        attribute: 'mail',
        kind: 'first-of-several',
        reason: 'mail is single-valued: the first of 2 values kept',
      },
    ]);
  });

  it('leaves out a value that cannot be coerced (the identity keeps what it had), and says why', () => {
    const { attributes, notes } = toVaultAttributes(declared, { mail: 'a@x', employeeNumber: 'E-42' });
    expect(attributes).toEqual({ mail: 'a@x' });
    expect('employeeNumber' in attributes).toBe(false);
    expect(notes).toEqual([
      {
        attribute: 'employeeNumber',
        kind: 'uncoercible',
        reason: 'employeeNumber: a string value that cannot be read as int; not written',
      },
    ]);
  });

  it('passes an undeclared attribute as it is, and nothing for nothing', () => {
    expect(toVaultAttributes(declared, { other: ['x', 'y'] })).toEqual({
      attributes: { other: ['x', 'y'] },
      notes: [],
    });
    expect(toVaultAttributes(declared, {})).toEqual({ attributes: {}, notes: [] });
  });

  it('does not change the mapped attributes it is given', () => {
    const mapped = { mail: ['a@x'] };
    toVaultAttributes(declared, mapped);
    expect(mapped).toEqual({ mail: ['a@x'] });
  });
});
