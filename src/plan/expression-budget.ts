// Every CEL expression of a sync plan runs under a budget: evaluation steps, wall-clock time, and the size
// of each list and string it touches or builds. A plan is refused when an expression's static cost cannot
// fit; at run time an expression over budget throws ExpressionBudgetError, which fails the one object or
// identity it was evaluated for. `matches` runs on RE2 (linear time), never on a backtracking engine.
//
// @marcbachmann/cel-js has parse-time limits (AST nodes, depth, literal sizes) but no evaluation budget. Its
// evaluator runs every node through `evaluator.run(node, ctx)`; the budget replaces that method on each
// environment's evaluator with a counting one (reached through `this` of a probe function, the one way the
// library hands out its evaluator), and gives `matches` and `join` nodes an evaluation of their own. This
// relies on the library's internals: the version is pinned in package.json and test/unit/expression-budget
// fails if the hooks stop working.
import type { Environment } from '@marcbachmann/cel-js';
import { RE2JS } from 're2js';
import { ExpressionBudgetError } from '../../kernel/errors.ts';

/** The limits of one evaluation, and of a plan's expressions at validation. */
export const EXPRESSION_LIMITS = {
  /** Nodes evaluated (each comprehension step, each operand), plus the elements lists built by `+`, calls and `map` hold. */
  steps: 1_000_000,
  /** Wall-clock time of one evaluation, checked every `CHECK_EVERY` steps. */
  timeMs: 100,
  /** Elements of any list (or bytes of any bytes value) an expression reads or builds. */
  listElements: 1_000_000,
  /** Characters of any string an expression reads or builds. */
  stringLength: 1_000_000,
  /** Characters of a `matches` pattern. */
  patternLength: 4_096,
  /**
   * The sum of a pattern's counted repetitions (`a{1000}` counts 1,000): RE2 compiles each one out, so
   * `a{1000}` written 580 times is a 580,000-instruction program that takes 64–256 MB and half a second to
   * build — in the engine, for each pattern a plan holds. RE2 itself allows 1,000 per repetition.
   */
  patternRepeats: 1_000,
  /**
   * Levels of nesting (operators, calls, lists) when a plan is applied: cel-js parses `!!!…x` or
   * `1 + 1 + …` thousands deep, then checks and evaluates it recursively, past the call stack.
   */
  depth: 250,
} as const;

/** The sum of a pattern's counted repetitions (`{n}`, `{n,}`, `{n,m}`: the larger bound), without compiling it. */
export function patternRepeats(pattern: string): number {
  let total = 0;
  for (const match of pattern.matchAll(/(?<!\\)\{(\d{1,9})(?:,(\d{0,9}))?\}/g))
    total += Math.max(Number(match[1]), match[2] === undefined || match[2] === '' ? 0 : Number(match[2]));
  return total;
}

/** Steps between two looks at the clock: time costs nothing for the usual expression of a few steps. */
const CHECK_EVERY = 1_024;
/** Compiled RE2 patterns kept per plan. */
const PATTERN_CACHE_SIZE = 256;

/** A compiled expression: evaluates under the budget, throws ExpressionBudgetError when over it. */
export type CompiledExpression = (context: Record<string, unknown>) => unknown;

/** What the budget needs of cel-js's AST nodes (internal; see the module comment). */
interface CelNode {
  op: string;
  args: unknown;
  evaluate: (ev: CelEvaluator, ast: CelNode, ctx: unknown) => unknown;
}
interface CelEvaluator {
  run: (ast: CelNode, ctx: unknown) => unknown;
}

const isNode = (value: unknown): value is CelNode =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { op?: unknown }).op === 'string' &&
  'args' in value;

function formatCount(count: number): string {
  return count >= 1e6 ? `10^${String(Math.floor(Math.log10(count)))}` : count.toLocaleString('en-US');
}

/**
 * One plan's budget: the counters of the evaluation in progress (evaluation is synchronous, so one set per
 * plan serves all its expressions) and its compiled patterns.
 */
export class ExpressionBudget {
  steps = 0;
  private checkAt = CHECK_EVERY;
  private startedAt: number | undefined;
  private path = '';
  /** Once over budget, every further step throws it again: cel-js's `||` and quantifiers catch errors. */
  private exceeded: ExpressionBudgetError | undefined;
  private readonly patterns = new Map<string, RE2JS>();
  readonly limits: typeof EXPRESSION_LIMITS;

  constructor(limits: Partial<typeof EXPRESSION_LIMITS> = {}) {
    this.limits = { ...EXPRESSION_LIMITS, ...limits };
  }

  /** Runs one evaluation of the expression at `path` under a fresh budget. */
  evaluate<T>(path: string, run: () => T): T {
    this.steps = 0;
    this.checkAt = CHECK_EVERY;
    this.startedAt = undefined;
    this.exceeded = undefined;
    this.path = path;
    const value = run();
    // A budget error caught inside the expression (by `||`, a quantifier) still fails the evaluation.
    this.rethrowExceeded();
    return value;
  }

