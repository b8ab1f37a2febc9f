import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../src/infra/kafka.ts';
import { projectRoot } from '../../src/infra/process.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

const temporaryDirectories: string[] = [];
/** Every process a test started: one a failed test left running is stopped when the file ends. */
const children = new Set<ChildProcess>();

function temporaryDirectory(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temporaryDirectories.push(dir);
  return dir;
}

function joinery(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<Result> } {
  const child = spawn(process.execPath, [join(projectRoot, 'src/cli/main.ts'), ...args], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = once(child, 'exit').then(([code]) => {
    children.delete(child);
    return { code: code as number | null, stdout, stderr };
  });
  return { child, done };
}

describe('the joinery command', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    // A service a timed-out test left running (with its embedded PostgreSQL): SIGTERM stops both; one that
    // does not stop in time is killed. Left alone, it kept a core busy for the rest of the run.
    await Promise.all(
      [...children].map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    await database.drop();
    for (const dir of temporaryDirectories) rmSync(dir, { recursive: true, force: true });
  });

  describe('with bad configuration, exits non-zero with one line naming the setting, and starts nothing', () => {
    const cases: { name: string; env?: Record<string, string>; yaml?: string; expected: RegExp }[] = [
      {
        name: 'an empty database URL',
        env: { DATABASE_URL: '' },
        expected: /^joinery: configuration error: database\.url \(from DATABASE_URL\): is set but empty$/,
      },
      {
        name: 'a URL that is not PostgreSQL',
        env: { DATABASE_URL: 'mysql://x/y' },
        expected: /^joinery: configuration error: database\.url \(from DATABASE_URL\): must match/,
      },
      {
        name: 'malformed YAML',
        yaml: 'http:\n  port: [1\n',
        expected: /^joinery: configuration error: config file .*joinery\.yaml line 3 column 1: /,
      },
      {
        name: 'an unknown key',
        yaml: 'kafka:\n  borkers: [a:1]\n',
        expected:
          /^joinery: configuration error: kafka\.borkers \(in .*joinery\.yaml line 2\): unknown setting$/,
      },
    ];
    for (const { name, env, yaml, expected } of cases) {
      it(name, async () => {
        const args = ['start'];
        const dataDir = temporaryDirectory('joinery-data-');
        if (yaml !== undefined) {
          const file = join(dataDir, 'joinery.yaml');
          writeFileSync(file, yaml);
          args.unshift('--config', file);
        }
        const { done } = joinery(args, { JOINERY_DATA_DIR: dataDir, ...env });
        const result = await done;
        expect(result.code).toBe(78);
        expect(result.stderr.trim().split('\n')).toHaveLength(1);
        expect(result.stderr.trim()).toMatch(expected);
        expect(existsSync(join(dataDir, 'postgres'))).toBe(false);
      });
    }
  });

  it('validates a sync plan: exit 0 with a summary, exit 65 with every problem and its line', async () => {
    const good = await joinery(['plan', 'validate', join(projectRoot, 'docs/examples/sync-plan.yaml')]).done;
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(
      /valid — 3 applications, 3 classifications, 1 rules, 11 expressions compiled/,
    );

    const dir = temporaryDirectory('joinery-plan-');
    const file = join(dir, 'plan.yaml');
    writeFileSync(
      file,
      'version: 1\nvault:\n  attributes: {}\napplications:\n  - name: hr\n    type: csv\n    objectClasses: {}\n    filtres: {}\n',
    );
    const bad = await joinery(['plan', 'validate', file]).done;
    expect(bad.code).toBe(65);
    expect(bad.stderr.trim().split('\n')).toEqual([
      `${file}: 1 problem`,
      `${file}:8 applications[0].filtres: unknown key`,
    ]);
  });

  it('migrates, creates a tenant, serves it and stops cleanly on SIGTERM', async () => {
    const env = {
      DATABASE_URL: database.url,
      KAFKA_BROKERS: createKafka().brokers.join(','),
      JOINERY_HTTP_PORT: '0',
    };
    const start = joinery(['start'], env);
    const refused = await start.done;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/pending migration.*run `joinery migrate`/);

    const migrated = await joinery(['migrate'], env).done;
    expect(migrated.stdout).toMatch(/^applied Migration/);
    expect((await joinery(['migrate'], env).done).stdout.trim()).toBe('database schema is up to date');

    const created = await joinery(['tenant', 'create', 'Initech', '--json'], env).done;
    expect(created.code).toBe(0);
    const credentials = JSON.parse(created.stdout) as { apiKey: string; tenantId: string };

    const service = joinery(['start'], env);
    const url = await listeningUrl(service);
    const tenant = await fetch(`${url}/v1/tenant`, {
      headers: { authorization: `Bearer ${credentials.apiKey}` },
    });
    expect(await tenant.json()).toMatchObject({ id: credentials.tenantId, name: 'Initech' });
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    service.child.kill('SIGTERM');
    const stopped = await service.done;
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toMatch(/"msg":"stopped"/);
    expect(stopped.stdout).not.toContain(credentials.apiKey);
    // Five runs of the command, each loading the whole service: over a minute on two busy cores.
  }, 180_000);

  it('runs with nothing configured: an embedded PostgreSQL whose data survives a restart', async () => {
    const dataDir = temporaryDirectory('joinery-embedded-');
    chmodSync(dataDir, 0o755); // the embedded PostgreSQL runs as the postgres user when we are root
    const env = { JOINERY_DATA_DIR: dataDir, JOINERY_HTTP_PORT: '0' };
    const created = await joinery(['tenant', 'create', 'Umbrella', '--json'], env).done;
    expect(created.code).toBe(0);
    const { apiKey } = JSON.parse(created.stdout) as { apiKey: string };

    const service = joinery(['start'], env);
    const url = await listeningUrl(service);
    const tenant = await fetch(`${url}/v1/tenant`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(await tenant.json()).toMatchObject({ name: 'Umbrella' });
    const ready = (await (await fetch(`${url}/readyz`)).json()) as {
      status: string;
      checks: Record<string, { status: string }>;
    };
    expect(ready.status).toBe('ready');
    expect(ready.checks.kafka?.status).toBe('skipped');
    service.child.kill('SIGTERM');
    expect((await service.done).code).toBe(0);
    // An embedded PostgreSQL created (initdb) and started, and two runs of the command.
  }, 180_000);
});

function listeningUrl(service: ReturnType<typeof joinery>): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    service.child.stdout?.on('data', (chunk: Buffer) => {
      const match = /"url":"(http:\/\/[^"]+)"/.exec(chunk.toString());
      if (match?.[1] !== undefined) resolve(match[1]);
    });
    void service.done.then((result) => {
      reject(new Error(`service exited: ${result.stderr}`));
    });
  });
}
