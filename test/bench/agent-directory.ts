// npm run bench:agent: the on-prem agent reading a real OpenLDAP and delivering through the real API into
// Kafka, as `joinery agent run` runs it (a child process, the real directory parts). Two figures, each
// beside the raw limit measured in the same run:
//   1. a full import of N inetOrgPerson users: from the agent's start to the run's `completed` marker read
//      back from the `imports` topic (raw limit: a plain paged ldapsearch of the same entries);
//   2. pulse latency: a user disabled/enabled (ppolicy pwdAccountLockedTime) 200 times, one after the
//      other; each from the LDAP modify's completion to its pulse read back from the `pulses` topic. The
//      agent polls the accesslog every --poll-ms, so that interval bounds the latency from below.
//
// The users live in ou=bench-<N>,dc=joinery,dc=test and are kept: a re-run with the same N seeds nothing.
//
//   npm run bench:agent                      # 100,000 users
//   npm run bench:agent -- --users 2000
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { parseArgs } from 'node:util';
import { Attribute, Change, Client } from 'ldapts';
import type { IHeaders } from 'kafkajs';
import { createInfraService } from '../../src/infra/stack.ts';
import { createOpenLdap, openLdapDirectory } from '../../src/infra/openldap.ts';
import { projectRoot, run } from '../../src/infra/process.ts';
import { createKafkaClient } from '../../streams/kafka-client.ts';
import {
  createTestConnector,
  createTestTenant,
  startAgentApi,
  temporaryDirectory,
} from '../support/agent-fixtures.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';
import { mib, rate, recordBenchmark, say, sleep, thousands } from './bench-support.ts';

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '100000' },
    flips: { type: 'string', default: '200' },
    'poll-ms': { type: 'string', default: '200' },
    'page-size': { type: 'string', default: '500' },
  },
});
const N = Number(args.users);
const FLIPS = Number(args.flips);
const POLL_MS = Number(args['poll-ms']);
const PAGE_SIZE = Number(args['page-size']);
const ldap = createOpenLdap();
const { adminDn, adminPassword, baseDn } = openLdapDirectory;
const ou = `ou=bench-${String(N)},${baseDn}`;
const userFilter = '(objectClass=inetOrgPerson)';
/** What the agent asks for on every user (openldap-source.ts readAttributes): the raw search reads the same. */
const readAttributes = [
  '*',
  'entryUUID',
  'createTimestamp',
  'modifyTimestamp',
  'pwdAccountLockedTime',
  'pwdChangedTime',
];

const seconds = (ms: number): number => Math.round(ms / 100) / 10;
const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;

/** Runs an ldap-utils command with the admin bind (password from a 0600 file, not the command line). */
function ldapTool(
  tool: 'ldapadd' | 'ldapsearch',
  passwordFile: string,
  toolArgs: string[],
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(tool, ['-x', '-H', ldap.url, '-D', adminDn, '-y', passwordFile, ...toolArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      resolve({ code, stderr });
    });
  });
}

async function countUsers(admin: Client): Promise<number> {
  try {
    const { searchEntries } = await admin.search(ou, {
      scope: 'one',
      filter: userFilter,
      attributes: ['1.1'],
      paged: { pageSize: 1000 },
    });
    return searchEntries.length;
  } catch (error) {
    if ((error as { code?: unknown }).code === 32) return 0; // noSuchObject: the OU is not there yet
    throw error;
  }
}

function userLdif(i: number): string {
  const id = String(i);
  return [
    `dn: uid=u${id},${ou}`,
    'objectClass: inetOrgPerson',
    `uid: u${id}`,
    `cn: Given${id} Surname${id}`,
    `givenName: Given${id}`,
    `sn: Surname${id}`,
    `displayName: Given${id} Surname${id}`,
    `mail: u${id}@bench.joinery.test`,
    `employeeNumber: E${id}`,
    `title: Engineer ${String(i % 40)}`,
    `departmentNumber: D${String(i % 50)}`,
    `telephoneNumber: +1 555 ${String(1_000_000 + i).slice(-7)}`,
    `l: City${String(i % 200)}`,
    '',
    '',
  ].join('\n');
}