  private rethrowExceeded(): void {
    if (this.exceeded !== undefined) throw this.exceeded;
  }

  /** Called every CHECK_EVERY steps (and on every step once over budget). */
  checkpoint(): void {
    if (this.exceeded !== undefined) throw this.exceeded;
    if (this.steps > this.limits.steps)
      this.exceed('steps', `more than ${formatCount(this.limits.steps)} steps`);
    const now = performance.now();
    this.startedAt ??= now;
    if (now - this.startedAt > this.limits.timeMs)
      this.exceed('time', `more than ${String(this.limits.timeMs)} ms`);
    this.checkAt = this.steps + CHECK_EVERY;
  }

  /** Charges extra steps (work a single node did in proportion to its data). */
  charge(steps: number): void {
    this.steps += steps;
    if (this.steps > this.checkAt) this.checkpoint();
  }

  exceed(limit: string, what: string): never {
    this.exceeded = new ExpressionBudgetError(
      `${this.path}: expression exceeded its budget (${what}); it fails this object or identity`,
      { details: { expression: this.path, limit } },
    );
    this.checkAt = -1;
    throw this.exceeded;
  }

  /** The evaluator's `run`, counting. */
  installOn(evaluator: CelEvaluator): void {
    const { stringLength, listElements } = this.limits;
    evaluator.run = (ast: CelNode, ctx: unknown): unknown => {
      if (++this.steps > this.checkAt) this.checkpoint();
      const value = ast.evaluate(evaluator, ast, ctx);
      if (typeof value === 'string') {
        if (value.length > 64) {
          if (value.length > stringLength)
            this.exceed('stringLength', `a string of more than ${formatCount(stringLength)} characters`);
          this.charge(value.length >>> 6);
        }
      } else if (typeof value === 'object' && value !== null) {
        const length = (value as { length?: unknown }).length;
        if (typeof length === 'number') {
          if (length > listElements)
            this.exceed('listElements', `a list of more than ${formatCount(listElements)} elements`);
          // A list built by the node (not one read from the input): its elements were copied.
          if (ast.op === '+' || ast.op === 'rcall' || ast.op === 'call') this.charge(length);
        }
      }
      return value;
    };
  }

  /** A compiled RE2 pattern (cached per plan); an invalid one is an evaluation error. */
  regex(pattern: string): RE2JS {
    let compiled = this.patterns.get(pattern);
    if (compiled === undefined) {
      if (pattern.length > this.limits.patternLength)
        this.exceed(
          'patternLength',
          `a pattern of more than ${String(this.limits.patternLength)} characters`,
        );
      if (patternRepeats(pattern) > this.limits.patternRepeats)
        this.exceed(
          'patternRepeats',
          `a pattern whose counted repetitions add up to more than ${String(this.limits.patternRepeats)}`,
        );
      compiled = RE2JS.compile(pattern);
      if (this.patterns.size >= PATTERN_CACHE_SIZE) this.patterns.clear();
      this.patterns.set(pattern, compiled);
    }
    return compiled;
  }
}

/**
 * Makes an environment's evaluations count against `budget`. Call once per environment, after its
 * variables are registered; it registers a probe function to reach the evaluator.
 */
export function budgetEnvironment(env: Environment, budget: ExpressionBudget): Environment {
  let evaluator: CelEvaluator | undefined;
  env.registerFunction('joineryBudgetProbe(): bool', function (this: CelEvaluator) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- cel-js hands functions its evaluator as `this`
    evaluator = this;
    return true;
  });
  env.evaluate('joineryBudgetProbe()', {});
  if (evaluator === undefined || typeof evaluator.run !== 'function')
    throw new Error('@marcbachmann/cel-js: the evaluator cannot be reached; the expression budget needs it');
  budget.installOn(evaluator);
  return env;
}

/**
 * Compiles an expression (parsed once) into one that evaluates under the budget. `matches` runs on RE2
 * and `join` is measured before it builds its string.
 */
export function compileExpression(
  env: Environment,
  budget: ExpressionBudget,
  path: string,
  expression: string,
): CompiledExpression {
  const parsed = env.parse(expression);
  guardNodes(parsed.ast as unknown as CelNode, budget);
  return (context) => budget.evaluate(path, (): unknown => parsed(context) as unknown);
}

function guardNodes(root: CelNode, budget: ExpressionBudget): void {
  walk(root, (node) => {
    if (node.op !== 'rcall') return;
    const [name, , args] = node.args as [string, CelNode, CelNode[]];
    if (name === 'matches' && args.length === 1) node.evaluate = matchesOn(budget);
    if (name === 'join' && args.length <= 1) node.evaluate = joinWithin(budget);
  });
}

