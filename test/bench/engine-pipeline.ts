// npm run bench:engine: the four-stage engine end to end on the real Kafka + PostgreSQL, as `joinery
// start` runs it. Four figures, each beside the raw limit measured in the same run:
//   1. initial load: N HR records (an authoritative source) and N directory accounts joined to them on an
//      employee id (1% matching nobody, 0.1% ambiguous), classified, provisioned to one target
//      application's export queue — twice on identical input, each on a database and topics of its own:
//      without the logstream persisted (the audit consumer off) and no viewer, then with the audit
//      consumer storing every event and a viewer reading the tenant's live stream; the two side by side;
//   2. a second full import of the same N unchanged HR records (no identity, outbound or export writes);
//   3. a delta of 1,000 changed HR records until their updates are in the export queue;
//   4. a plan change every provisioned identity must see (the display name sent to the target is written
//      the other way round): from applying it until every identity is reconciled and its update queued.
//
//   npm run bench:engine                     # 1,000,000 + 1,000,000
//   npm run bench:engine -- --records 100000
//   npm run bench:engine -- --producer alongside   # the input produced while the engine runs
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Message } from 'kafkajs';
import pg from 'pg';
import { createInfraService } from '../../src/infra/stack.ts';
import { projectRoot, run } from '../../src/infra/process.ts';
import { encodeMessage } from '../../streams/cloudevents.ts';
import { createKafkaClient } from '../../streams/kafka-client.ts';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { ensureTopics, topicName, type TopicSettings } from '../../streams/topics.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { createLogger } from '../../kernel/logger.ts';
import { createTestDatabase } from '../support/database.ts';
import { createViewer, tenantPartition } from './live-viewer.ts';
import { cpuSpent, describeCpu, sampleCpu, type CpuSample, type CpuSpent } from './cpu-meter.ts';
import {
  mib,
  produceAll,
  rate,
  previousBenchmark,
  recordBenchmark,
  say,
  sleep,
  spawnEngine,
  thousands,
} from './bench-support.ts';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    partitions: { type: 'string', default: '12' },
    delta: { type: 'string', default: '1000' },
    keep: { type: 'boolean', default: false },
    profile: { type: 'string' },
    producer: { type: 'string', default: 'before' },
  },
});
if (args.producer !== 'before' && args.producer !== 'alongside')
  throw new Error(`--producer must be "before" or "alongside", not "${args.producer}"`);
const N = Number(args.records);
const DELTA = Number(args.delta);
const partitions = Number(args.partitions);
const logger = createLogger({ level: 'warn' });

// The population: every 10th worker is a contractor (classification 2, not provisioned); worker pairs
// (i, i+1) with i % 1000 = 1 share a display name, and the directory account of i has no employee id,
// so only the display-name rule can match it — twice: ambiguous. Accounts with i % 100 = 50 carry an
// employee id nobody has: unmatched.
const isContractor = (i: number) => i % 10 === 0;
const isAmbiguous = (i: number) => i % 1000 === 1;
const isUnmatched = (i: number) => i % 100 === 50;
const nameOf = (i: number) => (i % 1000 === 2 ? i - 1 : i);
const workerAttributes = (i: number, title: string): Record<string, string> => ({
  WorkerID: `W${String(i)}`,
  FirstName: `Given${String(nameOf(i))}`,
  LastName: `Surname${String(nameOf(i))}`,
  JobTitle: title,
  Department: `D${String(i % 50)}`,
  WorkerType: isContractor(i) ? 'Contractor' : 'Employee',
});

