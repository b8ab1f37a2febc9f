import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ExpressionBudgetError, PlanInvalidError } from '../../kernel/errors.ts';
import { checkPlan } from '../../src/plan/check-plan.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import { patternRepeats } from '../../src/plan/expression-budget.ts';
import type { SyncPlan } from '../../src/plan/plan.schema.ts';

const example = readFileSync(new URL('../../docs/examples/sync-plan.yaml', import.meta.url), 'utf8');
const employee = `when: 'identity.employeeType == "Employee"'`;

/** The documented example with its first classification's condition replaced. */
const withCondition = (when: string): string => example.replace(employee, `when: '${when}'`);

/** Twelve nested comprehensions over ten digits: 10^12 steps. */
function nestedComprehensions(depth: number): string {
  const digits = '[0,1,2,3,4,5,6,7,8,9]';
  let when = 'true';
  for (let level = depth; level >= 1; level--) when = `${digits}.all(v${String(level)}, ${when})`;
  return when;
}

/** A list doubled through cel.bind 27 times: 2^28 elements. */
function doubling(times: number): string {
  let expression = `size(x${String(times)}) > 0`;
  for (let level = times; level >= 1; level--)
    expression = `cel.bind(x${String(level)}, ${level === 1 ? '[0, 1]' : `x${String(level - 1)} + x${String(level - 1)}`}, ${expression})`;
  return expression;
}

function refusal(text: string): string {
  try {
    loadPlan(text, 'plan.yaml');
  } catch (error) {
    if (error instanceof PlanInvalidError) return error.message;
    throw error;
  }
  throw new Error('the plan was accepted');
}

describe('the expression budget', () => {
  it('refuses twelve nested comprehensions at validation, naming the expression and its cost', () => {
    const started = performance.now();
    const message = refusal(withCondition(nestedComprehensions(12)));
    expect(message).toMatch(
      /classifications\[0\]\.when: expression may take up to 10\^12 steps, the limit is 10\^6/,
    );
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('refuses a list doubled through cel.bind at validation', () => {
    expect(refusal(withCondition(doubling(27)))).toMatch(
      /classifications\[0\]\.when: expression may build a list of 10\^8 elements, the limit is 10\^6/,
    );
  });

  it('stops a stored plan of the same kind at run time with the budget error, within the time limit', () => {
    const document = loadPlan(example, 'plan.yaml').plan;
    const hostile: SyncPlan = {
      ...document,
      classifications: [
        { value: 9, name: 'hostile', when: doubling(27) },
        ...(document.classifications ?? []),
      ],
    };
    // Stored before the static limits existed: it compiles, and each evaluation is bounded.
    const { compiled } = checkPlan(hostile, undefined, { staticLimits: false });
    const when = compiled?.expressions.get('classifications[0].when');
    expect(when).toBeDefined();
    const started = performance.now();
    let failure: unknown;
    try {
      when?.({ identity: {} });
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(ExpressionBudgetError);
    expect((failure as ExpressionBudgetError).code).toBe('JNY_EXPRESSION_BUDGET');
    expect((failure as ExpressionBudgetError).details).toMatchObject({
      expression: 'classifications[0].when',
    });
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('stops nested comprehensions over imported lists at run time, even under || and all()', () => {
    const compiled = loadPlan(
      withCondition(
        'identity.employeeType.split("").all(a, identity.employeeType.split("").all(b, a == b || true))',
      ),
      'plan.yaml',
    );
    const when = compiled.expressions.get('classifications[0].when');
    expect(when?.({ identity: { employeeType: 'a'.repeat(100) } })).toBe(true);
    const started = performance.now();
    expect(() => when?.({ identity: { employeeType: 'a'.repeat(100_000) } })).toThrow(
      /classifications\[0\]\.when: expression exceeded its budget \(more than 10\^6 steps\)/,
    );
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('runs matches on RE2: ^(a+)+$ over thirty a and a ! answers in milliseconds', () => {
    const compiled = loadPlan(withCondition('identity.employeeType.matches("^(a+)+$")'), 'plan.yaml');
    const when = compiled.expressions.get('classifications[0].when');
    const started = performance.now();
    expect(when?.({ identity: { employeeType: `${'a'.repeat(30)}!` } })).toBe(false);
    expect(when?.({ identity: { employeeType: 'a'.repeat(30) } })).toBe(true);
    expect(performance.now() - started).toBeLessThan(50);
  });

  it('refuses a pattern RE2 does not take (a backreference), naming the expression', () => {
    expect(refusal(withCondition('identity.employeeType.matches("(a)\\\\1")'))).toMatch(
      /classifications\[0\]\.when: pattern "\(a\)\\\\1" is not an RE2 regular expression/,
    );
  });

  it('refuses a pattern whose counted repetitions RE2 would compile into a huge program, before compiling it', () => {
    const started = performance.now();
    expect(refusal(withCondition(`identity.employeeType.matches("${'a{1000}'.repeat(580)}")`))).toMatch(
      /classifications\[0\]\.when: pattern "a\{1000\}.*"… repeats 580000 times in all \(\{n\} counts\), the limit is 1000/,
    );
    // Refused by counting, not by compiling (which takes half a second and 64-256 MB).
    expect(performance.now() - started).toBeLessThan(200);
    expect(patternRepeats('^[A-Z]{2}\\d{6,8}$')).toBe(10);
    expect(patternRepeats('a\\{1000\\}')).toBe(0);
  });

  it('refuses a string longer than the limit at run time', () => {
    const compiled = loadPlan(
      withCondition('cel.bind(s, identity.employeeType + identity.employeeType, s + s + s + s).size() > 0'),
      'plan.yaml',
    );
    const when = compiled.expressions.get('classifications[0].when');
    expect(when?.({ identity: { employeeType: 'x'.repeat(1_000) } })).toBe(true);
    expect(() => when?.({ identity: { employeeType: 'x'.repeat(200_000) } })).toThrow(ExpressionBudgetError);
  });

  it('refuses plans too large: text, applications', () => {
    expect(refusal(`${example}\n#${'x'.repeat(1024 * 1024)}\n`)).toMatch(
      /the plan is \d+ bytes, the limit is 1048576/,
    );
    const document = loadPlan(example, 'plan.yaml').plan;
    const first = document.applications[0];
    if (first === undefined) throw new Error('the example has applications');
    const many: SyncPlan = {
      ...document,
      applications: Array.from({ length: 201 }, (_, index) => ({ ...first, name: `app${String(index)}` })),
    };
    expect(checkPlan(many).problems).toContainEqual({
      path: ['applications'],
      message: '201 applications, the limit is 200',
    });
  });

  it('leaves the documented plan valid and its expressions evaluating as before', () => {
    const compiled = loadPlan(example, 'plan.yaml');
    expect(compiled.expressions.size).toBe(11);
    const classify = (identity: Record<string, unknown>) =>
      [0, 1, 2].find(
        (index) =>
          compiled.expressions.get(`classifications[${String(index)}].when`)?.({ identity }) === true,
      );
    expect(classify({ employeeType: 'Employee' })).toBe(0);
    expect(classify({ employeeType: 'Contractor' })).toBe(1);
    expect(classify({ employeeType: 'Intern' })).toBe(2);
    // A missing attribute is still an ordinary evaluation error, not a budget error.
    expect(() => compiled.expressions.get('classifications[0].when')?.({ identity: {} })).toThrow();
    try {
      compiled.expressions.get('classifications[0].when')?.({ identity: {} });
    } catch (error) {
      expect(error).not.toBeInstanceOf(ExpressionBudgetError);
    }
  });
});
