// The agent as it ships (npm run agent:build): the single executable run as its own process against the
// real service (PostgreSQL, Kafka, the agent gateway) and a real OpenLDAP (slapd), and the npm package of the
// same bundle installed from its tarball. The artifact is built once, here; the directory is an OU of its own.
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { rmSync } from 'node:fs';
import { Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenLdap, openLdapDirectory } from '../../src/infra/openldap.ts';
import {
  agentExecutable,
  artifactDir,
  buildAgentArtifact,
  bundledInputs,
  run,
  start,
  type Started,
} from '../support/agent-artifact.ts';
import {
  callApi,
  createTestConnector,
  createTestTenant,
  readAgentLogs,
  startAgentApi,
  temporaryDirectory,
  writeAgentConfig,
  type AgentApi,
  type IssuedTestConnector,
  type TestTenant,
} from '../support/agent-fixtures.ts';
import { waitFor } from '../support/streams.ts';
import { uniqueName } from '../support/factories.ts';

const ldap = createOpenLdap();
const admin = new Client({ url: ldap.url, timeout: 10_000 });
const ouName = uniqueName('artifact');
const ou = `ou=${ouName},${openLdapDirectory.baseDn}`;
const people = ['ada', 'bob', 'cyd'].map((name) => `${name}${randomUUID().slice(0, 8)}`);
const dnOf = (uid: string) => `uid=${uid},${ou}`;

let dir: string;
let api: AgentApi;
/** Stops the service, once it has started (set first thing in beforeAll). */
let closeService: (() => Promise<void>) | undefined;
let tenant: TestTenant;
let connector: IssuedTestConnector;
let configFile: string;
/** The directory users' entryUUIDs. */
let anchors: string[];
let agent: Started | undefined;
/** The executable's environment: a PATH with no Node.js on it, the client key as agent.yaml expects it. */
let env: Record<string, string>;

/** Runs the single executable to its end, in the agent's directory. */
const executable = (...args: string[]) => run(agentExecutable, args, { cwd: dir, env });

async function seedDirectory(): Promise<string[]> {
  await ldap.up();
  await admin.bind(openLdapDirectory.adminDn, openLdapDirectory.adminPassword);
  await admin.add(ou, { objectClass: ['organizationalUnit'], ou: ouName });
  for (const uid of people)
    await admin.add(dnOf(uid), { objectClass: ['inetOrgPerson'], uid, cn: uid, sn: 'Artifact' });
  const anchors: string[] = [];
  for (const uid of people) {
    const { searchEntries } = await admin.search(dnOf(uid), { scope: 'base', attributes: ['entryUUID'] });
    anchors.push(String(searchEntries[0]?.entryUUID));
  }
  return anchors;
}

beforeAll(async () => {
  dir = temporaryDirectory('joinery-agent-artifact-');
  // The build is the slow part (the executable is a copy of Node): it runs while the service starts. The
  // service is stopped in afterAll even when the build failed first.
  const starting = startAgentApi({ dir });
  closeService = async () => {
    await (await starting.catch(() => undefined))?.close();
  };
  [, api, anchors] = await Promise.all([buildAgentArtifact(), starting, seedDirectory()]);
  tenant = await createTestTenant(api);
  connector = await createTestConnector(api, tenant);
  configFile = writeAgentConfig({
    dir,
    api,
    connector,
    kind: 'openldap',
    directoryOptions: {
      url: ldap.url,
      bindDn: openLdapDirectory.adminDn,
      bindPassword: openLdapDirectory.adminPassword,
      baseDn: openLdapDirectory.baseDn,
      users: { base: ou },
      groups: { base: ou },
      contacts: { base: ou },
    },
    deltaPollIntervalMs: 500,
  });
  env = { PATH: dir, HOME: dir, JOINERY_AGENT_CLIENT_KEY: connector.clientKey };
}, 240_000);

