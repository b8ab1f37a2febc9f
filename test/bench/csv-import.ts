// The HR file import (src/connectors/): a generated CSV of N rows (default 1,000,000: quoted fields with
// commas, unicode, dates to rewrite) read by the CSV reader, then imported as a full run onto a real Kafka
// topic — rows per second and the process's peak RSS, beside the raw limits of the same run: reading the
// file's bytes, csv-parse alone on them, and producing pre-built messages of the same size to Kafka — and
// then end to end: the engine running, the file imported under a real application until its run completes
// with every row in the Application Repository (the target: within 3x of csv-parse alone).
//
//   npm run bench:csv -- [--rows 1000000]
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse';
import { createLogger } from '../../kernel/logger.ts';
import { readCsv } from '../../src/connectors/csv/csv-reader.ts';
import { importFile } from '../../src/connectors/file-import.ts';
import { createInfraService } from '../../src/infra/stack.ts';
import type { ApplicationPlan } from '../../src/plan/plan.schema.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { createKafkaClient } from '../../streams/kafka-client.ts';
import { ensureTopics, topicName, type TopicSettings } from '../../streams/topics.ts';
import { createTestDatabase } from '../support/database.ts';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import {
  mib,
  previousBenchmark,
  rate,
  recordBenchmark,
  say,
  sleep,
  spawnEngine,
  thousands,
} from './bench-support.ts';

const argument = (name: string): string | undefined => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? undefined : process.argv[index + 1];
};
const ROWS = Number(argument('rows') ?? 1_000_000);
const logger = createLogger({ level: 'warn' });

const application: ApplicationPlan = {
  name: 'hr',
  type: 'csv',
  createsIdentities: true,
  objectClasses: {
    worker: { attributes: { WorkerID: {}, FirstName: {}, LastName: {}, HireDate: {} } },
  },
  csv: {
    externalId: 'WorkerID',
    columns: {
      'Employee Number': 'WorkerID',
      'First Name': 'FirstName',
      'Last Name': 'LastName',
      'Hire Date': 'HireDate',
    },
    dates: { HireDate: 'dd/MM/yyyy' },
  },
};

