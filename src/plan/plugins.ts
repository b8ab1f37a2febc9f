// TypeScript plugins: what CEL expressions cannot say, a tenant's administrator writes as a function in a
// module of the plugin directory, and every expression of the sync plan — mappers, filters, conditions,
// classifications, rules — can call it like a built-in. The engine compiles plans with the same plugins
// in every process and worker, so a plan that validates at `joinery plan apply` runs the same everywhere.
//
//   // plugins/names.ts
//   import { definePlugin } from 'joinery/plugins';
//   export const plugin = definePlugin({
//     name: 'names',
//     functions: [{ signature: 'asciiFold(string): string', handler: (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '') }],
//   });
//
// Handlers are synchronous and pure (they run inside the engine's transactions, thousands per second):
// no I/O, no clock, no randomness. CEL ints arrive as bigint, and a handler returns CEL values.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Environment } from '@marcbachmann/cel-js';
import { ConfigError, describeError } from '../../kernel/errors.ts';

export interface PluginFunction {
  /** CEL signature, e.g. `asciiFold(string): string` or `string.initials(): string`. */
  signature: string;
  handler: (...args: never[]) => unknown;
  description?: string;
}

export interface JoineryPlugin {
  name: string;
  functions: readonly PluginFunction[];
}

/** Types a plugin module's `plugin` export. */
export function definePlugin(plugin: JoineryPlugin): JoineryPlugin {
  return plugin;
}

export interface LoadedPlugin {
  name: string;
  file: string;
  signatures: string[];
}

export interface PluginSet {
  readonly plugins: readonly LoadedPlugin[];
  /** The directory they came from, so engine workers load the same set. */
  readonly dir?: string;
  /** Registers every plugin function in a CEL environment (returns it, for chaining). */
  install(env: Environment): Environment;
}

export const noPlugins: PluginSet = { plugins: [], install: (env) => env };

const MODULE = /\.(ts|mts|js|mjs)$/;

/** Imports every module of `dir` (sorted by name); a bad module stops start-up with its file named. */
export async function loadPlugins(dir: string | undefined): Promise<PluginSet> {
  if (dir === undefined) return noPlugins;
  const root = resolve(dir);
  let names: string[];
  try {
    names = readdirSync(root)
      .filter((name) => MODULE.test(name) && !name.endsWith('.d.ts') && !name.includes('.test.'))
      .sort();
  } catch (error) {
    throw new ConfigError(
      `plugins.dir: ${root} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      {
        cause: error,
      },
    );
  }
  const loaded: { plugin: LoadedPlugin; functions: PluginFunction[] }[] = [];
  const owners = new Map<string, string>();
  for (const name of names) {
    const file = join(root, name);
    if (!statSync(file).isFile()) continue;
    let module: { plugin?: unknown };
    try {
      module = (await import(pathToFileURL(file).href)) as { plugin?: unknown };
    } catch (error) {
      throw new ConfigError(`plugin ${file}: cannot be loaded: ${describeError(error)}`, { cause: error });
    }
    const plugin = checkPlugin(module.plugin, file);
    const functions = plugin.functions.map((fn) => guarded(plugin.name, fn));
    const scratch = new Environment();
    for (const fn of functions) {
      const owner = owners.get(fn.signature);
      if (owner !== undefined) {
        throw new ConfigError(
          `plugin ${file}: function ${fn.signature} is already defined by plugin ${owner}`,
        );
      }
      owners.set(fn.signature, plugin.name);
      try {
        scratch.registerFunction(
          fn.signature,
          fn.handler,
          fn.description === undefined ? {} : { description: fn.description },
        );
      } catch (error) {
        throw new ConfigError(
          `plugin ${file}: function ${JSON.stringify(fn.signature)} cannot be registered: ${describeError(error)}`,
          {
            cause: error,
          },
        );
      }
    }
    loaded.push({
      plugin: { name: plugin.name, file, signatures: functions.map((fn) => fn.signature) },
      functions,
    });
  }
  const all = loaded.flatMap((entry) => entry.functions);
  return {
    plugins: loaded.map((entry) => entry.plugin),
    dir: root,
    install(env) {
      for (const fn of all) {
        env.registerFunction(
          fn.signature,
          fn.handler,
          fn.description === undefined ? {} : { description: fn.description },
        );
      }
      return env;
    },
  };
}

function checkPlugin(value: unknown, file: string): JoineryPlugin {
  const problem = (what: string) =>
    new ConfigError(`plugin ${file}: ${what} (export const plugin = { name, functions })`);
  if (value === null || typeof value !== 'object') throw problem('exports no plugin object');
  const plugin = value as Partial<JoineryPlugin>;
  if (typeof plugin.name !== 'string' || !/^[a-z][a-z0-9-]{0,62}$/.test(plugin.name)) {
    throw problem('name must be lower-case letters, digits and dashes');
  }
  if (!Array.isArray(plugin.functions) || plugin.functions.length === 0)
    throw problem('functions must be a non-empty array');
  plugin.functions.forEach((fn: Partial<PluginFunction>, i) => {
    if (typeof fn.signature !== 'string' || typeof fn.handler !== 'function') {
      throw problem(`functions[${String(i)}] needs a signature string and a handler function`);
    }
  });
  return plugin as JoineryPlugin;
}

/** A handler's failure names the plugin and the function: it reaches the object's error report. */
function guarded(plugin: string, fn: PluginFunction): PluginFunction {
  const handler = fn.handler as (...args: unknown[]) => unknown;
  return {
    ...fn,
    handler: (...args: unknown[]) => {
      try {
        return handler(...args);
      } catch (error) {
        throw new Error(`plugin ${plugin}: ${fn.signature} failed: ${describeError(error)}`, {
          cause: error,
        });
      }
    },
  };
}
