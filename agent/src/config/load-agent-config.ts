// Reads the agent's YAML file once at start: `${NAME}` references replaced from the environment, defaults
// applied, everything validated. A problem is a ConfigError naming the setting and its line (exit 78).
//
// Some settings are needed by one command only: the client key to enrol (once), the directory's options
// (its bind password among them) to run. An unset variable in those does not stop the file from loading:
// the setting is left out and recorded in `unresolved`, and the command that needs it asks for it with
// requireSettings, which fails then with the same one line. So an enrolled agent starts with the client
// key's variable gone, and `status` and `enrol` need no directory secret.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { LineCounter, isNode, parseDocument } from 'yaml';
import { ConfigError } from '../../../kernel/errors.ts';
import { AgentConfigSchema, type AgentConfig, type UnresolvedSetting } from './agent-config.schema.ts';

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\$\{/g;

/**
 * The settings resolved when a command needs them rather than when the file is loaded: the one-time client
 * key (ensureEnrolled, when not enrolled yet) and everything under directory.options (runAgent).
 */
const resolvedOnUsePaths: readonly (readonly string[])[] = [['clientKey'], ['directory', 'options']];

function resolvedOnUse(path: readonly string[]): boolean {
  return resolvedOnUsePaths.some((prefix) => prefix.every((part, index) => path[index] === part));
}

/**
 * Fails with the first unresolved setting at or under `prefix` (e.g. ['clientKey'], ['directory']): the
 * command about to use it cannot do without it. `why` ends the message (e.g. "the agent is not enrolled yet").
 */
export function requireSettings(config: AgentConfig, prefix: readonly string[], why: string): void {
  const missing = config.unresolved.find((setting) =>
    prefix.every((part, index) => setting.path[index] === part),
  );
  if (missing !== undefined) {
    throw new ConfigError(
      `${missing.path.join('.')} (${missing.where}): environment variable ${missing.variable} is not set; ${why}`,
    );
  }
}

export function loadAgentConfig(options: {
  file: string;
  env: Readonly<Record<string, string | undefined>>;
  cwd?: string;
}): AgentConfig {
  const absolute = resolve(options.cwd ?? process.cwd(), options.file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `agent config file ${options.file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause: error },
    );
  }
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const [syntax] = document.errors;
  if (syntax !== undefined) {
    const at = lines.linePos(syntax.pos[0]);
    throw new ConfigError(
      `agent config file ${options.file} line ${String(at.line)} column ${String(at.col)}: ${syntax.message.split('\n')[0] ?? ''}`,
    );
  }
  const where = (path: string[]): string => {
    const node = document.getIn(path, true);
    return isNode(node) && node.range
      ? `in ${options.file} line ${String(lines.linePos(node.range[0]).line)}`
      : `in ${options.file}`;
  };
  const raw: unknown = document.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`agent config file ${options.file}: must be a mapping of settings`);
  }
  const unresolved: UnresolvedSetting[] = [];
  const substituted = substitute(raw, [], options.env, where, unresolved);
  const value = Value.Default(AgentConfigSchema, Value.Convert(AgentConfigSchema, substituted));
  const problem = firstProblem(AgentConfigSchema, value);
  if (problem !== undefined) {
    throw new ConfigError(
      `${problem.path.join('.') || '(root)'} (${where(problem.path)}): ${problem.message}`,
    );
  }
  const config = value as Omit<AgentConfig, 'file' | 'unresolved'>;
  const base = dirname(absolute);
  const within = (path: string) => (isAbsolute(path) ? path : resolve(base, path));
  return {
    ...config,
    file: absolute,
    unresolved,
    stateDir: within(config.stateDir),
    api: { ...config.api, ...(config.api.caFile === undefined ? {} : { caFile: within(config.api.caFile) }) },
    log: { ...config.log, ...(config.log.file === undefined ? {} : { file: within(config.log.file) }) },
  };
}

/**
 * Replaces `${NAME}` in every string with the variable's value; `$${` stands for a literal `${`. An unset
 * variable fails, except in a setting resolved on use: that setting is left out (undefined) and recorded.
 */
function substitute(
  value: unknown,
  path: string[],
  env: Readonly<Record<string, string | undefined>>,
  where: (path: string[]) => string,
  unresolved: UnresolvedSetting[],
): unknown {
  if (typeof value === 'string') {
    let unset: string | undefined;
    const replaced = value.replace(REFERENCE, (match, name: string | undefined) => {
      if (name === undefined) return '${';
      const replacement = env[name];
      if (replacement === undefined || replacement === '') {
        unset ??= name;
        return '';
      }
      return replacement;
    });
    if (unset === undefined) return replaced;
    if (!resolvedOnUse(path)) {
      throw new ConfigError(`${path.join('.')} (${where(path)}): environment variable ${unset} is not set`);
    }
    unresolved.push({ path, variable: unset, where: where(path) });
    return undefined;
  }
  if (Array.isArray(value))
    return value.map((item, index) => substitute(item, [...path, String(index)], env, where, unresolved));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .map(([key, child]) => [key, substitute(child, [...path, key], env, where, unresolved)] as const)
        .filter(([, child]) => child !== undefined),
    );
  }
  return value;
}

/** The one problem worth reporting in a value against a schema: unknown keys first, then the rest. */
export function firstProblem(
  schema: TSchema,
  value: unknown,
): { path: string[]; message: string } | undefined {
  const errors = [...Value.Errors(schema, value)];
  const unknown = errors.find((error) => error.keyword === 'additionalProperties');
  if (unknown?.keyword === 'additionalProperties') {
    const [key] = unknown.params.additionalProperties;
    return { path: [...pointer(unknown.instancePath), key ?? '?'], message: 'unknown setting' };
  }
  const error =
    errors.find((candidate) => candidate.keyword !== 'boolean' && candidate.keyword !== 'anyOf') ?? errors[0];
  if (error === undefined) return undefined;
  const path = pointer(error.instancePath);
  if (error.keyword === 'required') {
    const [missing] = error.params.requiredProperties;
    return { path: [...path, missing ?? '?'], message: 'is required' };
  }
  // Values are not echoed: they may be secrets substituted from the environment.
  return { path, message: error.message };
}

function pointer(instancePath: string): string[] {
  return instancePath === ''
    ? []
    : instancePath
        .slice(1)
        .split('/')
        .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'));
}

export type { AgentConfig };
