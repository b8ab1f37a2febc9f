// Property-based: random CEL expressions (from a grammar of literals, attributes, operators, string
// functions, `matches`, comprehensions and cel.bind, plus token soup) are checked as a plan's expressions
// are, and those accepted are evaluated on random identities: the plan is compiled or refused with the
// expression's path, and every evaluation ends within its budget with a value or a documented error.
import fc from 'fast-check';
import { EvaluationError, ParseError, TypeError as CelTypeError } from '@marcbachmann/cel-js';
import { describe, expect, it } from 'vitest';
import type { Attributes } from '../../kernel/contracts/identity-events.ts';
import { ExpressionBudgetError, PlanInvalidError } from '../../kernel/errors.ts';
import { celValues } from '../../src/engine/cel-values.ts';
import type { CompiledPlan } from '../../src/plan/check-plan.ts';
import { EXPRESSION_LIMITS } from '../../src/plan/expression-budget.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import type { AttributeSpec } from '../../src/plan/plan.schema.ts';

const vault: Record<string, AttributeSpec> = {
  name: { type: 'string' },
  mail: { type: 'string' },
  age: { type: 'int' },
  score: { type: 'double' },
  active: { type: 'bool' },
  tags: { type: 'string', multiValued: true },
  nums: { type: 'int', multiValued: true },
};

/** Per evaluation: the budget's 100 ms, and room for a garbage collection on a busy machine. */
const EVALUATION_BOUND_MS = EXPRESSION_LIMITS.timeMs + 900;
const PLAN_BOUND_MS = 2_000;

// ---- the grammar ------------------------------------------------------------------------------------

const quote = (text: string) => JSON.stringify(text);
const stringLiteral = fc.oneof(
  fc.string({ maxLength: 8 }).map(quote),
  fc.constantFrom('""', '"a"', "'b'", '"\\u00e9"', '"\\n"', 'r"\\d+"', '"""x"""'),
);
const intLiteral = fc.oneof(
  fc.integer({ min: -5, max: 100 }).map(String),
  fc.constantFrom('0', '9223372036854775807', '-9223372036854775808', '1u', '0x10'),
);
const pattern = fc.constantFrom(
  '"^a"',
  '"[a-z]+@[a-z]+"',
  '"(a+)+$"',
  '"(a|aa)*b"',
  '"a{1000}"',
  '"(a)\\\\1"',
  '"(?=x)"',
  '"["',
  '".*.*.*.*.*x"',
);

interface Grammar {
  str: string;
  int: string;
  bool: string;
  strings: string;
  ints: string;
}