const noOverload = (what: string) => new TypeError(`found no matching overload for '${what}'`);

/** `string.matches(pattern)` on RE2: linear in the input, whatever the pattern. */
function matchesOn(budget: ExpressionBudget): CelNode['evaluate'] {
  return (ev, ast, ctx) => {
    const [, receiver, args] = ast.args as [string, CelNode, CelNode[]];
    const input = ev.run(receiver, ctx);
    const pattern = ev.run(args[0] as CelNode, ctx);
    if (typeof input !== 'string' || typeof pattern !== 'string') throw noOverload('matches');
    let regex: RE2JS;
    try {
      regex = budget.regex(pattern);
    } catch (error) {
      if (error instanceof ExpressionBudgetError) throw error;
      throw new Error(`invalid regular expression (RE2): ${pattern}`, { cause: error });
    }
    budget.charge(input.length >>> 4);
    return regex.test(input);
  };
}

/** `list.join([separator])`, refused before it builds a string over the limit. */
function joinWithin(budget: ExpressionBudget): CelNode['evaluate'] {
  return (ev, ast, ctx) => {
    const [, receiver, args] = ast.args as [string, CelNode, CelNode[]];
    const list = ev.run(receiver, ctx);
    const separator = args[0] === undefined ? '' : ev.run(args[0], ctx);
    if (!Array.isArray(list) || typeof separator !== 'string') throw noOverload('join');
    let length = separator.length * Math.max(0, list.length - 1);
    for (const item of list as unknown[]) {
      if (typeof item !== 'string') throw new TypeError('string.join(): list must contain only strings');
      length += item.length;
    }
    if (length > budget.limits.stringLength)
      budget.exceed(
        'stringLength',
        `a string of more than ${formatCount(budget.limits.stringLength)} characters`,
      );
    budget.charge(list.length + (length >>> 6));
    return list.join(separator);
  };
}

/** Visits every node with its depth (the root is 1); an explicit stack, whatever the nesting. */
function walk(root: CelNode, visit: (node: CelNode, depth: number) => void): void {
  const stack: [unknown, number][] = [[root, 1]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [value, depth] = next;
    if (isNode(value)) {
      visit(value, depth);
      stack.push([value.args, depth + 1]);
    } else if (Array.isArray(value)) for (const item of value) stack.push([item, depth]);
  }
}

/**
 * How deeply the expression nests (the root is 1), or undefined when it does not parse (the check says
 * why). Measured before anything recursive looks at it.
 */
export function expressionDepth(env: Environment, expression: string): number | undefined {
  let root: CelNode;
  try {
    root = env.parse(expression).ast as unknown as CelNode;
  } catch {
    return undefined;
  }
  let deepest = 0;
  walk(root, (_node, depth) => {
    deepest = Math.max(deepest, depth);
  });
  return deepest;
}

// ---------------------------------------------------------------------------------------------------------
// Static cost, at validation: what evaluating the expression takes at the least when every list it cannot
// see (an attribute) holds one element, and literal lists hold what they hold. Nested comprehensions over
// literal lists multiply; lists and strings doubled through cel.bind add up.

interface Estimate {
  steps: number;
  /** The length of the list the node yields, when known. */
  list?: number;
  /** The length of the string the node yields, when known. */
  string?: number;
}

const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
const cap = (n: number): number => Math.min(n, 1e300);

/** What the walk saw anywhere in the expression: the largest list and string, the literal patterns. */
interface Seen {
  list: number;
  string: number;
  patterns: string[];
}

