// Builds the on-prem agent as an artifact of its own (docs/agent.md, "Installing the agent") into dist/agent/:
//   joinery-agent.cjs        agent/src/main.ts and the kernel/ files it imports, with every npm dependency, as
//                            one CommonJS script (Node 24 runs a single executable's main script as CommonJS)
//   package.json             the npm package around that script: `npm pack` in dist/agent makes the tarball
//   THIRD-PARTY-NOTICES.txt  the bundled packages: versions and licences
//   joinery-agent            the single executable: this Node binary with the script injected (Node's SEA)
//   build-meta.json          esbuild's metafile, which files went in (the artifact test reads it)
// Run it with Node 24 (`npm run agent:build`): the executable is made from this very binary, so nothing is
// downloaded. The build fails when the bundle takes in a file of the service (src/, streams/), or when
// agent/package.json's dependencies are not exactly the packages the agent and its kernel files import.
// esbuild: the maintained bundler made for this, needed because a single executable takes one script.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { build, type Metafile } from 'esbuild';

const root = join(import.meta.dirname, '..', '..');
const out = join(root, 'dist', 'agent');
const script = 'joinery-agent.cjs';
const executable = process.platform === 'win32' ? 'joinery-agent.exe' : 'joinery-agent';
/** The fuse every Node binary carries; postject flips it so the binary runs the injected script. */
const seaFuse = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** ws's optional native helpers: left out, ws falls back to its JavaScript code when they do not load. */
const optionalNative = ['bufferutil', 'utf-8-validate'];

interface Manifest {
  name: string;
  version: string;
  description?: string;
  license?: string;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
}

const readJson = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));

function fail(message: string): never {
  throw new Error(`agent build: ${message}`);
}

/** The package a bare import names: `typebox/compile` → `typebox`, `@hpke/core` → `@hpke/core`. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

/** Every input comes from the agent, the kernel or an npm package: never from the service. */
function checkInputs(metafile: Metafile): void {
  const foreign = Object.keys(metafile.inputs).filter(
    (input) => !/^(agent\/|kernel\/|node_modules\/)/.test(input),
  );
  if (foreign.length > 0) fail(`the bundle takes in files outside agent/ and kernel/: ${foreign.join(', ')}`);
}

/** agent/package.json lists exactly the packages the agent's and kernel's files import, at the root's ranges. */
function checkDependencies(metafile: Metafile, manifest: Manifest, rootManifest: Manifest): void {
  const imported = new Set<string>();
  for (const [input, { imports }] of Object.entries(metafile.inputs)) {
    if (input.startsWith('node_modules/')) continue;
    for (const { original, path } of imports) {
      if (original === undefined || original.startsWith('.') || path.startsWith('node:')) continue;
      imported.add(packageOf(original));
    }
  }
  const declared = new Set(Object.keys(manifest.dependencies ?? {}));
  const missing = [...imported].filter((name) => !declared.has(name));
  const unused = [...declared].filter((name) => !imported.has(name));
  if (missing.length > 0 || unused.length > 0)
    fail(
      `agent/package.json dependencies: ${[
        missing.length > 0 ? `imported but not listed: ${missing.join(', ')}` : '',
        unused.length > 0 ? `listed but not imported: ${unused.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; ')}`,
    );
  for (const [name, range] of Object.entries(manifest.dependencies ?? {})) {
    const rootRange = rootManifest.dependencies?.[name];
    if (rootRange !== range)
      fail(
        `agent/package.json: ${name} ${range}, but the root package.json (what is installed) says ${String(rootRange)}`,
      );
  }
}

/** The bundled packages with their versions and licence texts (their licences ask for the notices). */
function thirdPartyNotices(metafile: Metafile): string {
  const directories = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match?.[1] !== undefined) directories.add(match[1]);
  }
  const sections = [...directories].sort().map((directory) => {
    const manifest = readJson(join(root, directory, 'package.json')) as Manifest;
    const licenceFile = readdirSync(join(root, directory)).find((name) =>
      /^(licen[cs]e|copying)/i.test(name),
    );
    const text =
      licenceFile === undefined
        ? '(no licence file in the package)'
        : readFileSync(join(root, directory, licenceFile), 'utf8').trim();
    return `${manifest.name} ${manifest.version} (${manifest.license ?? 'no licence field'})\n\n${text}`;
  });
  return `The Joinery agent bundles these packages.\n\n${sections.join(`\n\n${'-'.repeat(80)}\n\n`)}\n`;
}