const grammar = fc.letrec<Grammar>((tie) => {
  const str = tie('str') as fc.Arbitrary<string>;
  const int = tie('int') as fc.Arbitrary<string>;
  const bool = tie('bool') as fc.Arbitrary<string>;
  const strings = tie('strings') as fc.Arbitrary<string>;
  const ints = tie('ints') as fc.Arbitrary<string>;
  const f = (template: (...parts: string[]) => string, ...parts: fc.Arbitrary<string>[]) =>
    fc.tuple(...parts).map((values) => template(...values));
  const options = { depthSize: 'small', withCrossShrink: true } as const;
  return {
    str: fc.oneof(
      options,
      stringLiteral,
      fc.constantFrom('identity.name', 'identity.mail'),
      f((a, b) => `${a} + ${b}`, str, str),
      f((a) => `${a}.lowerAscii()`, str),
      f((a) => `${a}.upperAscii()`, str),
      f((a, i) => `${a}.substring(${i})`, str, int),
      f((i) => `string(${i})`, int),
      f((l, s) => `${l}.join(${s})`, strings, stringLiteral),
      f((s) => `cel.bind(s, ${s}, s + s + s + s)`, str),
      f((c, a, b) => `(${c} ? ${a} : ${b})`, bool, str, str),
      f((l, i) => `${l}[${i}]`, strings, int),
    ),
    int: fc.oneof(
      options,
      intLiteral,
      fc.constant('identity.age'),
      f((a, b) => `${a} + ${b}`, int, int),
      f((a, b) => `${a} * ${b}`, int, int),
      f((a, b) => `${a} / ${b}`, int, int),
      f((a, b) => `${a} % ${b}`, int, int),
      f((a) => `-${a}`, int),
      f((s) => `size(${s})`, str),
      f((l) => `size(${l})`, strings),
      f((s) => `int(${s})`, str),
      fc.constant('int(identity.score)'),
      f((l, i) => `${l}[${i}]`, ints, int),
    ),
    bool: fc.oneof(
      options,
      fc.constantFrom('true', 'false', 'identity.active', 'has(identity.name)', 'has(identity.tags)'),
      f((a, b) => `${a} == ${b}`, str, str),
      f((a, b) => `${a} < ${b}`, int, int),
      f((a, b) => `${a} && ${b}`, bool, bool),
      f((a, b) => `${a} || ${b}`, bool, bool),
      f((a) => `!${a}`, bool),
      f((a, b) => `${a}.startsWith(${b})`, str, str),
      f((a, b) => `${a}.contains(${b})`, str, str),
      f((a, p) => `${a}.matches(${p})`, str, pattern),
      f((a, l) => `${a} in ${l}`, str, strings),
      f((l, s) => `${l}.all(x, x.startsWith(${s}))`, strings, str),
      f((l, b) => `${l}.exists(x, ${b} || x == "")`, strings, bool),
      f((l, i) => `${l}.exists_one(n, n > ${i})`, ints, int),
      f((l, m) => `${l}.all(x, ${m}.exists(y, x + y != ""))`, strings, strings),
      f((b) => `cel.bind(b, ${b}, b && b)`, bool),
      f((s) => `score(${s})`, str),
      f((s) => `double(${s}) > identity.score`, str),
    ),
    strings: fc.oneof(
      options,
      fc.array(stringLiteral, { maxLength: 4 }).map((items) => `[${items.join(', ')}]`),
      fc.constant('identity.tags'),
      f((a, b) => `${a} + ${b}`, strings, strings),
      f((l, b) => `${l}.filter(x, ${b})`, strings, bool),
      f((l, s) => `${l}.map(x, x + ${s})`, strings, str),
      f((l) => `${l}.map(n, string(n))`, ints),
      f((s, d) => `${s}.split(${d})`, str, stringLiteral),
    ),
    ints: fc.oneof(
      options,
      fc.array(intLiteral, { maxLength: 4 }).map((items) => `[${items.join(', ')}]`),
      fc.constant('identity.nums'),
      fc
        .integer({ min: 100, max: 3_000 })
        .map((n) => `[${Array.from({ length: n }, (_, i) => String(i)).join(',')}]`),
      f((a, b) => `${a} + ${b}`, ints, ints),
      f((l, i) => `${l}.map(n, n * ${i})`, ints, int),
      f((l) => `${l}.filter(n, n % 2 == 0)`, ints),
    ),
  };
});

/** Token soup: what a user half-way through typing, or a fuzzer, gives. */
const soup = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        'identity',
        '.',
        'name',
        '(',
        ')',
        '[',
        ']',
        '{',
        '}',
        ',',
        '?',
        ':',
        '+',
        '-',
        '*',
        '/',
        '%',
        '==',
        '!',
        '&&',
        '||',
        'in',
        'x',
        'all',
        'exists',
        'map',
        'filter',
        'cel.bind',
        'has',
        'matches',
        'size',
        '"',
        "'",
        '1',
        '1.5',
        '1u',
        'b"\\xff"',
        'null',
        'true',
        '\\',
        '`',
        '\u0000',
        '\ud800',
      ),
      fc.string({ unit: 'binary', maxLength: 4 }),
    ),
    { maxLength: 30 },
  )
  .map((tokens) => tokens.join(' '));

const deeplyNested = fc
  .integer({ min: 20, max: 3_000 })
  .chain((depth) =>
    fc.constantFrom(
      `${'('.repeat(depth)}true${')'.repeat(depth)}`,
      `${'!'.repeat(depth)}true`,
      `${'['.repeat(depth)}${']'.repeat(depth)} == []`,
      `${'1 + '.repeat(depth)}1 > 0`,
    ),
  );

// ---- identities -------------------------------------------------------------------------------------

const text = (maxLength: number) => fc.string({ unit: 'grapheme', maxLength });
const identity: fc.Arbitrary<Attributes> = fc.record(
  {
    name: fc.oneof(
      text(12),
      fc.integer({ min: 1_000, max: 300_000 }).map((n) => 'a'.repeat(n)),
    ),
    mail: text(20),
    age: fc.integer({ min: -1_000, max: 1_000 }),
    score: fc.double({ noNaN: true, noDefaultInfinity: true }),
    active: fc.boolean(),
    tags: fc.oneof(
      fc.array(text(6), { maxLength: 5 }),
      fc.integer({ min: 100, max: 2_000 }).map((n) => Array.from({ length: n }, (_, i) => `t${String(i)}`)),
    ),
    nums: fc.array(fc.integer({ min: -100, max: 100 }), { maxLength: 20 }),
  },
  { requiredKeys: [] },
);

// ---- the property -----------------------------------------------------------------------------------

