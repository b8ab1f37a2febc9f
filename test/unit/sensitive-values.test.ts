import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PlanInvalidError } from '../../kernel/errors.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import { isSealed, maskSealed, tenantSealer } from '../../src/secrets/sensitive-values.ts';

const tenantId = randomUUID();
const keyOne = randomBytes(32);

describe('sealed sensitive values', () => {
  const sealer = tenantSealer(tenantId, new Map([[1, keyOne]]));

  it('seals every kind of value and opens it as it was; null stays null', () => {
    for (const value of ['078-05-1120', 42, true, ['a', 'b'], '']) {
      const sealed = sealer.seal(value);
      expect(isSealed(sealed)).toBe(true);
      expect(JSON.stringify(sealed)).not.toContain(JSON.stringify(value).slice(1, -1) || 'never');
      expect(sealer.open(sealed)).toEqual(value);
    }
    expect(sealer.seal(null)).toBeNull();
  });

  it('seals one value alike every time (content hashes and confirmations still compare), two values apart', () => {
    expect(sealer.seal('078-05-1120')).toBe(sealer.seal('078-05-1120'));
    expect(sealer.seal('078-05-1120')).not.toBe(sealer.seal('078-05-1121'));
    // Sealing a sealed value changes nothing (a re-fed object's attributes come from the repository).
    const sealed = sealer.seal('x');
    expect(sealer.seal(sealed)).toBe(sealed);
  });

  it("refuses another tenant's key, an altered value and an unknown key version", () => {
    const sealed = sealer.seal('078-05-1120') as string;
    const other = tenantSealer(randomUUID(), new Map([[1, keyOne]]));
    expect(() => other.open(sealed)).toThrow(/does not open/);
    const altered = `${sealed.slice(0, -2)}${sealed.endsWith('A') ? 'B' : 'A'}${sealed.slice(-1)}`;
    expect(() => sealer.open(altered)).toThrow(/does not open/);
    expect(() => sealer.open(sealed.replace(':v1:1:', ':v1:7:'))).toThrow(/names no data key/);
  });

  it('seals with the newest key version and still opens what older versions sealed', () => {
    const rotated = tenantSealer(
      tenantId,
      new Map([
        [1, keyOne],
        [2, randomBytes(32)],
      ]),
    );
    const old = sealer.seal('078-05-1120');
    expect(rotated.open(old)).toBe('078-05-1120');
    expect(rotated.seal('078-05-1120')).toMatch(/^jny:sealed:v1:2:/);
  });

  it('seals and opens only the named attributes, and masks sealed values as ***', () => {
    const sealed = sealer.sealAttributes({ name: 'Ada', ssn: '078-05-1120' }, new Set(['ssn', 'absent']));
    expect(sealed.name).toBe('Ada');
    expect(isSealed(sealed.ssn)).toBe(true);
    expect(sealed).not.toHaveProperty('absent');
    expect(maskSealed(sealed)).toEqual({ name: 'Ada', ssn: '***' });
    expect(sealer.openAttributes(sealed)).toEqual({ name: 'Ada', ssn: '078-05-1120' });
  });
});

describe('plan checks of sensitive attributes', () => {
  const plan = (lines: { inbound?: string[]; joining?: string; vaultSsn?: string; rules?: string[] }) =>
    [
      'version: 1',
      'vault:',
      `  attributes: { employeeId: {}, ssn: ${lines.vaultSsn ?? '{ sensitive: true }'} }`,
      'applications:',
      '  - name: hr',
      '    type: csv',
      '    createsIdentities: true',
      '    objectClasses:',
      '      worker: { attributes: { WorkerID: {}, SSN: { sensitive: true } } }',
      '    inbound:',
      ...(lines.inbound ?? ['      - { vault: ssn, from: SSN }']),
      `    joining: [${lines.joining ?? '{ name: id, all: [{ source: WorkerID, vault: employeeId }] }'}]`,
      ...(lines.rules ?? []),
    ].join('\n');
  const problems = (text: string): string => {
    try {
      loadPlan(text, 'plan.yaml');
    } catch (error) {
      expect(error).toBeInstanceOf(PlanInvalidError);
      return (error as PlanInvalidError).message;
    }
    return '';
  };

  it('accepts a sensitive value carried by from: between sensitive attributes', () => {
    expect(problems(plan({}))).toBe('');
  });

  it('refuses an expression that reads a sensitive attribute, naming it', () => {
    expect(
      problems(
        plan({ inbound: ["      - { vault: employeeId, expression: 'source.SSN.substring(0, 3)' }"] }),
      ),
    ).toMatch(/reads source\.SSN, a sensitive attribute/);
    expect(
      problems(
        plan({
          rules: ['rules:', `  - { name: r, when: 'identity["ssn"] == "1"', set: { employeeId: '"x"' } }`],
        }),
      ),
    ).toMatch(/reads identity\.ssn, a sensitive attribute/);
  });

  it('refuses a joining rule on a sensitive attribute', () => {
    expect(problems(plan({ joining: '{ name: by ssn, all: [{ source: SSN, vault: ssn }] }' }))).toMatch(
      /joining rule "by ssn" compares "SSN", a sensitive attribute/,
    );
  });

  it('refuses a sensitive value copied into an attribute that is not sensitive, and the other way round', () => {
    expect(problems(plan({ vaultSsn: '{}' }))).toMatch(
      /attribute "SSN" is sensitive and Vault attribute "ssn" is not: mark both sensitive/,
    );
    expect(problems(plan({ inbound: ['      - { vault: ssn, from: WorkerID }'] }))).toMatch(
      /Vault attribute "ssn" is sensitive and attribute "WorkerID" is not/,
    );
    expect(problems(plan({ inbound: ["      - { vault: ssn, expression: 'source.WorkerID' }"] }))).toMatch(
      /Vault attribute "ssn" is sensitive: it can only be fed by "from" a sensitive attribute/,
    );
  });
});