const plan = (suffix: string, displayName = 'from: displayName') => `
version: 1
vault:
  attributes: { employeeId: {}, givenName: {}, surname: {}, displayName: {}, title: {}, department: {}, employeeType: {}, mail: {} }
applications:
  - name: hr-${suffix}
    type: csv
    createsIdentities: true
    objectClasses:
      worker: { attributes: { WorkerID: {}, FirstName: {}, LastName: {}, JobTitle: {}, Department: {}, WorkerType: {} } }
    joining: [{ name: worker id, all: [{ source: WorkerID, vault: employeeId }] }]
    inbound:
      - { vault: employeeId, from: WorkerID, authority: 100 }
      - { vault: givenName, from: FirstName, authority: 100 }
      - { vault: surname, from: LastName, authority: 100 }
      - { vault: displayName, expression: 'source.FirstName + " " + source.LastName', authority: 100 }
      - { vault: title, from: JobTitle, authority: 100 }
      - { vault: department, from: Department, authority: 100 }
      - { vault: employeeType, from: WorkerType, authority: 100 }
  - name: directory-${suffix}
    type: ldap
    objectClasses:
      user: { attributes: { employeeNumber: {}, cn: {}, mail: {} } }
    joining:
      - { name: employee number, all: [{ source: employeeNumber, vault: employeeId }] }
      - { name: common name, all: [{ source: cn, vault: displayName }] }
    inbound: [{ vault: mail, from: mail, authority: 100 }]
  - name: saas-${suffix}
    type: scim
    mode: live
    objectClasses:
      User: { attributes: { userName: { direction: out }, displayName: { direction: out }, title: { direction: out } } }
    outbound:
      - { target: userName, from: employeeId }
      - { target: displayName, ${displayName} }
      - { target: title, from: title }
    classifications: [1]
classifications:
  - { value: 1, name: employee, when: 'identity.employeeType == "Employee"' }
  - { value: 2, name: contractor, when: 'true' }
`;

/** A point of a run: the CPU spent so far and PostgreSQL's WAL position (bytes). */
interface Mark {
  cpu: CpuSample;
  wal: number;
}

/** A WAL position as PostgreSQL prints it (`16/B374D848`), in bytes. */
function lsnBytes(lsn: string): number {
  const [high = '0', low = '0'] = lsn.split('/');
  return Number.parseInt(high, 16) * 2 ** 32 + Number.parseInt(low, 16);
}

/** What a phase cost, over one or more intervals: CPU of each process and WAL written. */
function work(...intervals: [Mark, Mark][]): CpuSpent & { walBytes: number } {
  return {
    ...cpuSpent(...intervals.map(([from, to]): [CpuSample, CpuSample] => [from.cpu, to.cpu])),
    walBytes: intervals.reduce((sum, [from, to]) => sum + to.wal - from.wal, 0),
  };
}

function describeWork(spent: CpuSpent & { walBytes: number }, records: number): string {
  const perRecord = spent.walBytes / records / 1024;
  return `${describeCpu(spent, cpus().length)}; WAL ${thousands(Math.round(spent.walBytes / 2 ** 20))} MiB (${perRecord.toFixed(1)} KiB per HR record)`;
}

/** What the two initial loads of one run differ in, printed beside their figures. */
const variants = {
  without:
    'without: the audit consumer off (JOINERY_AUDIT_CONSUMER=false), no viewer — the stages still write their logstream events in their transactions and the relay publishes them to the logstream topic; nothing stores them, no socket reads them',
  with: 'with: the audit consumer storing every event in audit_event (the clock stops once it has caught up) and a viewer — a WebSocket client on the tenant-wide live stream (GET /v1/streams) reading every frame',
} as const;
type Variant = keyof typeof variants;

const loadAverage = (): string =>
  loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');

