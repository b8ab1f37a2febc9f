// Issue 17 item 5: settings needed only for enrolment are not required afterwards. The agent's own command
// (agent/src/main.ts) against the real service (PostgreSQL, Kafka, the agent gateway) and a real OpenLDAP,
// with agent.yaml in the layout of docs/examples/agent.yaml: `clientKey: ${JOINERY_AGENT_CLIENT_KEY}` and
// `bindPassword: ${JOINERY_LDAP_PASSWORD}`, each variable set only for the commands that use it.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenLdap, openLdapDirectory } from '../../src/infra/openldap.ts';
import type { Started } from '../support/agent-artifact.ts';
import { runAgentCli, startAgentCli } from '../support/agent-cli.ts';
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
import { uniqueName } from '../support/factories.ts';
import { waitFor } from '../support/streams.ts';

const ldap = createOpenLdap();
const admin = new Client({ url: ldap.url, timeout: 10_000 });
const ouName = uniqueName('restartcfg');
const ou = `ou=${ouName},${openLdapDirectory.baseDn}`;
const dnOf = (uid: string) => `uid=${uid},${ou}`;
const ldapPassword = { JOINERY_LDAP_PASSWORD: openLdapDirectory.adminPassword };

let root: string;
let api: AgentApi | undefined;
const running = new Set<Started>();

/** Adds a user to the test OU and answers its entryUUID (the agent's anchor for it). */
async function addUser(uid: string): Promise<string> {
  await admin.add(dnOf(uid), { objectClass: ['inetOrgPerson'], uid, cn: uid, sn: 'Restart' });
  const { searchEntries } = await admin.search(dnOf(uid), { scope: 'base', attributes: ['entryUUID'] });
  return String(searchEntries[0]?.entryUUID);
}

/** An agent of its own (tenant, connector, directory) whose agent.yaml names both secrets by variable. */
async function setUpAgent(
  name: string,
): Promise<{ dir: string; configFile: string; tenant: TestTenant; connector: IssuedTestConnector }> {
  if (api === undefined) throw new Error('the service is not started');
  const dir = join(root, name);
  mkdirSync(dir);
  const tenant = await createTestTenant(api);
  const connector = await createTestConnector(api, tenant);
  const configFile = writeAgentConfig({
    dir,
    api,
    connector,
    kind: 'openldap',
    directoryOptions: {
      url: ldap.url,
      bindDn: openLdapDirectory.adminDn,
      bindPassword: '${JOINERY_LDAP_PASSWORD}',
      baseDn: openLdapDirectory.baseDn,
      users: { base: ou },
      groups: { base: ou },
      contacts: { base: ou },
    },
    deltaPollIntervalMs: 300,
  });
  return { dir, configFile, tenant, connector };
}

