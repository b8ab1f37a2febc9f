import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, PlanInvalidError } from '../../kernel/errors.ts';
import { projectRoot } from '../../src/infra/process.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import { loadPlugins } from '../../src/plan/plugins.ts';

const example = readFileSync(join(projectRoot, 'docs/examples/sync-plan.yaml'), 'utf8');
const mapper =
  '{ vault: displayName, expression: \'source.FirstName + " " + source.LastName\', authority: 100 }';
const withPlugin = example.replace(
  mapper,
  '{ vault: displayName, expression: \'asciiFold(source.FirstName) + " " + initials(source.LastName)\', authority: 100 }',
);

function pluginDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'plugins-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

async function loadError(files: Record<string, string>): Promise<string> {
  try {
    await loadPlugins(pluginDir(files));
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('the plugins were accepted');
}

describe('plugins', () => {
  it("lets plan expressions call the example plugin's functions, and refuses them without it", async () => {
    expect(withPlugin).not.toBe(example);
    const plugins = await loadPlugins(join(projectRoot, 'docs/examples/plugins'));
    expect(plugins.plugins.map((plugin) => plugin.signatures)).toEqual([
      ['asciiFold(string): string', 'initials(string): string'],
    ]);
    const compiled = loadPlan(withPlugin, 'sync-plan.yaml', plugins);
    const displayName = compiled.expressions.get('applications[0].inbound[4].expression');
    expect(displayName?.({ source: { FirstName: 'Zoë', LastName: 'Núñez-Pérez' } })).toBe('Zoe np');

    expect(() => loadPlan(withPlugin, 'sync-plan.yaml')).toThrow(PlanInvalidError);
    expect(() => loadPlan(withPlugin, 'sync-plan.yaml')).toThrow(
      /applications\[0\]\.inbound\[4\]\.expression: .*asciiFold/,
    );
  });

  it('type-checks calls against the signature', async () => {
    const plugins = await loadPlugins(join(projectRoot, 'docs/examples/plugins'));
    const wrong = example.replace(
      mapper,
      "{ vault: displayName, expression: 'asciiFold(1)', authority: 100 }",
    );
    expect(() => loadPlan(wrong, 'sync-plan.yaml', plugins)).toThrow(/asciiFold/);
  });

  it('names the plugin and function when a handler fails at evaluation', async () => {
    const dir = pluginDir({
      'strict.mjs': `export const plugin = { name: 'strict', functions: [{ signature: 'mustHave(string): string', handler: (s) => { if (s === '') throw new Error('empty value'); return s; } }] };`,
    });
    const plugins = await loadPlugins(dir);
    const text = example.replace(
      mapper,
      "{ vault: displayName, expression: 'mustHave(source.FirstName)', authority: 100 }",
    );
    const compiled = loadPlan(text, 'sync-plan.yaml', plugins);
    const evaluate = compiled.expressions.get('applications[0].inbound[4].expression');
    expect(evaluate?.({ source: { FirstName: 'Ada' } })).toBe('Ada');
    expect(() => {
      evaluate?.({ source: { FirstName: '' } });
    }).toThrow(/plugin strict: mustHave\(string\): string failed: empty value/);
  });

  it('refuses a bad plugin directory at start, naming the file and what is wrong', async () => {
    expect(await loadError({ 'a.mjs': 'export const x = 1;' })).toMatch(/a\.mjs: exports no plugin object/);
    expect(await loadError({ 'b.mjs': `export const plugin = { name: 'B!', functions: [] };` })).toMatch(
      /b\.mjs: name must be/,
    );
    expect(
      await loadError({
        'c.mjs': `export const plugin = { name: 'c', functions: [{ signature: 'oops(', handler: () => 1 }] };`,
      }),
    ).toMatch(/c\.mjs: function "oops\(" cannot be registered/);
    const twice = `export const plugin = { name: 'NAME', functions: [{ signature: 'twice(string): string', handler: (s) => s }] };`;
    expect(
      await loadError({ 'd.mjs': twice.replace('NAME', 'd'), 'e.mjs': twice.replace('NAME', 'e') }),
    ).toMatch(/e\.mjs: function twice\(string\): string is already defined by plugin d/);
    expect(await loadError({ 'f.mjs': 'export const plugin = {' })).toMatch(/f\.mjs: cannot be loaded/);
    await expect(loadPlugins('/nonexistent/plugins')).rejects.toThrow(
      /plugins\.dir: \/nonexistent\/plugins cannot be read \(ENOENT\)/,
    );
  });
});