async function main(): Promise<void> {
  for (const name of ['postgres', 'kafka'] as const) await (await createInfraService(name)).up();
  const brokers = [(await (await createInfraService('kafka')).status()).endpoint];
  const kafka = createKafkaClient({ brokers, clientId: 'joinery-bench', logger });
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer();
  await producer.connect();
  say(
    `${thousands(N)} HR records + ${thousands(N)} directory accounts, ${String(partitions)} partitions, ${String(cpus().length)} cores, ${String(Math.round(totalmem() / 2 ** 30))} GiB; load average ${loadAverage()}`,
  );
  const deleteTopics = async (prefix: string) => {
    await admin.deleteTopics({
      topics: (await admin.listTopics()).filter((topic) => topic.startsWith(prefix)),
    });
  };

  /** Waits until every partition of these new topics has a leader (a new topic's take a moment). */
  const usable = async (names: string[]) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const { topics } = await admin.fetchTopicMetadata({ topics: names });
        if (topics.every((topic) => topic.partitions.every((partition) => partition.leader >= 0))) return;
      } catch (error) {
        if (attempt >= 40) throw error;
      }
      if (attempt >= 40) throw new Error(`topics ${names.join(', ')} have no leaders after 20 s`);
      await sleep(500);
    }
  };

  // Raw limit, same run: producing and consuming N messages of the same shape with no processing.
  const rawPrefix = `bench-raw-${randomUUID().slice(0, 8)}.`;
  const rawTopic = `${rawPrefix}raw`;
  await admin.createTopics({
    topics: [{ topic: rawTopic, numPartitions: partitions }],
    waitForLeaders: true,
  });
  await usable([rawTopic]);
  const rawWorker = (i: number) =>
    encodeMessage({
      id: randomUUID(),
      type: 'joinery.import.object.v1',
      source: '/bench',
      time: new Date().toISOString(),
      tenantId: randomUUID(),
      data: {
        tenantId: randomUUID(),
        applicationId: randomUUID(),
        objectClass: 'worker',
        externalId: `W${String(i)}`,
        operation: 'upsert',
        attributes: workerAttributes(i, 'Engineer'),
        observedAt: new Date().toISOString(),
        runId: randomUUID(),
      },
    });
  let started = performance.now();
  await produceAll(producer, rawTopic, N, rawWorker);
  const rawProduce = rate(N, performance.now() - started);
  started = performance.now();
  const rawConsumer = kafka.consumer({
    groupId: `bench-raw-${randomUUID()}`,
    maxBytesPerPartition: 4 * 1024 * 1024,
  });
  await rawConsumer.connect();
  await rawConsumer.subscribe({ topic: rawTopic, fromBeginning: true });
  let rawConsumed = 0;
  await new Promise<void>((resolve) => {
    void rawConsumer.run({
      eachBatch: async ({ batch }) => {
        rawConsumed += batch.messages.length;
        if (rawConsumed >= N) resolve();
      },
    });
  });
  const rawConsume = rate(N, performance.now() - started);
  await rawConsumer.disconnect();
  say(`raw: produce ${thousands(rawProduce)} msg/s, consume ${thousands(rawConsume)} msg/s`);

  const logs: string[] = [];
  let peakRss = 0;

  /**
   * A tenant of its own (database, topics, plan) and its initial load: HR first (it creates the identities),
   * then the directory joins them. Returns what the later phases need, the engine still running.
   */
  const initialLoad = async (variant: Variant) => {
    say(variants[variant]);
    const loadAverageBefore = loadAverage();
    const database = await createTestDatabase();
    const orm = await openDatabase({ url: database.url, poolSize: 4, logger });
    await migrate(orm);
    const { tenantId, apiKey } = await createTenant(orm.em, { tenant: 'bench' });
    const suffix = randomUUID().slice(0, 8);
    const applied = await applyPlan(orm.em, {
      tenantId,
      source: plan(suffix),
      sourceName: 'bench.yaml',
      appliedBy: 'bench',
    });
    const [hr = '', directory = '', saas = ''] = applied.applications.map((application) => application.id);
    await orm.close();
    const topics: TopicSettings = { topicPrefix: `bench-${suffix}.`, partitions, replicationFactor: 1 };
    await ensureTopics(admin, topics);
    await usable((await admin.listTopics()).filter((topic) => topic.startsWith(topics.topicPrefix)));
    const importsTopic = topicName(topics, 'imports');
    const identityTopic = topicName(topics, 'identity');
    const outboundTopic = topicName(topics, 'outbound');
    const logstreamTopic = topicName(topics, 'logstream');

    const object = (
      applicationId: string,
      objectClass: string,
      externalId: string,
      attributes: Record<string, string>,
      runId?: string,
    ): Message => {
      const at = new Date().toISOString();
      const data: MessageData<'joinery.import.object.v1'> = {
        tenantId,
        applicationId,
        objectClass,
        externalId,
        operation: 'upsert',
        attributes,
        observedAt: at,
        ...(runId === undefined ? {} : { runId }),
      };
      return encodeMessage({
        id: randomUUID(),
        type: 'joinery.import.object.v1',
        source: '/bench',
        time: at,
        tenantId,
        data,
      });
    };
    const marker = (
      applicationId: string,
      runId: string,
      phase: 'started' | 'completed',
      objectCount?: number,
    ) => {
      const at = new Date().toISOString();
      return encodeMessage({
        id: randomUUID(),
        type: 'joinery.import.run.v1',
        source: '/bench',
        time: at,
        tenantId,
        data: {
          tenantId,
          applicationId,
          runId,
          kind: 'full',
          phase,
          at,
          ...(objectCount === undefined ? {} : { objectCount }),
        },
      });
    };
    const worker = (i: number, runId?: string, title = 'Engineer') =>
      object(hr, 'worker', `W${String(i)}`, workerAttributes(i, title), runId);
    const account = (i: number) =>
      object(directory, 'user', `uid=u${String(i)}`, {
        ...(isAmbiguous(i) ? {} : { employeeNumber: isUnmatched(i) ? `X${String(i)}` : `W${String(i)}` }),
        cn: isUnmatched(i) ? `Nobody ${String(i)}` : `Given${String(nameOf(i))} Surname${String(nameOf(i))}`,
        mail: `u${String(i)}@example.com`,
      });

    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    /** The engine's, PostgreSQL's and Kafka's CPU so far, and PostgreSQL's WAL position. */
    const mark = async (): Promise<Mark> => {
      const { rows } = await client.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
      return { cpu: sampleCpu(), wal: lsnBytes(rows[0]?.lsn ?? '0/0') };
    };
    const count = async (text: string, values: unknown[] = []): Promise<number> =>
      Number((await client.query<{ n: string }>(text, values)).rows[0]?.n ?? 0);
    const consumedOf = (topic: string) =>
      count('select coalesce(sum(next_offset), 0) as n from stream_offset where topic = $1', [topic]);
    // Polls cheaply (a count over a million rows is not free on two cores): once a second, 50 ms for the delta.
    const waitUntil = async (
      what: string,
      check: () => Promise<boolean>,
      progress?: () => Promise<string>,
      intervalMs = 1000,
    ) => {
      let last = performance.now();
      while (!(await check())) {
        if (progress !== undefined && performance.now() - last > 15_000) {
          last = performance.now();
          say(`  ${what}: ${await progress()}`);
        }
        await sleep(intervalMs);
      }
    };

    // With: a viewer on the tenant's stream from each engine start (a stopped engine closes its sockets).
    const viewer = variant === 'with' ? createViewer() : undefined;
    const startEngine = async () => {
      const child = spawnEngine({
        databaseUrl: database.url,
        brokers,
        topicPrefix: topics.topicPrefix,
        partitions,
        ...(args.profile === undefined ? {} : { profileDir: join(args.profile, variant) }),
        ...(variant === 'without' ? { env: { JOINERY_AUDIT_CONSUMER: 'false' } } : {}),
      });
      await waitUntil('engine start', async () => {
        if (child.process.exitCode !== null || child.process.signalCode !== null)
          throw new Error('the engine exited before it listened (its output is above)');
        return child.log().includes('Joinery is listening');
      });
      const url = child.url();
      if (viewer !== undefined) {
        if (url === undefined) throw new Error('the engine did not say where its API listens');
        // The first time, after the partition's first event (a resume cannot name "before the first"): the
        // events the engine told before the socket opened come from the hub's ring.
        await viewer.connect(url, apiKey, `${String(tenantPartition(tenantId, partitions))}-0`);
      }
      return child;
    };
    // Where the input is produced: `before` (default) — each phase's records are on the topic before the
    // engine starts on them, so the clock measures the engine alone (in production the records come from
    // agents and connectors on other machines; here the producer would take a core from the engine);
    // `alongside` — produced while the engine runs, end to end, producer included.
    const producedBefore = args.producer === 'before';
    let engine = producedBefore ? undefined : await startEngine();
    const stopEngine = async () => {
      if (engine === undefined) return;
      peakRss = Math.max(peakRss, mib(engine.memory('VmHWM')));
      await engine.stop();
      logs.push(`--- ${variant} ---\n${engine.log()}`);
      engine = undefined;
    };
    const running = () => {
      if (engine === undefined) throw new Error('the engine is not running');
      return engine;
    };
    const topicEnd = async (topic: string) =>
      (await admin.fetchTopicOffsets(topic)).reduce((sum, partition) => sum + Number(partition.high), 0);
    /** Lets the viewer (with) read every event published so far, or be told of it, while it makes progress. */
    const viewerCaughtUp = async () => {
      if (viewer === undefined) return;
      const published = await topicEnd(logstreamTopic);
      const seen = () => viewer.counts.events + viewer.counts.dropped;
      let last = seen();
      let progressAt = performance.now();
      while (seen() < published && performance.now() - progressAt < 10_000) {
        await sleep(200);
        if (seen() > last) [last, progressAt] = [seen(), performance.now()];
      }
    };
    /** Produces one phase's input; with --producer before, the engine is stopped meanwhile and the clock starts when it is back. */
    const phase = async (
      produce: () => Promise<void>,
    ): Promise<{ producedMs: number; clockStart: number; started: Mark }> => {
      if (producedBefore && engine !== undefined) {
        // Off the clock, in both variants: what the relay has left is published, and (with) read by the
        // viewer, before the engine stops (a stopping API closes its sockets before the relay's last batch).
        await waitUntil(
          'outbox before stopping',
          async () => (await count('select count(*) as n from outbox')) === 0,
        );
        await viewerCaughtUp();
        await stopEngine();
      }
      const started = await mark();
      const start = performance.now();
      await produce();
      const producedMs = performance.now() - start;
      if (!producedBefore) return { producedMs, clockStart: start, started };
      const clockStart = performance.now();
      const engineStarted = await mark();
      engine = await startEngine();
      return { producedMs, clockStart, started: engineStarted };
    };

    const employees = Array.from({ length: N }, (_, i) => i).filter((i) => !isContractor(i)).length;
    const joinable = Array.from({ length: N }, (_, i) => i).filter(
      (i) => !isAmbiguous(i) && !isUnmatched(i),
    ).length;
    const hrRun = randomUUID();
    const hrPhase = await phase(async () => {
      await producer.send({ topic: importsTopic, messages: [marker(hr, hrRun, 'started')] });
      await produceAll(producer, importsTopic, N, (i) => worker(i, hrRun));
      await producer.send({ topic: importsTopic, messages: [marker(hr, hrRun, 'completed', N)] });
    });
    const loadStart = hrPhase.clockStart;
    say(`HR records produced in ${String(Math.round(hrPhase.producedMs) / 1000)} s`);
    /** The engine has consumed everything on these topics so far (a cheap check: offsets, not counts). */
    const caughtUp = async (...names: string[]) => {
      for (const topic of names) if ((await consumedOf(topic)) < (await topicEnd(topic))) return false;
      return true;
    };
    // Each count over a growing table is only run once the engine has caught up with its input.
    await waitUntil(
      'identities',
      async () =>
        (await caughtUp(importsTopic, identityTopic)) &&
        (await count('select count(*) as n from identity')) >= N,
      async () =>
        `${thousands(await count('select count(*) as n from identity'))} identities, RSS ${String(mib(running().memory('VmRSS')))} MiB`,
    );
    const identitiesAt = performance.now() - loadStart;
    const identitiesMark = await mark();
    say(`${thousands(N)} identities in ${String(Math.round(identitiesAt) / 1000)} s`);
    const directoryPhase = await phase(() => produceAll(producer, importsTopic, N, (i) => account(i)));
    say(`directory accounts produced in ${String(Math.round(directoryPhase.producedMs) / 1000)} s`);
    await waitUntil(
      'directory joins',
      async () =>
        (await caughtUp(importsTopic)) &&
        (await count(
          'select count(*) as n from repository_object where application_id = $1 and join_state is not null',
          [directory],
        )) >= N,
      async () =>
        `${thousands(await count('select count(*) as n from repository_object where application_id = $1 and join_state is not null', [directory]))} accounts decided`,
    );
    await waitUntil(
      'export queue',
      async () =>
        (await caughtUp(identityTopic)) &&
        (await count(
          "select count(*) as n from export_item where application_id = $1 and operation = 'create'",
          [saas],
        )) >= employees,
      async () =>
        `${thousands(await count('select count(*) as n from export_item where application_id = $1', [saas]))} exports`,
    );
    // Settled: every identity event the directory caused has been processed too (outbound runs with them),
    // and the outbox is empty (the outbound and log events of the load are on their topics); with the
    // logstream persisted, the audit consumer has stored everything on the logstream topic.
    await waitUntil(
      'settle',
      async () =>
        (await consumedOf(identityTopic)) >= (await topicEnd(identityTopic)) &&
        (await count('select count(*) as n from outbox')) === 0 &&
        (variant === 'without' || (await caughtUp(logstreamTopic))),
      async () =>
        `${thousands(await count('select count(*) as n from outbox'))} rows in the outbox, ${thousands((await topicEnd(logstreamTopic)) - (await consumedOf(logstreamTopic)))} logstream events not yet stored`,
    );
    const loadEnd = await mark();
    // Alongside: one clock from the first record produced. Before: the engine's two phases, each from its start.
    const loadMs = producedBefore
      ? identitiesAt + (performance.now() - directoryPhase.clockStart)
      : performance.now() - loadStart;
    const joins = await client.query<{ join_state: string; n: string }>(
      'select join_state, count(*) as n from repository_object where application_id = $1 group by 1 order by 1',
      [directory],
    );
    const joinCounts = Object.fromEntries(joins.rows.map((row) => [row.join_state, Number(row.n)]));
    const exportCount = await count('select count(*) as n from export_item where application_id = $1', [
      saas,
    ]);
    say(
      `initial load ${variant} the logstream persisted and a viewer: ${String(Math.round(loadMs / 100) / 10)} s ${producedBefore ? 'of engine time, input produced before each phase' : 'end to end, producer alongside'} (identities after ${String(Math.round(identitiesAt / 100) / 10)} s); joins ${JSON.stringify(joinCounts)}; ${thousands(exportCount)} exports queued (${thousands(employees)} employees); peak RSS ${String(mib(running().memory('VmHWM')))} MiB`,
    );
    const loadWork = work(
      [hrPhase.started, producedBefore ? identitiesMark : loadEnd],
      ...(producedBefore ? [[directoryPhase.started, loadEnd] as [Mark, Mark]] : []),
    );
    say(`  initial load work: ${describeWork(loadWork, N)}`);
    if (joinCounts.joined !== joinable)
      say(`  WARNING: ${String(joinCounts.joined)} joined, expected ${String(joinable)}`);
    // The proof: every event on the logstream topic stored once (with), and read by the viewer or told as
    // dropped to it; the viewer is given a bounded time to read what the hub still has for it.
    await viewerCaughtUp();
    const published = await topicEnd(logstreamTopic);
    const logstream = {
      eventsPublished: published,
      auditRows: await count('select count(*) as n from audit_event where tenant_id = $1', [tenantId]),
      ...(viewer === undefined ? {} : { viewer: { ...viewer.counts } }),
    };
    say(
      `  logstream: ${thousands(published)} events published (${(published / N).toFixed(1)} per HR record), ${thousands(logstream.auditRows)} stored in audit_event${viewer === undefined ? '' : `; the viewer received ${thousands(viewer.counts.events)} events, was told of ${thousands(viewer.counts.dropped)} dropped (${String(viewer.counts.dropNotices)} notices), ${thousands(published - viewer.counts.events - viewer.counts.dropped)} unaccounted for (${String(viewer.counts.missedNotices)} missed notices; the first event is never replayed), over ${String(viewer.counts.connections)} connections, ${thousands(Math.round(viewer.counts.bytes / 2 ** 20))} MiB`}`,
    );
    const loadAverageAfter = loadAverage();
    say(`  load average before ${loadAverageBefore}, after ${loadAverageAfter}`);
    const figures = {
      seconds: Math.round(loadMs / 100) / 10,
      identitiesAfterSeconds: Math.round(identitiesAt / 100) / 10,
      producedSeconds: Math.round((hrPhase.producedMs + directoryPhase.producedMs) / 100) / 10,
      joins: joinCounts,
      exportsQueued: exportCount,
      targetSeconds: 600,
      work: loadWork,
      logstream,
      loadAverage: { before: loadAverageBefore, after: loadAverageAfter },
    };
    return {
      database,
      client,
      tenantId,
      hr,
      saas,
      suffix,
      topics,
      importsTopic,
      identityTopic,
      outboundTopic,
      employees,
      exportCount,
      figures,
      viewer,
      worker,
      marker,
      mark,
      count,
      waitUntil,
      topicEnd,
      phase,
      stopEngine,
      /** Stops the engine and drops the tenant's database (kept with --keep); its topics go at the end. */
      async discard() {
        await stopEngine();
        viewer?.close();
        await client.end();
        if (!args.keep) await database.drop();
      },
    };
  };

  // 1. The initial load twice on identical input, each on a tenant, database and topics of its own: without
  // the logstream persisted and a viewer, then with them. The later phases run on the second.
  const without = await initialLoad('without');
  await without.discard();
  const loaded = await initialLoad('with');
  const slower = loaded.figures.seconds / without.figures.seconds;
  const cpuWith = loaded.figures.work.engine + loaded.figures.work.postgres + loaded.figures.work.kafka;
  const cpuWithout = without.figures.work.engine + without.figures.work.postgres + without.figures.work.kafka;
  say(
    `initial load without → with the logstream persisted and a viewer: ${String(without.figures.seconds)} s → ${String(loaded.figures.seconds)} s (${slower >= 1 ? '+' : ''}${((slower - 1) * 100).toFixed(1)}%, target within 10%); CPU of engine + PostgreSQL + Kafka ${cpuWithout.toFixed(1)} s → ${cpuWith.toFixed(1)} s (${((cpuWith / cpuWithout - 1) * 100).toFixed(1)}%); WAL ${thousands(Math.round(without.figures.work.walBytes / 2 ** 20))} → ${thousands(Math.round(loaded.figures.work.walBytes / 2 ** 20))} MiB`,
  );
  const { tenantId, hr, saas, employees, exportCount, worker, marker, mark, count, waitUntil, topicEnd } =
    loaded;
  const { importsTopic, identityTopic, outboundTopic, phase, suffix, database } = loaded;
  const producedBefore = args.producer === 'before';

  // 2. The same HR records again, as a full run: nothing changes, nothing is written past the repository.
  // The clock runs until the run is completed (with --producer before: from the engine's start, start-up
  // included).
  const versionsBefore = await count('select sum(version) as n from identity');
  const outboundBefore = await topicEnd(outboundTopic);
  const identityBefore = await topicEnd(identityTopic);
  const secondRun = randomUUID();
  const secondPhase = await phase(async () => {
    await producer.send({ topic: importsTopic, messages: [marker(hr, secondRun, 'started')] });
    await produceAll(producer, importsTopic, N, (i) => worker(i, secondRun));
    await producer.send({ topic: importsTopic, messages: [marker(hr, secondRun, 'completed', N)] });
  });
  const secondProduceMs = secondPhase.producedMs;
  const secondStart = secondPhase.clockStart;
  await waitUntil(
    'second run',
    async () =>
      (await count("select count(*) as n from import_run where run_id = $1 and status = 'completed'", [
        secondRun,
      ])) === 1,
    async () =>
      `${thousands(await count('select seen as n from import_run where run_id = $1', [secondRun]))} seen`,
  );
  const secondMs = performance.now() - secondStart;
  const reimportWork = work([secondPhase.started, await mark()]);
  await sleep(2000);
  const unchanged = {
    identityVersions: (await count('select sum(version) as n from identity')) - versionsBefore,
    identityEvents: (await topicEnd(identityTopic)) - identityBefore,
    outboundEvents: (await topicEnd(outboundTopic)) - outboundBefore,
    exports:
      (await count('select count(*) as n from export_item where application_id = $1', [saas])) - exportCount,
  };
  say(`  unchanged full import work: ${describeWork(reimportWork, N)}`);
  say(
    `unchanged full import: ${String(Math.round(secondMs / 100) / 10)} s for ${thousands(N)} records (${producedBefore ? 'engine time, start-up included; produced beforehand in' : 'producer alongside; producing took'} ${String(Math.round(secondProduceMs / 100) / 10)} s; raw consume ${String(Math.round((N / rawConsume) * 10) / 10)} s); writes past the repository: ${JSON.stringify(unchanged)}`,
  );

  // 3. A delta of changed records: from producing them to their updates in the export queue.
  const changed = Array.from({ length: N }, (_, i) => i)
    .filter((i) => !isContractor(i))
    .slice(0, DELTA);
  const deltaStart = performance.now();
  await producer.send({
    topic: importsTopic,
    messages: changed.map((i) => worker(i, undefined, 'Principal Engineer')),
  });
  await waitUntil(
    'delta exports',
    async () =>
      (await count(
        "select count(*) as n from export_item where application_id = $1 and operation = 'update'",
        [saas],
      )) >= changed.length,
    undefined,
    50,
  );
  const deltaMs = performance.now() - deltaStart;
  say(
    `delta: ${thousands(changed.length)} changed records in the export queue after ${String(Math.round(deltaMs))} ms`,
  );

  // 4. A plan change that reaches the identities already in the Vault (plan reconciliation): from
  // applying it to an update queued for every provisioned identity.
  const updatesBefore = await count(
    "select count(*) as n from export_item where application_id = $1 and operation = 'update'",
    [saas],
  );
  const planOrm = await openDatabase({ url: database.url, poolSize: 1, logger });
  const reconcileStart = performance.now();
  const reconcileMark = await mark();
  const reapplied = await applyPlan(planOrm.em, {
    tenantId,
    source: plan(suffix, `expression: 'identity.surname + ", " + identity.givenName'`),
    sourceName: 'bench.yaml',
    appliedBy: 'bench',
  });
  await planOrm.close();
  if (!reapplied.reconciles) throw new Error('the changed plan did not ask for a reconciliation');
  const reconciledIdentities = () =>
    count('select identities as n from plan_reconciliation where tenant_id = $1', [tenantId]);
  const reconcileUpdates = async () =>
    (await count("select count(*) as n from export_item where application_id = $1 and operation = 'update'", [
      saas,
    ])) - updatesBefore;
  await waitUntil(
    'plan reconciliation',
    async () =>
      (await count(
        'select count(*) as n from plan_reconciliation where tenant_id = $1 and completed_at is not null',
        [tenantId],
      )) === 1 && (await reconcileUpdates()) >= employees,
    async () =>
      `${thousands(await reconciledIdentities())} identities sent the plan, ${thousands(await reconcileUpdates())} updates queued`,
    2000,
  );
  const reconcileMs = performance.now() - reconcileStart;
  const reconcileWork = work([reconcileMark, await mark()]);
  const reconciled = await reconciledIdentities();
  say(
    `plan change: ${thousands(reconciled)} identities looked at again, ${thousands(employees)} updates queued after ${String(Math.round(reconcileMs / 100) / 10)} s (raw consume of as many messages ${String(Math.round((reconciled / rawConsume) * 10) / 10)} s)`,
  );

  say(`  plan change work: ${describeWork(reconcileWork, N)}`);
  await loaded.stopEngine();
  const logFile = join(tmpdir(), 'joinery-bench-engine-pipeline.log');
  writeFileSync(logFile, logs.join('\n'));
  say(`engine log: ${logFile}`);

  const result = {
    benchmark: 'engine-pipeline',
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
    records: N,
    partitions,
    producer: producedBefore
      ? 'before: each phase is produced while the engine is stopped; its clock starts with the engine (start-up included)'
      : 'alongside: produced while the engine runs; one clock from the first record',
    // The engine as it runs: the logstream persisted and a viewer connected.
    initialLoad: loaded.figures,
    // The same load, same input, same run, before it: what `without` means is in variants.without.
    initialLoadWithout: { ...without.figures, means: variants.without },
    initialLoadWithLogstreamRatio: Math.round(slower * 1000) / 1000,
    unchangedReimport: {
      seconds: Math.round(secondMs / 100) / 10,
      producedSeconds: Math.round(secondProduceMs / 100) / 10,
      writesPastRepository: unchanged,
      targetSeconds: 60,
      work: reimportWork,
    },
    delta: { records: changed.length, milliseconds: Math.round(deltaMs), targetMilliseconds: 5000 },
    planChange: {
      identitiesReconciled: reconciled,
      updatesQueued: employees,
      seconds: Math.round(reconcileMs / 100) / 10,
      work: reconcileWork,
    },
    peakRssMiB: peakRss,
    raw: {
      produceMessagesPerSecond: rawProduce,
      consumeMessagesPerSecond: rawConsume,
      // Reading (and, alongside, producing) the input and nothing else: the floor under each figure.
      initialLoadInputSeconds:
        Math.round(((producedBefore ? 0 : (2 * N) / rawProduce) + (2 * N) / rawConsume) * 10) / 10,
      reimportSeconds: Math.round(((producedBefore ? 0 : N / rawProduce) + N / rawConsume) * 10) / 10,
    },
  };
  console.log(JSON.stringify(result, null, 2));
  printBeside(previousBenchmark('engine-pipeline', N), result);
  recordBenchmark('engine-pipeline', N, result);

  await loaded.discard();
  // Only now: the producer asks for the metadata of every topic it sent to, a deleted one included.
  await producer.disconnect();
  for (const prefix of [rawPrefix, without.topics.topicPrefix, loaded.topics.topicPrefix])
    await deleteTopics(prefix);
  await admin.disconnect();
}

/** This run's four figures beside the last recorded run of the same size (its commit and date), one line each. */
function printBeside(
  previous: Record<string, unknown> | undefined,
  current: {
    commit?: string;
    initialLoad: { seconds: number };
    unchangedReimport: { seconds: number };
    delta: { milliseconds: number };
    planChange: { seconds: number };
  },
): void {
  if (previous === undefined) return;
  const before = previous as unknown as typeof current & { at: string };
  say(`beside the last recorded run at this size (${before.commit ?? '?'}, ${before.at}):`);
  const line = (label: string, was: number, now: number, unit: string) => {
    say(
      `  ${label.padEnd(22)} ${String(was).padStart(8)} ${unit} → ${String(now).padStart(8)} ${unit} (${now >= was ? '+' : ''}${String(Math.round(((now - was) / was) * 1000) / 10)}%)`,
    );
  };
  line('initial load', before.initialLoad.seconds, current.initialLoad.seconds, 's');
  line('unchanged re-import', before.unchangedReimport.seconds, current.unchangedReimport.seconds, 's');
  line('delta', before.delta.milliseconds, current.delta.milliseconds, 'ms');
  line('plan change', before.planChange.seconds, current.planChange.seconds, 's');
}

await main();
