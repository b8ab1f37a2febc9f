// Reads the configuration once at start-up: defaults, then the optional YAML file, then the environment.
// Any problem becomes a ConfigError whose one-line message names the setting and where it came from.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Value } from 'typebox/value';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { ConfigError } from '../../kernel/errors.ts';
import { ConfigSchema, environmentSettings, otherJoineryVariables, type Config } from './config.schema.ts';

export interface ConfigSources {
  env: Readonly<Record<string, string | undefined>>;
  /** YAML file path; defaults to $JOINERY_CONFIG. */
  file?: string | undefined;
  cwd?: string;
}

interface Origin {
  describe(path: string[]): string;
}

export function loadConfig(sources: ConfigSources): Config {
  const cwd = sources.cwd ?? process.cwd();
  const filePath = sources.file ?? nonEmpty(sources.env.JOINERY_CONFIG);
  const merged: Record<string, unknown> = {};
  const origins = new Map<string, string>();

  if (filePath !== undefined) {
    const { values, origin } = readYaml(resolve(cwd, filePath), filePath);
    Object.assign(merged, values);
    for (const path of leafPaths(values)) origins.set(path.join('.'), origin.describe(path));
  }

  for (const [name, raw] of Object.entries(sources.env)) {
    if (raw === undefined) continue;
    const setting = environmentSettings[name];
    if (setting === undefined) {
      if (name.startsWith('JOINERY_') && !otherJoineryVariables.includes(name)) {
        throw new ConfigError(
          `unknown environment variable ${name}; known ones are ${[...Object.keys(environmentSettings), ...otherJoineryVariables].join(', ')}`,
        );
      }
      continue;
    }
    const value = raw.trim();
    if (value === '') throw new ConfigError(`${setting.path.join('.')} (from ${name}): is set but empty`);
    setIn(merged, setting.path, setting.list === true ? value.split(',').map((item) => item.trim()) : value);
    origins.set(setting.path.join('.'), `from ${name}`);
  }

  const withDefaults = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, merged));
  const problem = firstProblem(withDefaults);
  if (problem !== undefined) {
    const origin = originOf(origins, problem.path) ?? (filePath === undefined ? 'default' : `in ${filePath}`);
    throw new ConfigError(`${problem.path.join('.') || '(root)'} (${origin}): ${problem.message}`);
  }
  const config = withDefaults as Config;
  const { certFile, keyFile } = config.http.tls;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const missing = certFile === undefined ? 'certFile' : 'keyFile';
    const given = certFile === undefined ? 'keyFile' : 'certFile';
    const origin = originOf(origins, ['http', 'tls', given]) ?? 'default';
    throw new ConfigError(
      `http.tls.${missing} (JOINERY_HTTP_TLS_${missing === 'certFile' ? 'CERT' : 'KEY'}_FILE): is required with http.tls.${given} (${origin}); set both http.tls.certFile and http.tls.keyFile for HTTPS, or neither`,
    );
  }
  const tls = {
    ...config.http.tls,
    ...(certFile === undefined ? {} : { certFile: resolve(cwd, certFile) }),
    ...(keyFile === undefined ? {} : { keyFile: resolve(cwd, keyFile) }),
  };
  return { ...config, dataDir: resolve(cwd, config.dataDir), http: { ...config.http, tls } };
}

/** Where a setting came from; a list item or nested key inherits its parent's origin. */
function originOf(origins: Map<string, string>, path: string[]): string | undefined {
  for (let length = path.length; length > 0; length--) {
    const origin = origins.get(path.slice(0, length).join('.'));
    if (origin !== undefined) return origin;
  }
  return undefined;
}

function readYaml(
  absolutePath: string,
  shownPath: string,
): { values: Record<string, unknown>; origin: Origin } {
  let text: string;
  try {
    text = readFileSync(absolutePath, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `config file ${shownPath}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      {
        cause: error,
      },
    );
  }
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const [error] = document.errors;
  if (error !== undefined) {
    const line = lineCounter.linePos(error.pos[0]);
    throw new ConfigError(
      `config file ${shownPath} line ${line.line} column ${line.col}: ${firstLine(error.message)}`,
    );
  }
  const values: unknown = document.toJS();
  if (values === null || values === undefined)
    return { values: {}, origin: describeIn(document, lineCounter, shownPath) };
  if (typeof values !== 'object' || Array.isArray(values)) {
    throw new ConfigError(
      `config file ${shownPath}: must be a mapping of settings, got ${Array.isArray(values) ? 'a list' : typeof values}`,
    );
  }
  return { values: values as Record<string, unknown>, origin: describeIn(document, lineCounter, shownPath) };
}

function describeIn(document: Document, lineCounter: LineCounter, shownPath: string): Origin {
  return {
    describe(path) {
      const node = document.getIn(path, true);
      if (isNode(node) && node.range)
        return `in ${shownPath} line ${lineCounter.linePos(node.range[0]).line}`;
      return `in ${shownPath}`;
    },
  };
}

/** The most useful validation error: unknown keys first, as they are usually typos. */
function firstProblem(value: unknown): { path: string[]; message: string } | undefined {
  const errors = [...Value.Errors(ConfigSchema, value)];
  for (const error of errors) {
    if (error.keyword === 'additionalProperties') {
      const [key] = error.params.additionalProperties;
      return { path: [...pointerToPath(error.instancePath), key ?? '?'], message: 'unknown setting' };
    }
  }
  const error =
    errors.find((candidate) => candidate.keyword !== 'boolean' && candidate.keyword !== 'anyOf') ?? errors[0];
  if (error === undefined) return undefined;
  const path = pointerToPath(error.instancePath);
  if (error.keyword === 'required') {
    const [missing] = error.params.requiredProperties;
    return { path: [...path, missing ?? '?'], message: 'is required' };
  }
  if (error.keyword === 'enum') {
    return {
      path,
      message: `must be one of ${error.params.allowedValues.join(', ')}${describeValue(valueAt(value, path))}`,
    };
  }
  // A malformed key may still be most of a real one: security settings are never echoed.
  const shown = path[0] === 'security' ? '' : describeValue(valueAt(value, path));
  return { path, message: `${error.message}${shown}` };
}

function describeValue(value: unknown): string {
  if (value === undefined) return '';
  const text = JSON.stringify(value);
  return `, got ${text.length > 60 ? `${text.slice(0, 57)}...` : text}`;
}

function valueAt(value: unknown, path: string[]): unknown {
  let current: unknown = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function pointerToPath(pointer: string): string[] {
  return pointer === ''
    ? []
    : pointer
        .slice(1)
        .split('/')
        .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function leafPaths(value: Record<string, unknown>, prefix: string[] = []): string[][] {
  return Object.entries(value).flatMap(([key, child]) =>
    child !== null && typeof child === 'object' && !Array.isArray(child)
      ? [[...prefix, key], ...leafPaths(child as Record<string, unknown>, [...prefix, key])]
      : [[...prefix, key]],
  );
}

function setIn(target: Record<string, unknown>, path: string[], value: unknown): void {
  let current = target;
  for (const key of path.slice(0, -1)) {
    const next = current[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) current[key] = {};
    current = current[key] as Record<string, unknown>;
  }
  const last = path.at(-1);
  if (last !== undefined) current[last] = value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/** A database URL safe to log: the password replaced. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
