// npm run bench: N identities' events through the real Kafka + PostgreSQL engine (a `joinery start`
// child process), with the raw limit measured beside it on the same data in the same run: producing and
// consuming the same messages with no processing, and COPYing the same rows into PostgreSQL.
//
//   npm run bench                       # 1,000,000 identities
//   npm run bench -- --identities 100000
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { Message } from 'kafkajs';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { createIdentity, persistIdentity, stepIdentity } from '../../actors/identity.machine.ts';
import type { IdentityEvent } from '../../kernel/contracts/identity-events.ts';
import { createInfraService } from '../../src/infra/stack.ts';
import { projectRoot, run } from '../../src/infra/process.ts';
import { encodeMessage } from '../../streams/cloudevents.ts';
import { createKafkaClient } from '../../streams/kafka-client.ts';
import { ensureTopics, topicName, type TopicSettings } from '../../streams/topics.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { createLogger } from '../../kernel/logger.ts';
import { createTestDatabase } from '../support/database.ts';
import { mib, produceAll, rate, recordBenchmark, say, sleep, spawnEngine } from './bench-support.ts';

const { values: args } = parseArgs({
  options: {
    identities: { type: 'string', default: '1000000' },
    partitions: { type: 'string', default: '12' },
    'pulse-rate': { type: 'string', default: '20' },
    keep: { type: 'boolean', default: false },
    profile: { type: 'string' },
  },
});
const N = Number(args.identities);
const WARM = 1000;
const partitions = Number(args.partitions);
const pulseRate = Number(args['pulse-rate']);
const logger = createLogger({ level: 'warn' });
const applicationId = '5b0c6c52-8a55-4a36-9f43-6c0d0f2a2b10';