afterAll(async () => {
  agent?.child.kill('SIGKILL');
  const { searchEntries } = await admin.search(ou, { scope: 'sub', attributes: ['1.1'] }).catch(() => ({
    searchEntries: [],
  }));
  const deepestFirst = searchEntries
    .map((entry) => entry.dn)
    .sort((a, b) => b.split(',').length - a.split(',').length);
  for (const dn of deepestFirst) await admin.del(dn).catch(() => undefined);
  await admin.unbind();
  await closeService?.();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('the agent artifact (npm run agent:build)', () => {
  it('bundles the agent, the kernel and npm packages: nothing of the service', () => {
    const inputs = bundledInputs();
    expect(inputs.filter((input) => !/^(agent|kernel|node_modules)\//.test(input))).toEqual([]);
    expect(inputs.filter((input) => /^(src|streams|actors)\//.test(input))).toEqual([]);
    expect(inputs).toContain('agent/src/main.ts');
    expect(inputs.some((input) => input.startsWith('kernel/channel/'))).toBe(true);
  });

  it('is a single executable that answers --version and --help without Node.js on its PATH', async () => {
    const version = await executable('--version');
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    const help = await executable('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: joinery-agent /);
    expect(help.stdout).toMatch(/run \[options\][\s\S]*status \[options\][\s\S]*enrol \[options\]/);
    expect(help.stderr).toBe(''); // no experimental warning from the single executable
  });

  it('is an npm package whose tarball installs with no registry and runs on Node 24', async () => {
    const packed = await run('npm', ['pack', artifactDir, '--json', '--pack-destination', dir]);
    expect(packed.code, packed.stderr).toBe(0);
    const [tarball] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    expect(tarball?.files.map((file) => file.path).sort()).toEqual([
      'README.md',
      'THIRD-PARTY-NOTICES.txt',
      'agent.example.yaml',
      'joinery-agent.cjs',
      'joinery-agent.service',
      'package.json',
    ]);
    const prefix = join(dir, 'global');
    const installed = await run('npm', [
      'install',
      '--global',
      '--prefix',
      prefix,
      '--offline',
      '--no-audit',
      '--no-fund',
      join(dir, tarball?.filename ?? ''),
    ]);
    expect(installed.code, installed.stderr).toBe(0);
    const version = await run(join(prefix, 'bin', 'joinery-agent'), ['--version'], {
      env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin` },
    });
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  });

  it("tells the status before enrolment, enrols, and runs until the directory's users are in the Application Repository; SIGTERM stops it with 0", async () => {
    const before = await executable('status', '--config', configFile);
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toMatch(/enrolled\s+no \(run: joinery-agent enrol\)/);

    const enrolled = await executable('enrol', '--config', configFile);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    expect(enrolled.stdout).toContain(
      `enrolled: tenant ${tenant.tenantId}, connector ${connector.connectorId}`,
    );

    agent = start(agentExecutable, ['--config', configFile], { cwd: dir, env });
    const running = agent;
    const objects = await waitFor(
      "the directory's users in the Application Repository",
      async () => {
        if (running.child.exitCode !== null)
          throw new Error(`the agent exited with ${String(running.child.exitCode)}: ${running.output()}`);
        const listed = await callApi(
          api,
          tenant.apiKey,
          'GET',
          `/v1/applications/${tenant.applicationId}/objects`,
        );
        const items = (listed.body as { items?: { externalId: string; objectClass: string }[] }).items ?? [];
        return anchors.every((anchor) => items.some((item) => item.externalId === anchor))
          ? items
          : undefined;
      },
      45_000,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; the agent logged:\n${readAgentLogs(dir).slice(-4000)}`, {
        cause: error,
      });
    });
    expect(
      objects.filter((item) => anchors.includes(item.externalId)).map((item) => item.objectClass),
    ).toEqual(['user', 'user', 'user']);

    running.child.kill('SIGTERM');
    const stopped = await running.exited;
    expect(stopped, running.output()).toMatchObject({ code: 0, signal: null });
    agent = undefined;
    // The log file, written by pino-roll inside the executable, has the last line.
    expect(readAgentLogs(dir)).toContain('"msg":"agent stopped"');

    const after = await executable('status', '--config', configFile);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toMatch(/enrolled\s+yes/);
    expect(after.stdout).toMatch(/queue depth\s+0/);
  }, 60_000);
});