/** Waits until every anchor is in the application's objects; fails at once if the agent exits. */
async function waitForObjects(
  agent: Started,
  tenant: TestTenant,
  dir: string,
  anchors: string[],
  what: string,
): Promise<void> {
  const service = api;
  if (service === undefined) throw new Error('the service is not started');
  await waitFor(
    what,
    async () => {
      if (agent.child.exitCode !== null)
        throw new Error(`the agent exited with ${String(agent.child.exitCode)}: ${agent.output()}`);
      const listed = await callApi(
        service,
        tenant.apiKey,
        'GET',
        `/v1/applications/${tenant.applicationId}/objects`,
      );
      const items = (listed.body as { items?: { externalId: string }[] }).items ?? [];
      return anchors.every((anchor) => items.some((item) => item.externalId === anchor)) || undefined;
    },
    45_000,
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}; the agent logged:\n${readAgentLogs(dir).slice(-4000)}`, {
      cause: error,
    });
  });
}

async function stopAgent(agent: Started): Promise<void> {
  agent.child.kill('SIGTERM');
  const stopped = await agent.exited;
  running.delete(agent);
  expect(stopped, agent.output()).toMatchObject({ code: 0, signal: null });
}

beforeAll(async () => {
  root = temporaryDirectory('joinery-agent-restart-config-');
  [api] = await Promise.all([startAgentApi({ dir: root }), ldap.up()]);
  await admin.bind(openLdapDirectory.adminDn, openLdapDirectory.adminPassword);
  await admin.add(ou, { objectClass: ['organizationalUnit'], ou: ouName });
}, 120_000);

afterAll(async () => {
  for (const agent of running) agent.child.kill('SIGKILL');
  const { searchEntries } = await admin.search(ou, { scope: 'sub', attributes: ['1.1'] }).catch(() => ({
    searchEntries: [],
  }));
  const deepestFirst = searchEntries
    .map((entry) => entry.dn)
    .sort((a, b) => b.split(',').length - a.split(',').length);
  for (const dn of deepestFirst) await admin.del(dn).catch(() => undefined);
  await admin.unbind().catch(() => undefined);
  await api?.close();
  rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('settings needed only for enrolment (the docs/examples/agent.yaml layout)', () => {
  it('an agent enrolled at its first start runs again with JOINERY_AGENT_CLIENT_KEY unset; status needs no secret', async () => {
    const { dir, configFile, tenant, connector } = await setUpAgent('restarted');
    expect(readFileSync(configFile, 'utf8')).toContain('clientKey: ${JOINERY_AGENT_CLIENT_KEY}');
    const first = [await addUser(`ada${randomUUID().slice(0, 8)}`)];

    // First start, as the service unit runs it: both variables set; it enrols and imports the directory.
    const firstStart = startAgentCli(['run', '--config', configFile], {
      cwd: dir,
      variables: { ...ldapPassword, JOINERY_AGENT_CLIENT_KEY: connector.clientKey },
    });
    running.add(firstStart);
    await waitForObjects(firstStart, tenant, dir, first, 'the first start to import the directory');
    await stopAgent(firstStart);

    // The client key is spent and removed from the environment; the file still names it. A user added
    // while the agent is stopped arrives after the restart: the restarted agent reads and delivers.
    const later = await addUser(`bob${randomUUID().slice(0, 8)}`);
    const restarted = startAgentCli(['run', '--config', configFile], { cwd: dir, variables: ldapPassword });
    running.add(restarted);
    await waitForObjects(
      restarted,
      tenant,
      dir,
      [...first, later],
      'the restarted agent to deliver a change',
    );
    await stopAgent(restarted);
    expect(restarted.output()).not.toContain('JOINERY_AGENT_CLIENT_KEY');

    // status reads only the state database: neither variable set.
    const status = await runAgentCli(['status', '--config', configFile], { cwd: dir });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stderr).toBe('');
    expect(status.stdout).toMatch(/enrolled\s+yes, /);
    expect(status.stdout).toContain(connector.connectorId);
    expect(status.stdout).toMatch(/queue depth\s+0/);
  }, 120_000);

  it('status and enrol need no directory secret; run names the setting, the variable and the file it misses', async () => {
    const { dir, configFile, connector } = await setUpAgent('enrolled');
    const configError = (stderr: string, setting: string, variable: string, why: string) => {
      expect(stderr.trimEnd().split('\n')).toEqual([
        expect.stringMatching(
          new RegExp(
            `^joinery-agent: configuration error: ${setting} \\(in ${configFile.replaceAll('.', '\\.')} line \\d+\\): environment variable ${variable} is not set; ${why}`,
          ),
        ),
      ]);
    };

    const before = await runAgentCli(['status', '--config', configFile], { cwd: dir });
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toMatch(/enrolled\s+no \(run: joinery-agent enrol\)/);

    const noPassword = await runAgentCli(['run', '--config', configFile], {
      cwd: dir,
      variables: { JOINERY_AGENT_CLIENT_KEY: connector.clientKey },
    });
    expect(noPassword.code).toBe(78);
    configError(
      noPassword.stderr,
      'directory\\.options\\.bindPassword',
      'JOINERY_LDAP_PASSWORD',
      'the agent needs it to connect to the directory$',
    );

    const noKey = await runAgentCli(['run', '--config', configFile], { cwd: dir, variables: ldapPassword });
    expect(noKey.code).toBe(78);
    configError(
      noKey.stderr,
      'clientKey',
      'JOINERY_AGENT_CLIENT_KEY',
      "the agent is not enrolled yet \\(state directory .*\\) and needs the connector's one-time client key to enrol$",
    );

    // enrol: the client key only, no LDAP password.
    const enrolled = await runAgentCli(['enrol', '--config', configFile], {
      cwd: dir,
      variables: { JOINERY_AGENT_CLIENT_KEY: connector.clientKey },
    });
    expect(enrolled.code, enrolled.stderr).toBe(0);
    expect(enrolled.stdout).toContain(
      `enrolled: tenant ${connector.tenantId}, connector ${connector.connectorId}`,
    );

    const after = await runAgentCli(['status', '--config', configFile], { cwd: dir });
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toMatch(/enrolled\s+yes, /);
  }, 60_000);
});
