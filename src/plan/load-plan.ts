// Reads a sync plan (YAML or JSON — JSON is YAML) and validates it completely: syntax, the schema, then
// checkPlan's semantic checks. Every problem says where: file, line, path, and what is expected.
import { noPlugins, type PluginSet } from './plugins.ts';
import { Value } from 'typebox/value';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import { PlanInvalidError } from '../../kernel/errors.ts';
import {
  checkPlan,
  pathText,
  PLAN_LIMITS,
  type CompiledPlan,
  type PlanPath,
  type PlanProblem,
} from './check-plan.ts';
import { SyncPlanSchema } from './plan.schema.ts';
import { findUnstorableText } from '../../kernel/contracts/storable-text.ts';

/** How many alias uses a plan may have: enough for shared blocks, not for an alias bomb (billion laughs). */
export const MAX_PLAN_ALIASES = 100;

export interface LocatedProblem extends PlanProblem {
  line?: number;
}

function invalid(source: string, problems: LocatedProblem[]): PlanInvalidError {
  const lines = problems.map((problem) => formatProblem(source, problem));
  return new PlanInvalidError(
    `${source}: ${String(problems.length)} problem${problems.length === 1 ? '' : 's'}\n${lines.join('\n')}`,
    problems.map((problem) => ({
      ...(problem.line === undefined ? {} : { line: problem.line }),
      path: pathText(problem.path),
      message: problem.message,
    })),
  );
}

export function formatProblem(source: string, problem: LocatedProblem): string {
  const where = problem.line === undefined ? source : `${source}:${String(problem.line)}`;
  return `${where} ${problem.path.length === 0 ? '(document)' : pathText(problem.path)}: ${problem.message}`;
}

/** Parses and validates a plan's text; throws PlanInvalidError naming every problem. */
export function loadPlan(text: string, source: string, plugins: PluginSet = noPlugins): CompiledPlan {
  const bytes = Buffer.byteLength(text);
  if (bytes > PLAN_LIMITS.bytes)
    throw invalid(source, [
      {
        path: [],
        message: `the plan is ${String(bytes)} bytes, the limit is ${String(PLAN_LIMITS.bytes)}: split what is generated into plugins or fewer expressions`,
      },
    ]);
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw invalid(
      source,
      document.errors.map((error) => ({
        path: [],
        line: lineCounter.linePos(error.pos[0]).line,
        // yaml reports a document nested past the call stack as an error of the document, in the stack's words.
        message: /call stack/i.test(error.message)
          ? 'syntax error: nested too deeply to read (lists or maps inside one another thousands of levels deep)'
          : `syntax error: ${error.message.split('\n')[0] ?? error.message}`,
      })),
    );
  }
  const locate = (problem: PlanProblem): LocatedProblem => ({
    ...problem,
    line: lineOf(document, lineCounter, problem.path),
  });
  const value = toValue(document, source);
  const unstorable = findUnstorableText(value);
  if (unstorable !== undefined)
    throw invalid(source, [locate({ path: unstorable.path, message: unstorable.problem })]);
  if (!Value.Check(SyncPlanSchema, value)) throw invalid(source, schemaErrors(value).map(locate));
  const { problems, compiled } = checkPlan(value, plugins);
  if (compiled === undefined) throw invalid(source, problems.map(locate));
  return compiled;
}

/** The document as a value; yaml refuses to expand more aliases than MAX_PLAN_ALIASES allows. */
function toValue(document: Document, source: string): unknown {
  try {
    return document.toJS({ maxAliasCount: MAX_PLAN_ALIASES }) as unknown;
  } catch (error) {
    // yaml's resource-exhaustion guard: "Excessive alias count indicates a resource exhaustion attack".
    if (error instanceof ReferenceError && /alias/i.test(error.message))
      throw invalid(source, [
        {
          path: [],
          message: `its aliases expand too far (more than ${String(MAX_PLAN_ALIASES)} uses of an anchor's content): write the values out or use fewer aliases`,
        },
      ]);
    throw error;
  }
}

/**
 * The schema's errors as problems (at least one: the plan does not match it). TypeBox buffers 8 errors, and
 * an unknown key first comes as a `boolean` error at the key itself: that one names it too.
 */
function schemaErrors(value: unknown): PlanProblem[] {
  const problems: PlanProblem[] = [];
  const seen = new Set<string>();
  for (const error of Value.Errors(SyncPlanSchema, value)) {
    const unknownKey = error.keyword === 'boolean' && error.schemaPath.endsWith('/additionalProperties');
    if ((error.keyword === 'boolean' && !unknownKey) || error.keyword === 'anyOf') continue;
    let path: PlanPath = pointerToPath(error.instancePath);
    let message = error.message;
    if (unknownKey) {
      message = 'unknown key';
    } else if (error.keyword === 'additionalProperties') {
      path = [...path, error.params.additionalProperties[0] ?? '?'];
      message = 'unknown key';
    } else if (error.keyword === 'required') {
      path = [...path, error.params.requiredProperties[0] ?? '?'];
      message = 'is required';
    } else if (error.keyword === 'enum') {
      message = `must be one of ${error.params.allowedValues.join(', ')}`;
    }
    const key = `${pathText(path)} ${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push({ path, message });
    if (problems.length === 20) break;
  }
  if (problems.length === 0) problems.push({ path: [], message: 'does not match the sync plan schema' });
  return problems;
}

function pointerToPath(pointer: string): PlanPath {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

/** The line of the deepest node of the path that exists in the document. */
function lineOf(document: Document, lineCounter: LineCounter, path: PlanPath): number | undefined {
  for (let length = path.length; length >= 0; length--) {
    const node = document.getIn(path.slice(0, length), true);
    if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
  }
  return undefined;
}