function planText(when: string, name: string): string {
  return JSON.stringify({
    version: 1,
    vault: { attributes: vault },
    applications: [
      { name: 'hr', type: 'csv', objectClasses: { user: { attributes: { id: { type: 'string' } } } } },
    ],
    classifications: [{ value: 1, name: 'fuzzed', when }],
    rules: [{ name: 'fuzzed', when: 'true', set: { name } }],
  });
}

function compile(when: string, name: string): CompiledPlan | PlanInvalidError {
  const started = performance.now();
  try {
    return loadPlan(planText(when, name), 'plan.json');
  } catch (error) {
    if (!(error instanceof PlanInvalidError)) throw error;
    for (const problem of error.problems) expect(problem.path).not.toBe('');
    return error;
  } finally {
    expect(performance.now() - started).toBeLessThan(PLAN_BOUND_MS);
  }
}

/** The errors an evaluation may end with: over budget, or CEL's own (a missing attribute, no overload). */
function expectDocumentedError(error: unknown): void {
  if (error instanceof ExpressionBudgetError) {
    expect(error.code).toBe('JNY_EXPRESSION_BUDGET');
    return;
  }
  if (error instanceof EvaluationError || error instanceof CelTypeError || error instanceof ParseError)
    return;
  // The budget's own `matches` and `join` say it as CEL does (src/plan/expression-budget.ts).
  expect(String(error)).toMatch(
    /found no matching overload|invalid regular expression \(RE2\)|must contain only strings/,
  );
}

function evaluate(plan: CompiledPlan, path: string, attributes: Attributes, expected: string): void {
  const expression = plan.expressions.get(path);
  if (expression === undefined) throw new Error(`${path} was not compiled`);
  const context = { identity: celValues(vault, attributes) };
  const started = performance.now();
  try {
    const value = expression(context);
    expect(typeof value).toBe(expected);
  } catch (error) {
    expectDocumentedError(error);
  }
  expect(performance.now() - started).toBeLessThan(EVALUATION_BOUND_MS);
}

const strExpression = grammar.str;
const boolExpression = fc.oneof(
  { arbitrary: grammar.bool, weight: 6 },
  { arbitrary: soup, weight: 2 },
  { arbitrary: deeplyNested, weight: 1 },
  { arbitrary: grammar.int, weight: 1 },
);

describe('expression compiler, property-based', () => {
  it('compiles or refuses any expression by its path, and evaluates what it accepts within the budget', () => {
    let compiled = 0;
    fc.assert(
      fc.property(
        boolExpression,
        strExpression,
        fc.array(identity, { minLength: 1, maxLength: 3 }),
        (when, name, identities) => {
          const plan = compile(when, name);
          if (plan instanceof PlanInvalidError) {
            expect(plan.problems.map((problem) => problem.path).join(' ')).toMatch(
              /classifications\[0\]\.when|rules\[0\]\.set\.name/,
            );
            return;
          }
          compiled++;
          for (const attributes of identities) {
            evaluate(plan, 'classifications[0].when', attributes, 'boolean');
            evaluate(plan, 'rules[0].set.name', attributes, 'string');
          }
        },
      ),
      { numRuns: 300 },
    );
    // The grammar is meant to reach evaluation, not only the compiler's refusals.
    expect(compiled).toBeGreaterThan(20);
  });

  it('fails an expression over budget on a large identity with JNY_EXPRESSION_BUDGET, within its time', () => {
    const plan = compile(
      'identity.tags.all(a, identity.tags.all(b, identity.tags.all(c, a + b + c != "")))',
      'identity.tags.map(x, x + identity.name).join(",")',
    );
    if (plan instanceof PlanInvalidError) throw plan;
    fc.assert(
      fc.property(fc.integer({ min: 200, max: 2_000 }), (size) => {
        const tags = Array.from({ length: size }, (_, i) => `t${String(i)}`);
        const started = performance.now();
        expect(() =>
          plan.expressions.get('classifications[0].when')?.({ identity: celValues(vault, { tags }) }),
        ).toThrow(ExpressionBudgetError);
        expect(performance.now() - started).toBeLessThan(EVALUATION_BOUND_MS);
      }),
      { numRuns: 5 },
    );
  });

  it('refuses an expression nested past the limit by its depth, before anything recursive reads it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 251, max: 4_000 }), fc.constantFrom('!', '-'), (depth, operator) => {
        const plan = compile(`${operator.repeat(depth)}${operator === '!' ? 'true' : '1 > 0'}`, '"x"');
        expect(plan).toBeInstanceOf(PlanInvalidError);
        expect((plan as PlanInvalidError).message).toMatch(/nests \d+ levels deep|more than 4096 characters/);
      }),
      { numRuns: 20 },
    );
  });
});