function estimate(node: CelNode, scope: ReadonlyMap<string, Estimate>, seen: Seen): Estimate {
  const sum = (nodes: unknown[]): number =>
    nodes.reduce<number>((total, item) => total + (isNode(item) ? estimate(item, scope, seen).steps : 0), 0);
  switch (node.op) {
    case 'value':
      if (typeof node.args !== 'string') return { steps: 1 };
      seen.string = Math.max(seen.string, node.args.length);
      return { steps: 1, string: node.args.length };
    case 'id': {
      const bound = scope.get(node.args as string);
      return { ...bound, steps: 1 };
    }
    case 'list': {
      const items = node.args as CelNode[];
      seen.list = Math.max(seen.list, items.length);
      return { steps: cap(1 + sum(items)), list: items.length };
    }
    case 'map':
      return { steps: cap(1 + sum((node.args as [CelNode, CelNode][]).flat())) };
    case '+': {
      const [left, right] = (node.args as [CelNode, CelNode]).map((arg) => estimate(arg, scope, seen));
      const list = (left?.list ?? 0) + (right?.list ?? 0);
      const string = (left?.string ?? 0) + (right?.string ?? 0);
      seen.list = Math.max(seen.list, list);
      seen.string = Math.max(seen.string, string);
      return {
        steps: cap(1 + (left?.steps ?? 0) + (right?.steps ?? 0) + list),
        ...(list > 0 ? { list: cap(list) } : {}),
        ...(string > 0 ? { string: cap(string) } : {}),
      };
    }
    case '?:': {
      const [condition, then, otherwise] = (node.args as CelNode[]).map((arg) => estimate(arg, scope, seen));
      return { steps: cap(1 + (condition?.steps ?? 0) + Math.max(then?.steps ?? 0, otherwise?.steps ?? 0)) };
    }
    case 'rcall': {
      const [name, receiver, args] = node.args as [string, CelNode, CelNode[]];
      const [first] = args;
      if (name === 'bind' && receiver.op === 'id' && receiver.args === 'cel' && args.length === 3) {
        const [variable, value, body] = args as [CelNode, CelNode, CelNode];
        const bound = estimate(value, scope, seen);
        const inner = estimate(body, new Map(scope).set(variable.args as string, bound), seen);
        return { ...inner, steps: cap(1 + bound.steps + inner.steps) };
      }
      if (COMPREHENSIONS.has(name) && first?.op === 'id' && (args.length === 2 || args.length === 3)) {
        const range = estimate(receiver, scope, seen);
        const iterations = range.list ?? 1;
        const inner = new Map(scope);
        inner.delete(first.args as string);
        const step = args.slice(1).reduce((total, arg) => total + estimate(arg, inner, seen).steps, 0);
        return {
          steps: cap(1 + range.steps + iterations * (1 + step) + (name === 'map' ? iterations : 0)),
          ...(name === 'map' ? { list: iterations } : {}),
        };
      }
      if (name === 'matches' && first?.op === 'value' && typeof first.args === 'string')
        seen.patterns.push(first.args);
      return { steps: cap(1 + estimate(receiver, scope, seen).steps + sum(args)) };
    }
    default: {
      const args = node.args;
      return {
        steps: cap(
          1 + (isNode(args) ? estimate(args, scope, seen).steps : Array.isArray(args) ? sum(args.flat()) : 0),
        ),
      };
    }
  }
}

/**
 * What is wrong with an expression's static cost (empty when it fits): more steps than the budget, a list
 * or string larger than the limits, a literal `matches` pattern RE2 does not take.
 */
export function staticCostProblems(
  env: Environment,
  expression: string,
  limits: typeof EXPRESSION_LIMITS = EXPRESSION_LIMITS,
): string[] {
  const seen: Seen = { list: 0, string: 0, patterns: [] };
  const cost = estimate(env.parse(expression).ast as unknown as CelNode, new Map(), seen);
  const problems: string[] = [];
  if (cost.steps > limits.steps)
    problems.push(
      `expression may take up to ${formatCount(cost.steps)} steps, the limit is ${formatCount(limits.steps)}`,
    );
  if (seen.list > limits.listElements)
    problems.push(
      `expression may build a list of ${formatCount(seen.list)} elements, the limit is ${formatCount(limits.listElements)}`,
    );
  if (seen.string > limits.stringLength)
    problems.push(
      `expression may build a string of ${formatCount(seen.string)} characters, the limit is ${formatCount(limits.stringLength)}`,
    );
  for (const pattern of seen.patterns) {
    if (pattern.length > limits.patternLength) {
      problems.push(
        `pattern of ${String(pattern.length)} characters, the limit is ${String(limits.patternLength)}`,
      );
      continue;
    }
    const repeats = patternRepeats(pattern);
    if (repeats > limits.patternRepeats) {
      problems.push(
        `pattern ${JSON.stringify(pattern.slice(0, 64))}${pattern.length > 64 ? '…' : ''} repeats ${String(repeats)} times in all ({n} counts), the limit is ${String(limits.patternRepeats)}`,
      );
      continue;
    }
    try {
      RE2JS.compile(pattern);
    } catch (error) {
      problems.push(
        `pattern ${JSON.stringify(pattern)} is not an RE2 regular expression (no backreferences or lookaround): ${(error as Error).message}`,
      );
    }
  }
  return problems;
}

/**
 * A budget error said again with where it happened (tenant, object or identity), for the caller that knows:
 * the log line and the dead letter name them. Any other error is returned as it is.
 */
export function overBudgetAt(
  error: unknown,
  where: Record<string, string>,
): ExpressionBudgetError | undefined {
  if (!(error instanceof ExpressionBudgetError)) return undefined;
  const known = error.details ?? {};
  const added = Object.entries(where).filter(([key]) => !(key in known));
  if (added.length === 0) return error;
  return new ExpressionBudgetError(
    `${error.message} (${added.map(([key, value]) => `${key} ${value}`).join(', ')})`,
    { details: { ...known, ...Object.fromEntries(added) } },
  );
}
