// Property-based: whatever text is given as a sync plan, loadPlan either returns the compiled plan or throws
// PlanInvalidError whose every problem says where (a line, a path) — never another exception, never a hang.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { PlanInvalidError } from '../../kernel/errors.ts';
import { projectRoot } from '../../src/infra/process.ts';
import { checkPlan } from '../../src/plan/check-plan.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import type { SyncPlan } from '../../src/plan/plan.schema.ts';
import {
  copyOf,
  hostileKey,
  places,
  replaceAt,
  setOwn,
  unstorableText,
} from '../support/message-arbitraries.ts';

const exampleText = readFileSync(join(projectRoot, 'docs/examples/sync-plan.yaml'), 'utf8');
const example = loadPlan(exampleText, 'sync-plan.yaml').plan;
/** Per plan: generous (the example loads in milliseconds); it catches a hang, not a slow machine. */
const BOUND_MS = 2_000;

type Outcome = { accepted: SyncPlan } | { refused: PlanInvalidError };

/** Loads the text and checks the outcome is one of the two allowed, in bounded time. */
function load(text: string): Outcome {
  const started = performance.now();
  let outcome: Outcome;
  try {
    outcome = { accepted: loadPlan(text, 'plan.yaml').plan };
  } catch (error) {
    if (!(error instanceof PlanInvalidError)) throw error;
    outcome = { refused: error };
  }
  expect(performance.now() - started).toBeLessThan(BOUND_MS);
  if ('refused' in outcome) {
    const { problems, message } = outcome.refused;
    expect(problems.length).toBeGreaterThan(0);
    expect(message).toMatch(/^plan\.yaml: \d+ problems?\n/);
    for (const problem of problems) {
      expect(problem.message.length).toBeGreaterThan(0);
      // Located: a path (empty for the whole document: its size, its aliases, its type) and, where the
      // document has it, a line.
      expect(typeof problem.path).toBe('string');
      if (problem.line !== undefined) expect(problem.line).toBeGreaterThanOrEqual(1);
    }
  } else {
    // What loadPlan accepts, checkPlan accepts again (as a stored plan is checked when it is used).
    expect(checkPlan(outcome.accepted, undefined, { staticLimits: false }).problems).toEqual([]);
  }
  return outcome;
}

/** The plan as text; a value nested past what yaml's writer can recurse into is written as JSON (also YAML). */
function asText(value: unknown, format: 'yaml' | 'json'): string {
  if (format === 'yaml')
    try {
      return stringify(value, { aliasDuplicateObjects: false });
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
    }
  return JSON.stringify(value);
}

/** A place of the example plan, the root included. */
const placeOfExample = fc.constantFrom(...places(example));

/** A value in place of another: any JSON, text PostgreSQL cannot store, a huge string, a deep list. */
const replacement = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  unstorableText,
  fc.integer({ min: 1_000, max: 100_000 }).map((length) => 'x'.repeat(length)),
  fc.constantFrom('source.', 'identity.x + ', '((((((', '"', "'", 'true && ', '[1,2,3].map(x, x)'),
  // A list nested this deep, built in the property (fast-check could not print it in a counterexample).
  fc.record({ nestedListDepth: fc.integer({ min: 10, max: 2_000 }) }),
);

const materialise = (value: unknown): unknown =>
  typeof value === 'object' && value !== null && 'nestedListDepth' in value
    ? (JSON.parse(
        `${'['.repeat(Number(value.nestedListDepth))}${']'.repeat(Number(value.nestedListDepth))}`,
      ) as unknown)
    : value;

