import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planChangesIdentities } from '../../src/engine/plan-reconciliation.ts';
import { projectRoot } from '../../src/infra/process.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';

const example = readFileSync(join(projectRoot, 'docs/examples/sync-plan.yaml'), 'utf8');

/** The documented example with one line changed, compiled. */
function edited(search: string, replacement: string) {
  expect(example).toContain(search);
  return loadPlan(example.replace(search, replacement), 'plan.yaml').plan;
}

const current = loadPlan(example, 'plan.yaml').plan;

describe('which plan changes are reconciled with the identities already in the Vault', () => {
  it('a first plan, a classification, a rule, an outbound mapper, filter or classification list, an export setting, leaving sandbox', () => {
    expect(planChangesIdentities(undefined, current)).toBe(true);
    for (const [search, replacement] of [
      ['when: \'identity.employeeType == "Contractor"\'', 'when: \'identity.employeeType == "Temp"\''],
      ['"Former employee"', '"Left the company"'],
      [
        '- { target: title, from: title }\n      - { target: active',
        '- { target: title, from: department }\n      - { target: active',
      ],
      ['outbound: \'identity.department == "Sales"\'', 'outbound: \'identity.department == "Marketing"\''],
      [
        'classifications: [1]\n    export: { deprovision: delete }',
        'classifications: [1, 2]\n    export: { deprovision: delete }',
      ],
      ['export: { deprovision: delete }', 'export: { deprovision: disable }'],
      ['mode: sandbox', 'mode: live'],
    ] as const) {
      expect(planChangesIdentities(current, edited(search, replacement)), replacement).toBe(true);
    }
  });

  it("not a comment, a schedule, a move between approval and live, an external connector's lease, or the same plan read back from the database", () => {
    expect(planChangesIdentities(current, loadPlan(`# reviewed\n${example}`, 'plan.yaml').plan)).toBe(false);
    expect(
      planChangesIdentities(
        current,
        edited('everyMinutes: 15 }\n\n  - name: salesforce', 'everyMinutes: 30 }\n\n  - name: salesforce'),
      ),
    ).toBe(false);
    expect(planChangesIdentities(current, edited('mode: approval', 'mode: live'))).toBe(false);
    // An external connector's lease decides when an export is published again, not what it holds.
    const external = (settings: string) =>
      edited('    export: { deprovision: delete }', `    connector: external\n    export: { ${settings} }`);
    expect(
      planChangesIdentities(
        external('deprovision: delete'),
        external('deprovision: delete, leaseSeconds: 60'),
      ),
    ).toBe(false);
    // jsonb gives the keys back in its own order.
    const reordered = JSON.parse(
      JSON.stringify(current, (_key, value: unknown) =>
        value !== null && typeof value === 'object' && !Array.isArray(value)
          ? Object.fromEntries(Object.entries(value).reverse())
          : value,
      ),
    ) as typeof current;
    expect(planChangesIdentities(current, reordered)).toBe(false);
  });
});