async function main(): Promise<void> {
  for (const name of ['postgres', 'kafka'] as const) await (await createInfraService(name)).up();
  const kafkaService = await createInfraService('kafka');
  const brokers = [(await kafkaService.status()).endpoint];
  const database = await createTestDatabase();
  const orm = await openDatabase({ url: database.url, poolSize: 4, logger });
  await migrate(orm);
  const { tenantId } = await createTenant(orm.em, { tenant: 'bench' });
  await orm.close();
  const topics: TopicSettings = {
    topicPrefix: `bench-${randomUUID().slice(0, 8)}.`,
    partitions,
    replicationFactor: 1,
  };
  const kafka = createKafkaClient({ brokers, clientId: 'joinery-bench', logger });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topics);
  const identityTopic = topicName(topics, 'identity');
  say(
    `${N.toLocaleString('en')} identities, ${String(partitions)} partitions, ${String(cpus().length)} cores, ${String(Math.round(totalmem() / 2 ** 30))} GiB`,
  );

  // The data: one inbound event per identity (what a first import of a directory produces).
  const warm = Array.from({ length: WARM }, () => randomUUID());
  const ids = Array.from({ length: N }, () => randomUUID());
  const at = new Date().toISOString();
  const message = (identityId: string, index: number): Message =>
    encodeMessage({
      id: `bench-${identityId}`,
      type: 'joinery.identity.event.v1',
      source: '/bench',
      time: at,
      tenantId,
      data: {
        tenantId,
        identityId,
        event: {
          type: 'inbound.changed',
          at,
          source: { applicationId, externalId: `E${String(index)}` },
          attributes: {
            employeeNumber: `E${String(index)}`,
            mail: `person${String(index)}@example.com`,
            givenName: 'Given',
            sn: `Surname${String(index)}`,
            title: 'Engineer',
          },
        },
      },
    });

  // 1. Produce (the raw limit's first half, and the engine's input).
  const producer = kafka.producer();
  await producer.connect();
  await produceAll(producer, identityTopic, WARM, (index) => message(warm[index] ?? '', N + index));
  let started = performance.now();
  await produceAll(
    producer,
    identityTopic,
    N,
    (index) => message(ids[index] ?? '', index),
    (done) => {
      if (done % 200_000 === 0) say(`produced ${done.toLocaleString('en')}`);
    },
  );
  const produceMs = performance.now() - started;
  say(`raw produce: ${rate(N, produceMs).toLocaleString('en')} messages/s`);

  // 2. Consume the same messages with no processing.
  started = performance.now();
  const consumer = kafka.consumer({
    groupId: `bench-raw-${randomUUID()}`,
    maxBytesPerPartition: 4 * 1024 * 1024,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: identityTopic, fromBeginning: true });
  let consumed = 0;
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachBatch: async ({ batch }) => {
        consumed += batch.messages.length;
        if (consumed >= N + WARM) resolve();
      },
    });
  });
  const consumeMs = performance.now() - started;
  await consumer.disconnect();
  say(`raw consume: ${rate(N + WARM, consumeMs).toLocaleString('en')} messages/s`);

  // 3. COPY the same rows (the snapshots the engine will write, built beforehand) into a table shaped
  //    like identity (same primary key): the database's raw write limit, without our processing.
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  await client.query('create table bench_copy (like identity including all)');
  const chunks: string[] = [];
  for (let start = 0; start < N; start += 10_000) {
    let chunk = '';
    for (let index = start; index < Math.min(N, start + 10_000); index++) {
      const id = ids[index] ?? '';
      const event = JSON.parse((message(id, index).value as Buffer).toString()) as { event: IdentityEvent };
      const snapshot = stepIdentity(
        createIdentity({ tenantId, identityId: id }).snapshot,
        event.event,
      ).snapshot;
      const json = JSON.stringify(persistIdentity(snapshot)).replaceAll('\\', '\\\\');
      chunk += `${id}\t${tenantId}\t1\tactive\t${json}\t${at}\t${at}\n`;
    }
    chunks.push(chunk);
  }
  started = performance.now();
  await pipeline(Readable.from(chunks), client.query(copyFrom('copy bench_copy from stdin')));
  const copyMs = performance.now() - started;
  chunks.length = 0;
  await client.query('drop table bench_copy');
  say(`raw COPY of the same snapshots: ${rate(N, copyMs).toLocaleString('en')} rows/s`);

  // 4. The engine, as a user runs it.
  const engine = spawnEngine({
    databaseUrl: database.url,
    brokers,
    topicPrefix: topics.topicPrefix,
    partitions,
    ...(args.profile === undefined ? {} : { profileDir: args.profile }),
  });
  const memory = (field: 'VmRSS' | 'VmHWM'): number => engine.memory(field);
  const processed = async (): Promise<number> =>
    Number(
      (
        await client.query<{ done: string }>(
          'select coalesce(sum(next_offset), 0) as done from stream_offset where topic = $1',
          [identityTopic],
        )
      ).rows[0]?.done,
    );

  while ((await processed()) < WARM) await sleep(100);
  say('engine up, warm-up identities created; bulk load and pulses start');
  const bulkStart = performance.now();
  let pulsesSent = 0;
  const pulsing = { on: true };
  const pulses = (async () => {
    while (pulsing.on) {
      const identityId = warm[pulsesSent % WARM] ?? '';
      const type = Math.floor(pulsesSent / WARM) % 2 === 0 ? 'pulse.disable' : 'pulse.enable';
      const now = new Date().toISOString();
      await producer.send({
        topic: topicName(topics, 'pulses'),
        messages: [
          encodeMessage({
            id: randomUUID(),
            type: 'joinery.pulse.v1',
            source: '/bench',
            time: now,
            tenantId,
            data: {
              tenantId,
              identityId,
              event: {
                type,
                at: now,
                source: { applicationId, externalId: `E${String(N + (pulsesSent % WARM))}` },
              },
            },
          }),
        ],
      });
      pulsesSent++;
      await sleep(1000 / pulseRate);
    }
  })();

  let rssAt100k = 0;
  let lastReport = performance.now();
  for (;;) {
    const done = (await processed()) - WARM;
    if (rssAt100k === 0 && done >= 100_000) rssAt100k = memory('VmRSS');
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      say(
        `engine: ${done.toLocaleString('en')} / ${N.toLocaleString('en')} (${rate(done, performance.now() - bulkStart).toLocaleString('en')}/s), RSS ${String(mib(memory('VmRSS')))} MiB`,
      );
    }
    if (done >= N) break;
    await sleep(200);
  }
  const bulkMs = performance.now() - bulkStart;
  const rssAtEnd = memory('VmRSS');
  const peakRss = memory('VmHWM');
  pulsing.on = false;
  await pulses;
  await sleep(500);
  await engine.stop();
  const engineLog = engine.log();
  const engineLogFile = join(tmpdir(), 'joinery-bench-engine.log');
  writeFileSync(engineLogFile, engineLog);
  say(`engine log: ${engineLogFile}`);
  const stopped = engineLog
    .split('\n')
    .filter((line) => line.includes('"engine stopped"'))
    .map(
      (line) =>
        JSON.parse(line) as { pulseLatencyMs: { count: number; p50: number; p99: number; max: number } },
    )
    .at(-1);

  const identitiesPerSecond = rate(N, bulkMs);
  // The same I/O with no processing, one identity after another on the same machine: consume its event,
  // COPY its row, produce its effect messages (an outbound change and a logstream event).
  const effectsPerIdentity = 2;
  const rawLimit = Math.round(
    1 / (1 / rate(N + WARM, consumeMs) + 1 / rate(N, copyMs) + effectsPerIdentity / rate(N, produceMs)),
  );
  const result = {
    benchmark: 'actor-runtime',
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
    identities: N,
    partitions,
    engine: {
      seconds: Math.round(bulkMs / 100) / 10,
      identitiesPerSecond,
      peakRssMiB: mib(peakRss),
      rssAt100kMiB: mib(rssAt100k),
      rssAtEndMiB: mib(rssAtEnd),
      pulses: pulsesSent,
      pulseLatencyMs: stopped?.pulseLatencyMs,
    },
    raw: {
      produceMessagesPerSecond: rate(N, produceMs),
      consumeMessagesPerSecond: rate(N + WARM, consumeMs),
      copyRowsPerSecond: rate(N, copyMs),
      effectMessagesPerIdentity: effectsPerIdentity,
      limitPerSecond: rawLimit,
      limitFormula: '1 / (1/consume + 1/copy + effectMessagesPerIdentity/produce)',
    },
    engineVsRawLimit: Math.round((rawLimit / identitiesPerSecond) * 10) / 10,
  };
  console.log(JSON.stringify(result, null, 2));
  say(
    `engine ${identitiesPerSecond.toLocaleString('en')} identities/s (${String(result.engine.seconds)} s) vs raw limit ${rawLimit.toLocaleString('en')}/s ` +
      `(consume ${result.raw.consumeMessagesPerSecond.toLocaleString('en')}/s + COPY ${result.raw.copyRowsPerSecond.toLocaleString('en')}/s + ` +
      `produce ${String(effectsPerIdentity)} x ${result.raw.produceMessagesPerSecond.toLocaleString('en')}/s): ${String(result.engineVsRawLimit)}x`,
  );
  say(
    `pulse latency p50 ${String(stopped?.pulseLatencyMs.p50 ?? '?')} ms, p99 ${String(stopped?.pulseLatencyMs.p99 ?? '?')} ms over ${String(stopped?.pulseLatencyMs.count ?? 0)} pulses; ` +
      `peak RSS ${String(result.engine.peakRssMiB)} MiB (at 100k: ${String(result.engine.rssAt100kMiB)} MiB, at end: ${String(result.engine.rssAtEndMiB)} MiB)`,
  );
  recordBenchmark('actor-runtime', N, result);

  await client.end();
  await producer.disconnect();
  await admin.deleteTopics({
    topics: (await admin.listTopics()).filter((t) => t.startsWith(topics.topicPrefix)),
  });
  await admin.disconnect();
  if (!args.keep) await database.drop();
}

await main();