describe('sync plan loading, property-based', () => {
  it('loads the documented example', () => {
    expect(load(exampleText)).toHaveProperty('accepted');
  });

  it('refuses arbitrary text with located problems, or accepts it', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 400 }),
          fc.string({ unit: 'grapheme-ascii', maxLength: 400 }),
          fc.jsonValue({ maxDepth: 5 }).map((value) => JSON.stringify(value)),
          fc.jsonValue({ maxDepth: 5 }).map((value) => stringify(value)),
        ),
        (text) => {
          load(text);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('takes the example with any value replaced, in YAML or JSON', () => {
    fc.assert(
      fc.property(placeOfExample, replacement, fc.constantFrom('yaml', 'json'), ([path], value, format) => {
        load(asText(replaceAt(example, path, materialise(value)), format));
      }),
      { numRuns: 250 },
    );
  });

  it('takes the example with a hostile key added or a key removed anywhere', () => {
    const objectPlaces = places(example).filter(
      ([, value]) => typeof value === 'object' && value !== null && !Array.isArray(value),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...objectPlaces),
        fc.oneof(hostileKey, fc.constantFrom('constructor', 'toString', 'hasOwnProperty', 'valueOf')),
        fc.jsonValue({ maxDepth: 3 }),
        fc.boolean(),
        fc.constantFrom('yaml', 'json'),
        ([path, value], key, content, remove, format) => {
          const copy = copyOf(example) as Record<string, unknown>;
          let target: unknown = copy;
          for (const part of path) target = (target as Record<string | number, unknown>)[part];
          const keys = Object.keys(value as object);
          const existing = keys[content === null ? 0 : keys.length - 1];
          if (remove && existing !== undefined) Reflect.deleteProperty(target as object, existing);
          else setOwn(target as object, key, content);
          load(asText(copy, format));
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        },
      ),
      { numRuns: 200 },
    );
  });

  it('names a constructor-like attribute without tripping on Object.prototype', () => {
    // Attribute names that are also Object.prototype's: a lookup in a plain object would find a function.
    fc.assert(
      fc.property(
        fc.constantFrom('constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'),
        fc.constantFrom('vault', 'source', 'from'),
        (name, where) => {
          const plan = copyOf<SyncPlan>(example);
          const application = plan.applications[0];
          if (application === undefined) throw new Error('the example has applications');
          if (where === 'vault') setOwn(plan.vault.attributes, name, { type: 'string' });
          if (where === 'source')
            application.joining = [{ name: 'odd', all: [{ source: name, vault: 'employeeId' }] }];
          if (where === 'from') application.inbound = [{ vault: name, from: 'WorkerID' }];
          const outcome = load(stringify(plan));
          if ('refused' in outcome)
            expect(outcome.refused.problems.map((problem) => problem.message).join('\n')).toContain(name);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('takes the example text with lines cut, doubled, swapped or spliced with YAML syntax', () => {
    const lines = exampleText.split('\n');
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat(lines.length - 1) }),
      fc.record({ kind: fc.constant('double' as const), at: fc.nat(lines.length - 1) }),
      fc.record({ kind: fc.constant('swap' as const), at: fc.nat(lines.length - 2) }),
      fc.record({
        kind: fc.constant('splice' as const),
        at: fc.nat(lines.length - 1),
        column: fc.nat(60),
        text: fc.oneof(
          fc.constantFrom(
            '&a ',
            '*a',
            '<<: *a',
            '!!binary ',
            '!!js/function ',
            '\t',
            ': ',
            '- ',
            '{',
            ']',
            '#',
            '%YAML 1.1\n---\n',
            '\u0000',
            '\ud800',
          ),
          fc.string({ unit: 'binary', maxLength: 8 }),
        ),
      }),
    );
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        const text = [...lines];
        for (const change of edits) {
          if (change.kind === 'cut') text.splice(change.at, 1);
          else if (change.kind === 'double') text.splice(change.at, 0, text[change.at] ?? '');
          else if (change.kind === 'swap') {
            const [a, b] = [text[change.at] ?? '', text[change.at + 1] ?? ''];
            text.splice(change.at, 2, b, a);
          } else {
            const line = text[change.at] ?? '';
            text[change.at] = line.slice(0, change.column) + change.text + line.slice(change.column);
          }
        }
        load(text.join('\n'));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses alias bombs, deep nesting and oversized plans in bounded time', () => {
    const depth = fc.integer({ min: 2, max: 12 });
    const width = fc.integer({ min: 2, max: 12 });
    fc.assert(
      fc.property(depth, width, (levels, fanOut) => {
        const text = [`a0: &a0 [x]`];
        for (let level = 1; level <= levels; level++)
          text.push(
            `a${String(level)}: &a${String(level)} [${Array.from({ length: fanOut }, () => `*a${String(level - 1)}`).join(', ')}]`,
          );
        load(text.join('\n'));
      }),
      { numRuns: 40 },
    );
    const refused = (text: string) => {
      const outcome = load(text);
      expect(outcome).toHaveProperty('refused');
    };
    expect(JSON.stringify(load(`${'['.repeat(50_000)}${']'.repeat(50_000)}`))).toContain('nested too deeply');
    refused(`${'a:\n '.repeat(2_000)}x`);
    refused(exampleText + `\n# ${'x'.repeat(1024 * 1024)}`);
  });
});