async function writeFile(file: string): Promise<void> {
  const out = createWriteStream(file);
  out.write('Employee Number,First Name,Last Name,Hire Date,Cost Centre\n');
  for (let i = 0; i < ROWS; i++) {
    const line = `${String(i).padStart(7, '0')},"Fïrst ${String(i)}","Last, ${String(i % 977)}",${String(1 + (i % 28)).padStart(2, '0')}/${String(1 + (i % 12)).padStart(2, '0')}/20${String(10 + (i % 15))},CC${String(i % 50)}\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 50);

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { ms: performance.now() - started, value };
}

let repository:
  { rowsPerSecond: number; seconds: number; engineRssMiB: number; rawCopyRowsPerSecond: number } | undefined;

async function main(): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'joinery-csv-bench-'));
  const file = join(directory, 'hr.csv');
  await writeFile(file);
  const bytes = statSync(file).size;
  say(`${thousands(ROWS)} rows, ${thousands(Math.round(bytes / 2 ** 20))} MiB`);

  // Raw limits: the bytes, then csv-parse alone on them.
  const readBytes = await timed(async () => {
    let total = 0;
    for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) total += chunk.length;
    return total;
  });
  const parseOnly = await timed(async () => {
    let records = 0;
    for await (const record of createReadStream(file).pipe(parse({ bom: true })) as AsyncIterable<unknown>) {
      if (record !== undefined) records++;
    }
    return records;
  });
  peakRss = 0;
  const reader = await timed(async () => {
    let rows = 0;
    for await (const record of readCsv(createReadStream(file) as AsyncIterable<Buffer>, {
      settings: application.csv ?? { externalId: 'WorkerID' },
      attributes: ['WorkerID', 'FirstName', 'LastName', 'HireDate'],
    }))
      if (record.kind === 'row') rows++;
    return rows;
  });
  const readerRss = peakRss;
  say(
    `raw: read ${thousands(rate(readBytes.value, readBytes.ms) >> 20)} MiB/s; csv-parse alone ${thousands(rate(parseOnly.value, parseOnly.ms))} rows/s`,
  );
  say(
    `CSV reader (decode, parse, map, dates): ${thousands(rate(reader.value, reader.ms))} rows/s, peak RSS ${String(mib(readerRss / 1024))} MiB`,
  );

  // Onto Kafka: a real topic, as `joinery import` sends it.
  for (const name of ['postgres', 'kafka'] as const) await (await createInfraService(name)).up();
  const brokers = [(await (await createInfraService('kafka')).status()).endpoint];
  const database = await createTestDatabase();
  const orm = await openDatabase({ url: database.url, poolSize: 2, logger });
  await migrate(orm);
  const { tenantId } = await createTenant(orm.em, { tenant: 'bench' });
  const applicationId = randomUUID();
  const topics: TopicSettings = {
    topicPrefix: `csvbench-${randomUUID().slice(0, 8)}.`,
    partitions: 12,
    replicationFactor: 1,
  };
  const kafka = createKafkaClient({ brokers, clientId: 'joinery-bench', logger });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topics);

  // Raw: the same number of messages of the same size, built beforehand, produced in batches of 500.
  const sample = JSON.stringify({
    tenantId,
    applicationId,
    objectClass: 'worker',
    externalId: '0000001',
    operation: 'upsert',
    attributes: { WorkerID: '0000001', FirstName: 'Fïrst 1', LastName: 'Last, 1', HireDate: '2010-02-02' },
    observedAt: new Date().toISOString(),
    runId: randomUUID(),
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const raw = await timed(async () => {
    const topic = topicName(topics, 'imports');
    const value = Buffer.from(sample);
    for (let sent = 0; sent < ROWS; sent += 500) {
      const messages = Array.from({ length: Math.min(500, ROWS - sent) }, (_, i) => ({
        key: `${applicationId}:${String(sent + i)}`,
        value,
      }));
      await producer.send({ topic, messages });
    }
    return ROWS;
  });
  await producer.disconnect();
  say(`raw: produce ${thousands(rate(raw.value, raw.ms))} msg/s (pre-built, 500 per send, acks all)`);

  peakRss = 0;
  const imported = await timed(() =>
    importFile(
      { em: orm.em, bus: kafka, topicPrefix: topics.topicPrefix, logger, source: '/joinery/bench' },
      {
        tenantId,
        application: { id: applicationId, plan: application },
        file: createReadStream(file) as AsyncIterable<Buffer>,
      },
    ),
  );
  say(
    `file import onto Kafka: ${thousands(imported.value.objects)} objects in ${(imported.ms / 1000).toFixed(1)} s = ${thousands(rate(imported.value.objects, imported.ms))} rows/s, peak RSS ${String(mib(peakRss / 1024))} MiB`,
  );

  // End to end, as a user sees it: the engine running (`joinery start`), the file imported under a real
  // application, until its run is completed — every row stored in the Application Repository. On topics of
  // its own: the engine must not first work through the raw messages and the import above.
  const engineTopics: TopicSettings = { ...topics, topicPrefix: `csvbench-${randomUUID().slice(0, 8)}.` };
  await ensureTopics(admin, engineTopics);
  const applied = await applyPlan(orm.em, {
    tenantId,
    sourceName: 'bench-plan.yaml',
    appliedBy: 'bench',
    source: JSON.stringify({
      version: 1,
      vault: { attributes: { employeeId: {} } },
      // The Application Repository alone: no identities made from the rows (bench:engine measures those).
      applications: [{ ...application, createsIdentities: false }],
    }),
  });
  const hrId = applied.applications.find((candidate) => candidate.name === 'hr')?.id ?? '';
  const engine = spawnEngine({
    databaseUrl: database.url,
    brokers,
    topicPrefix: engineTopics.topicPrefix,
    partitions: 12,
    ...(process.env.BENCH_PROFILE_DIR === undefined ? {} : { profileDir: process.env.BENCH_PROFILE_DIR }),
  });
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    while (!engine.log().includes('Joinery is listening')) {
      if (engine.process.exitCode !== null)
        throw new Error(`the engine exited: ${engine.log().slice(-2000)}`);
      await sleep(200);
    }
    let runId = '';
    const importStarted = performance.now();
    let firstStoredMs: number | undefined;
    let sentMs: number | undefined;
    // The first rows stored, watched from the start of the import (the engine stores while the file is sent).
    const watching = { on: true };
    const firstRows = (async () => {
      const watcher = new pg.Client({ connectionString: database.url });
      await watcher.connect();
      try {
        while (firstStoredMs === undefined && watching.on) {
          const { rows } = await watcher.query<{ stored: boolean }>(
            'select exists (select 1 from repository_object where application_id = $1) as stored',
            [hrId],
          );
          if (rows[0]?.stored === true) firstStoredMs = performance.now();
          else await sleep(50);
        }
      } finally {
        await watcher.end();
      }
    })();
    const endToEnd = await timed(async () => {
      const sent = await importFile(
        { em: orm.em, bus: kafka, topicPrefix: engineTopics.topicPrefix, logger, source: '/joinery/bench' },
        {
          tenantId,
          application: { id: hrId, plan: application },
          file: createReadStream(file) as AsyncIterable<Buffer>,
        },
      );
      runId = sent.runId;
      sentMs = performance.now();
      let last = performance.now();
      for (;;) {
        const { rows } = await client.query<{ status: string; seen: number }>(
          'select status, seen from import_run where run_id = $1',
          [sent.runId],
        );
        if (rows[0]?.status === 'completed') return rows[0].seen;
        if (performance.now() - last > 15_000) {
          last = performance.now();
          say(`  run ${rows[0]?.status ?? '?'}: ${thousands(rows[0]?.seen ?? 0)} rows stored`);
        }
        await sleep(250);
      }
    });
    watching.on = false;
    await firstRows;
    const stored = Number(
      (
        await client.query<{ n: string }>(
          'select count(*) as n from repository_object where application_id = $1',
          [hrId],
        )
      ).rows[0]?.n ?? 0,
    );
    say(
      `file import to the Application Repository (engine running, run ${runId} completed): ${thousands(stored)} rows in ${(endToEnd.ms / 1000).toFixed(1)} s = ${thousands(rate(stored, endToEnd.ms))} rows/s = csv-parse alone ÷ ${(rate(parseOnly.value, parseOnly.ms) / rate(stored, endToEnd.ms)).toFixed(1)}, engine peak RSS ${String(mib(engine.memory('VmHWM')))} MiB`,
    );
    const firstStored = ((firstStoredMs ?? importStarted) - importStarted) / 1000;
    const steadyRate = rate(stored, endToEnd.ms - firstStored * 1000);
    say(
      `  the first rows stored after ${firstStored.toFixed(1)} s; the file sent to Kafka after ${(((sentMs ?? importStarted) - importStarted) / 1000).toFixed(1)} s (beside the engine); from the first rows on ${thousands(steadyRate)} rows/s`,
    );
    const engineRssMiB = mib(engine.memory('VmHWM'));
    await engine.stop();
    // Raw: the very rows the engine stored, COPYed into a table shaped like the repository (its indexes
    // included), with nothing else running — what PostgreSQL alone takes to store them on this machine.
    const copied: Buffer[] = [];
    await pipeline(
      client.query(
        copyTo(`copy (select * from repository_object where application_id = '${hrId}') to stdout`),
      ),
      async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) copied.push(chunk);
      },
    );
    await client.query('create table bench_repository (like repository_object including all)');
    const copy = await timed(async () => {
      await pipeline(Readable.from(copied), client.query(copyFrom('copy bench_repository from stdin')));
      return stored;
    });
    await client.query('drop table bench_repository');
    say(
      `raw: COPY of the same ${thousands(stored)} rows into a table shaped like the repository: ${thousands(rate(stored, copy.ms))} rows/s (the engine at ${(rate(stored, copy.ms) / rate(stored, endToEnd.ms)).toFixed(1)}x its time)`,
    );
    repository = {
      rowsPerSecond: rate(stored, endToEnd.ms),
      seconds: Math.round(endToEnd.ms / 100) / 10,
      engineRssMiB,
      rawCopyRowsPerSecond: rate(stored, copy.ms),
    };
  } finally {
    await client.end();
    await engine.stop();
  }

  const result = {
    benchmark: 'csv-import',
    records: ROWS,
    at: new Date().toISOString(),
    fileMiB: Math.round(bytes / 2 ** 20),
    raw: {
      readMiBPerSecond: rate(readBytes.value, readBytes.ms) >> 20,
      csvParseRowsPerSecond: rate(parseOnly.value, parseOnly.ms),
      produceMessagesPerSecond: rate(raw.value, raw.ms),
    },
    reader: { rowsPerSecond: rate(reader.value, reader.ms), peakRssMiB: mib(readerRss / 1024) },
    import: {
      rowsPerSecond: rate(imported.value.objects, imported.ms),
      seconds: Math.round(imported.ms / 100) / 10,
      peakRssMiB: mib(peakRss / 1024),
    },
    repository,
  };
  const before = previousBenchmark('csv-import', ROWS) as typeof result | undefined;
  if (before !== undefined)
    say(
      `beside the last run (${before.at}): import ${thousands(before.import.rowsPerSecond)} → ${thousands(result.import.rowsPerSecond)} rows/s, peak RSS ${String(before.import.peakRssMiB)} → ${String(result.import.peakRssMiB)} MiB`,
    );
  recordBenchmark('csv-import', ROWS, result);
  clearInterval(sampler);
  await admin.disconnect();
  await orm.close();
  await database.drop();
  rmSync(directory, { recursive: true, force: true });
}

await main();