/** N users in the bench OU: ldapadd of LDIF chunks, four at a time; existing entries are skipped (-c). */
async function seed(admin: Client, passwordFile: string, dir: string): Promise<number> {
  const started = performance.now();
  const present = await countUsers(admin);
  if (present === N) {
    say(`seeding: ${ou} already holds ${thousands(N)} users, skipped`);
    return 0;
  }
  if (present > N) throw new Error(`${ou} holds ${thousands(present)} users, more than ${thousands(N)}`);
  say(`seeding ${thousands(N - present)} users into ${ou}...`);
  if (present === 0) {
    await admin
      .add(ou, { objectClass: ['organizationalUnit'], ou: `bench-${String(N)}` })
      .catch((error: unknown) => {
        if ((error as { code?: unknown }).code !== 68) throw error; // already exists
      });
  }
  const chunk = Math.max(1000, Math.ceil(N / 40));
  const files: string[] = [];
  for (let start = 0; start < N; start += chunk) {
    const file = join(dir, `seed-${String(start)}.ldif`);
    let text = '';
    for (let i = start; i < Math.min(N, start + chunk); i++) text += userLdif(i);
    writeFileSync(file, text);
    files.push(file);
  }
  let done = 0;
  const worker = async () => {
    for (let file = files.shift(); file !== undefined; file = files.shift()) {
      const result = await ldapTool('ldapadd', passwordFile, ['-c', '-f', file]);
      // -c goes on past "Already exists" (68) and reports the last error: anything else is a failure.
      if (result.code !== 0 && result.code !== 68) {
        throw new Error(`ldapadd -f ${file} exited ${String(result.code)}: ${result.stderr}`);
      }
      done += chunk;
      say(`  seeded ${thousands(Math.min(N, done))} / ${thousands(N)}`);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  const now = await countUsers(admin);
  if (now !== N) throw new Error(`seeding left ${thousands(now)} users in ${ou}, expected ${thousands(N)}`);
  const ms = performance.now() - started;
  say(`seeding: ${thousands(N)} users in ${String(seconds(ms))} s (not a measured figure)`);
  return ms;
}

/** The agent's configuration: the bench OU for every object class, so only the seeded users are read. */
function agentConfig(options: {
  dir: string;
  apiUrl: string;
  tenantId: string;
  connectorId: string;
}): string {
  const file = join(options.dir, 'agent.yaml');
  const directoryOptions = {
    url: ldap.url,
    bindDn: adminDn,
    bindPassword: '${JOINERY_LDAP_PASSWORD}',
    baseDn,
    users: { base: ou },
    groups: { base: ou },
    contacts: { base: ou },
    pageSize: PAGE_SIZE,
  };
  const lines = [
    'api:',
    `  urls: [${JSON.stringify(options.apiUrl)}]`,
    `tenantId: ${options.tenantId}`,
    `connectorId: ${options.connectorId}`,
    'clientKey: ${JOINERY_AGENT_CLIENT_KEY}',
    'stateDir: state',
    'directory:',
    '  kind: openldap',
    `  options: ${JSON.stringify(directoryOptions)}`,
    'schedules:',
    `  deltaPollIntervalMs: ${String(POLL_MS)}`,
    '  passwordCapture: false',
    'log:',
    '  level: info',
    '  file: logs/agent.log',
  ];
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const header = (headers: IHeaders | undefined, name: string): string => {
  const value = headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first?.toString() ?? '';
};

async function main(): Promise<void> {
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'; // the in-process service's producers: noise here
  for (const name of ['postgres', 'kafka'] as const) await (await createInfraService(name)).up();
  await ldap.up();
  const dir = temporaryDirectory('joinery-bench-agent-');
  const passwordFile = join(dir, 'ldap-password');
  writeFileSync(passwordFile, adminPassword, { mode: 0o600 });
  const admin = new Client({ url: ldap.url, timeout: 60_000 });
  await admin.bind(adminDn, adminPassword);
  say(
    `${thousands(N)} OpenLDAP users, page size ${String(PAGE_SIZE)}, delta poll ${String(POLL_MS)} ms, ${String(cpus().length)} cores, ${String(Math.round(totalmem() / 2 ** 30))} GiB`,
  );
  const seedMs = await seed(admin, passwordFile, dir);
  // An interrupted earlier run may have left users disabled: the flips below start from enabled users.
  const locked = await admin.search(ou, {
    scope: 'one',
    filter: '(pwdAccountLockedTime=*)',
    attributes: ['1.1'],
  });
  for (const entry of locked.searchEntries) {
    await admin.modify(
      entry.dn,
      new Change({ operation: 'delete', modification: new Attribute({ type: 'pwdAccountLockedTime' }) }),
    );
  }

  // Raw limit, same run: slapd serving the same entries and attributes to a C client writing to /dev/null.
  let started = performance.now();
  const raw = await ldapTool('ldapsearch', passwordFile, [
    '-LLL',
    '-E',
    `pr=${String(PAGE_SIZE)}/noprompt`,
    '-b',
    ou,
    '-s',
    'one',
    userFilter,
    ...readAttributes,
  ]);
  if (raw.code !== 0) throw new Error(`ldapsearch exited ${String(raw.code)}: ${raw.stderr}`);
  const rawMs = performance.now() - started;
  const rawRate = rate(N, rawMs);
  say(
    `raw: ldapsearch of ${thousands(N)} entries in ${String(seconds(rawMs))} s: ${thousands(rawRate)} entries/s`,
  );

  // The service (API + engine) on Kafka and a fresh database, in this process; the agent is a child.
  const api = await startAgentApi({ dir });
  const tenant = await createTestTenant(api);
  const connector = await createTestConnector(api, tenant);
  const kafka = createKafkaClient({ brokers: api.brokers, clientId: 'joinery-bench', logger: silentLogger });
  const consumer = kafka.consumer({ groupId: uniqueName('bench-reader'), maxWaitTimeInMs: 20 });
  await consumer.connect();
  await consumer.subscribe({ topics: [api.topic('imports'), api.topic('pulses')], fromBeginning: true });
  const seen = {
    objects: 0,
    lastObjectAt: 0,
    startedAt: undefined as number | undefined,
    completedAt: undefined as number | undefined,
    completedCount: undefined as number | undefined,
    pulses: new Map<string, number>(),
  };
  await consumer.run({
    eachBatch: ({ batch }) => {
      const at = performance.now();
      for (const message of batch.messages) {
        const type = header(message.headers, 'ce_type');
        if (type === 'joinery.import.object.v1' || type === 'joinery.import.objects.v1') {
          // The run's objects carry its runId; the delta's objects (from the flips below) do not. The gateway
          // sends an agent's objects many to a message (joinery.import.objects.v1) where it can.
          const data = JSON.parse(message.value?.toString() ?? '{}') as {
            runId?: string;
            objects?: unknown[];
          };
          if (data.runId !== undefined) {
            seen.objects += data.objects?.length ?? 1;
            seen.lastObjectAt = at;
          }
        } else if (type === 'joinery.import.run.v1') {
          const data = JSON.parse(message.value?.toString() ?? '{}') as {
            phase?: string;
            objectCount?: number;
          };
          if (data.phase === 'started') seen.startedAt ??= at;
          if (data.phase === 'completed') {
            seen.completedAt = at;
            seen.completedCount = data.objectCount;
          }
        } else if (type === 'joinery.pulse.v1') {
          const data = JSON.parse(message.value?.toString() ?? '{}') as {
            event?: { type?: string; source?: { externalId?: string } };
          };
          seen.pulses.set(`${data.event?.source?.externalId ?? ''}:${data.event?.type ?? ''}`, at);
        }
      }
      return Promise.resolve();
    },
  });

  const configFile = agentConfig({
    dir,
    apiUrl: api.url,
    tenantId: connector.tenantId,
    connectorId: connector.connectorId,
  });
  const agentStart = performance.now();
  const command = [join(projectRoot, 'agent/src/main.ts'), 'run', '--config', configFile];
  const agent = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', ...command], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      JOINERY_AGENT_CLIENT_KEY: connector.clientKey,
      JOINERY_LDAP_PASSWORD: adminPassword,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let agentOutput = '';
  agent.stdout.on('data', (chunk: Buffer) => (agentOutput += chunk.toString()));
  agent.stderr.on('data', (chunk: Buffer) => (agentOutput += chunk.toString()));
  const agentExit = new Promise<number | null>((resolve) => agent.once('exit', resolve));
  // A failing run throws past the stop below: the agent must not outlive the benchmark.
  process.once('exit', () => {
    if (agent.exitCode === null) agent.kill('SIGKILL');
  });
  const memory = (field: 'VmRSS' | 'VmHWM'): number => {
    try {
      const status = readFileSync(`/proc/${String(agent.pid ?? 0)}/status`, 'utf8');
      return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    } catch {
      return 0; // exited
    }
  };
  const agentLog = (): string => {
    try {
      return readdirSync(join(dir, 'logs'))
        .map((name) => readFileSync(join(dir, 'logs', name), 'utf8'))
        .join('');
    } catch {
      return ''; // not written yet
    }
  };
  // The queue's depth, read beside the agent (SQLite WAL lets a reader in while the agent writes).
  const stateFile = join(dir, 'state', 'agent.db');
  let stateDb: DatabaseSync | undefined;
  const queueDepth = (): number => {
    if (stateDb === undefined && existsSync(stateFile)) {
      stateDb = new DatabaseSync(stateFile, { readOnly: true, timeout: 1000 });
    }
    try {
      return (
        (stateDb?.prepare('select count(*) as n from outgoing').get() as { n: number } | undefined)?.n ?? 0
      );
    } catch {
      return -1; // the schema is not there yet, or the file is busy: skip this sample
    }
  };

  // 1. The full import, from the agent's start to the completed marker read back from Kafka.
  const depths: number[] = [];
  let lastSay = performance.now();
  // The marker and the objects are on different partitions: the import is done when both are read.
  while (seen.completedAt === undefined || seen.objects < (seen.completedCount ?? 0)) {
    if (agent.exitCode !== null)
      throw new Error(`the agent exited (${String(agent.exitCode)}):\n${agentOutput}`);
    const aborted = /"reason":"([^"]*)","msg":"full import aborted/.exec(agentLog());
    if (aborted !== null) throw new Error(`the agent aborted the full import: ${aborted[1] ?? ''}`);
    if (performance.now() - agentStart > 30 * 60_000) throw new Error('the full import took over 30 minutes');
    const depth = queueDepth();
    if (depth >= 0) depths.push(depth);
    if (performance.now() - lastSay > 5000) {
      lastSay = performance.now();
      say(
        `  full import: ${thousands(seen.objects)} objects on Kafka, queue ${thousands(depth)}, agent RSS ${String(mib(memory('VmRSS')))} MiB`,
      );
    }
    await sleep(250);
  }
  const importMs = Math.max(seen.completedAt, seen.lastObjectAt) - agentStart;
  const firstMessageMs = (seen.startedAt ?? seen.completedAt) - agentStart;
  const importRate = rate(seen.objects, importMs);
  const importPeakRss = mib(memory('VmHWM'));
  const peakDepth = Math.max(0, ...depths);
  say(
    `full import: ${thousands(seen.objects)} objects (marker says ${thousands(seen.completedCount ?? 0)}) on Kafka ${String(seconds(importMs))} s after the agent's start: ${thousands(importRate)} objects/s; peak queue ${thousands(peakDepth)}, agent peak RSS ${String(importPeakRss)} MiB`,
  );
  if (seen.objects !== N || seen.completedCount !== N) {
    throw new Error(`expected ${thousands(N)} objects, read ${thousands(seen.objects)}`);
  }
  let drainedAfterMs = 0;
  while (queueDepth() !== 0) {
    if (drainedAfterMs > 60_000) throw new Error('the queue did not drain within a minute of the marker');
    await sleep(100);
    drainedAfterMs = performance.now() - agentStart - importMs;
  }

  // 2. Pulses: FLIPS/2 users each disabled then enabled, one modify at a time.
  const { searchEntries } = await admin.search(ou, {
    scope: 'one',
    filter: userFilter,
    attributes: ['entryUUID'],
    sizeLimit: Math.ceil(FLIPS / 2),
  });
  const latencies: number[] = [];
  started = performance.now();
  for (let i = 0; i < FLIPS; i++) {
    const entry = searchEntries[Math.floor(i / 2) % searchEntries.length];
    if (entry === undefined) throw new Error(`no user in ${ou} to flip`);
    const externalId = String(entry.entryUUID);
    const disable = i % 2 === 0;
    const key = `${externalId}:${disable ? 'pulse.disable' : 'pulse.enable'}`;
    seen.pulses.delete(key);
    await admin.modify(
      entry.dn,
      disable
        ? new Change({
            operation: 'replace',
            modification: new Attribute({ type: 'pwdAccountLockedTime', values: ['000001010000Z'] }),
          })
        : new Change({ operation: 'delete', modification: new Attribute({ type: 'pwdAccountLockedTime' }) }),
    );
    const modified = performance.now();
    while (!seen.pulses.has(key)) {
      if (performance.now() - modified > 30_000) throw new Error(`no ${key} pulse within 30 s`);
      await sleep(2);
    }
    latencies.push((seen.pulses.get(key) ?? 0) - modified);
    if ((i + 1) % 50 === 0) say(`  pulses: ${String(i + 1)} / ${String(FLIPS)}`);
  }
  const pulsesMs = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const pulse = {
    count: FLIPS,
    p50Ms: Math.round(percentile(latencies, 50)),
    p99Ms: Math.round(percentile(latencies, 99)),
    maxMs: Math.round(latencies.at(-1) ?? 0),
    minMs: Math.round(latencies[0] ?? 0),
  };
  say(
    `pulses: ${String(FLIPS)} disable/enable, modify -> Kafka p50 ${String(pulse.p50Ms)} ms, p99 ${String(pulse.p99Ms)} ms, max ${String(pulse.maxMs)} ms (min ${String(pulse.minMs)}; the ${String(POLL_MS)} ms poll bounds it) in ${String(seconds(pulsesMs))} s`,
  );

  const peakRss = mib(memory('VmHWM'));
  agent.kill('SIGTERM');
  const exitCode = await agentExit;
  stateDb?.close();
  if (exitCode !== 0) throw new Error(`the agent exited ${String(exitCode)}:\n${agentOutput}`);

  const result = {
    benchmark: 'agent-directory',
    at: new Date().toISOString(),
    commit: (
      await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: projectRoot }).catch(() => 'unknown')
    ).trim(),
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    users: N,
    pageSize: PAGE_SIZE,
    seedingSeconds: seedMs === 0 ? null : seconds(seedMs),
    fullImport: {
      objects: seen.objects,
      seconds: seconds(importMs),
      objectsPerSecond: importRate,
      startedMarkerAfterSeconds: seconds(firstMessageMs),
      peakQueueDepth: peakDepth,
      queueDrainedAfterCompletedMs: Math.round(drainedAfterMs),
      peakRssMiB: importPeakRss,
    },
    pulses: { ...pulse, deltaPollIntervalMs: POLL_MS },
    peakRssMiB: peakRss,
    raw: { ldapsearchMilliseconds: Math.round(rawMs), ldapsearchEntriesPerSecond: rawRate },
  };
  console.log(JSON.stringify(result, null, 2));
  recordBenchmark('agent-directory', N, result);

  await consumer.disconnect();
  await admin.unbind();
  await api.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