async function bundle(): Promise<Metafile> {
  const result = await build({
    absWorkingDir: root,
    entryPoints: ['agent/src/main.ts'],
    outfile: join(out, script),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    // Error classes are told apart by name in logs; bundling must not rename them.
    keepNames: true,
    external: optionalNative,
    metafile: true,
    logLevel: 'warning',
  });
  if (result.warnings.length > 0) fail(`esbuild warned (see above): ${String(result.warnings.length)}`);
  return result.metafile;
}

function writePackage(manifest: Manifest): void {
  const packageJson = {
    name: manifest.name,
    version: manifest.version,
    description: manifest.description,
    license: manifest.license,
    private: true,
    engines: manifest.engines,
    bin: { 'joinery-agent': script },
    // Everything is bundled into the script: installing needs no registry.
    files: [script, 'THIRD-PARTY-NOTICES.txt', 'joinery-agent.service', 'agent.example.yaml'],
  };
  writeFileSync(join(out, 'package.json'), `${JSON.stringify(packageJson, null, 2)}\n`);
  copyFileSync(join(root, 'agent', 'README.md'), join(out, 'README.md'));
  copyFileSync(join(root, 'deploy', 'joinery-agent.service'), join(out, 'joinery-agent.service'));
  copyFileSync(join(root, 'docs', 'examples', 'agent.yaml'), join(out, 'agent.example.yaml'));
}

/** The single executable: a blob of the script (with V8's code cache) injected into a copy of this node. */
function writeExecutable(): void {
  const work = join(out, 'sea');
  mkdirSync(work, { recursive: true });
  const config = join(work, 'sea-config.json');
  const blob = join(work, 'sea-prep.blob');
  writeFileSync(
    config,
    JSON.stringify({
      main: join(out, script),
      output: blob,
      disableExperimentalSEAWarning: true,
      // Compiled once here, not at every start. The code cache rules out import(): the bundle's one is
      // @hpke's fallback for a runtime without globalThis.crypto, never taken on Node 24.
      useCodeCache: true,
    }),
  );
  execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'pipe' });
  const target = join(out, executable);
  copyFileSync(process.execPath, target);
  chmodSync(target, 0o755);
  const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
  const injected = spawnSync(
    process.execPath,
    [
      postject,
      target,
      'NODE_SEA_BLOB',
      blob,
      '--sentinel-fuse',
      seaFuse,
      ...(process.platform === 'darwin' ? ['--macho-segment-name', 'NODE_SEA'] : []),
    ],
    { encoding: 'utf8' },
  );
  // LIEF, inside postject, warns about ELF note sections it does not name; they are left as they were.
  const warnings = injected.stderr
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith("warning: Can't find string offset for section name"));
  if (injected.status !== 0 || warnings.length > 0)
    fail(`postject (exit ${String(injected.status)}): ${[injected.stdout, ...warnings].join('\n')}`);
  rmSync(work, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const major = process.versions.node.split('.')[0];
  if (major !== '24')
    fail(
      `run it with Node 24 (npm run agent:build), not ${process.version}: the executable is this node binary`,
    );
  const started = Date.now();
  const manifest = readJson(join(root, 'agent', 'package.json')) as Manifest;
  const rootManifest = readJson(join(root, 'package.json')) as Manifest;

  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const metafile = await bundle();
  checkInputs(metafile);
  checkDependencies(metafile, manifest, rootManifest);
  writeFileSync(join(out, 'build-meta.json'), JSON.stringify(metafile));
  writeFileSync(join(out, 'THIRD-PARTY-NOTICES.txt'), thirdPartyNotices(metafile));
  writePackage(manifest);
  writeExecutable();

  const reported = execFileSync(join(out, executable), ['--version'], { encoding: 'utf8' }).trim();
  if (reported !== manifest.version)
    fail(
      `the executable reports version ${reported}, agent/package.json says ${manifest.version} (AGENT_VERSION in agent/src/agent.ts)`,
    );
  console.log(
    `agent build: ${relative(root, join(out, executable))} ${manifest.version} and the package in ${relative(root, out)}/ in ${String(Date.now() - started)} ms`,
  );
}

await main();
