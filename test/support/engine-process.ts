// Engine processes as a user runs them (`joinery start` in a child process), to kill and restart, and
// the ledger that checks every expected effect happened exactly once.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { BusMessage } from '../../streams/bus.ts';
import { expect } from 'vitest';
import { engineNodeFlags, projectRoot } from '../../src/infra/process.ts';
import { topicOffsets } from './topic-ends.ts';
import {
  header,
  identityMessage,
  inbound,
  query,
  readTopic,
  waitFor,
  type StreamsFixture,
} from './streams.ts';

export interface EngineProcess {
  child: ChildProcess;
  /** Resolves once the service is up: engine consuming, API listening. */
  started: Promise<void>;
  exited: Promise<number | null>;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function startEngineProcess(fixture: StreamsFixture, env: Record<string, string> = {}): EngineProcess {
  const child = spawn(process.execPath, [...engineNodeFlags, join(projectRoot, 'src/cli/main.ts'), 'start'], {
    cwd: tmpdir(),
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      DATABASE_URL: fixture.database.url,
      ...(fixture.busKind === 'kafka' ? { KAFKA_BROKERS: fixture.brokers.join(',') } : {}),
      JOINERY_TOPIC_PREFIX: fixture.topics.topicPrefix,
      JOINERY_KAFKA_PARTITIONS: String(fixture.topics.partitions),
      JOINERY_ENGINE_GROUP_ID: fixture.groupId,
      JOINERY_ENGINE_SESSION_TIMEOUT_MS: '6000',
      JOINERY_HTTP_PORT: '0',
      JOINERY_LOG_LEVEL: 'info',
      ...env,
    },
  });
  let output = '';
  let markStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const collect = (chunk: Buffer): void => {
    output += chunk.toString();
    if (output.includes('Joinery is listening')) markStarted();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  return {
    child,
    started,
    exited,
    output: () => output,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/**
 * Produces `seqs` consecutive inbound events (attributes.seq = from..from+count-1) for each identity,
 * interleaved across identities as a real feed would be.
 */
export async function produceWave(
  fixture: StreamsFixture,
  identities: string[],
  from: number,
  count: number,
): Promise<number> {
  const messages = [];
  for (let seq = from; seq < from + count; seq++) {
    for (const id of identities) {
      messages.push(identityMessage(fixture.tenantId, id, inbound({ seq }, { externalId: id })));
    }
  }
  for (let start = 0; start < messages.length; start += 500) {
    await fixture.send('identity', messages.slice(start, start + 500));
  }
  return messages.length;
}

/**
 * Waits until the engine's committed offsets in PostgreSQL cover every message produced to `identity` and
 * its outbox is empty; on timeout the error says how far it got.
 */
export async function waitUntilConsumed(fixture: StreamsFixture, timeoutMs = 60_000): Promise<void> {
  const total = await producedTo(fixture, fixture.topic('identity'));
  let progress = 'nothing measured yet';
  try {
    await waitFor(
      `the engine to consume all ${String(total)} messages`,
      async () => {
        const [row] = await query<{ done: string }>(
          fixture.database.url,
          'select coalesce(sum(next_offset), 0) as done from stream_offset where group_id = $1 and topic = $2',
          [fixture.groupId, fixture.topic('identity')],
        );
        const [outbox] = await query<{ pending: string }>(
          fixture.database.url,
          'select count(*) as pending from outbox',
        );
        progress = `${String(row?.done)} consumed, ${String(outbox?.pending)} still in the outbox`;
        return Number(row?.done) === total && Number(outbox?.pending) === 0 ? true : undefined;
      },
      timeoutMs,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message} (${progress})`, { cause: error });
  }
}

/** How many messages a topic holds, summed over its partitions (its high watermarks). */
async function producedTo(fixture: StreamsFixture, topic: string): Promise<number> {
  if (fixture.busKind === 'embedded') {
    const [row] = await query<{ total: string }>(
      fixture.database.url,
      'select coalesce(sum(next_offset), 0) as total from bus_partition where topic = $1',
      [topic],
    );
    return Number(row?.total);
  }
  const admin = fixture.kafka.admin();
  await admin.connect();
  try {
    const ends = await topicOffsets(admin, topic);
    return ends.reduce((sum, partition) => sum + Number(partition.high), 0);
  } finally {
    await admin.disconnect();
  }
}

export interface LedgerReport {
  effects: number;
  /** The same effect (same ce_id) published more than once by a relay that crashed mid-publish. */
  redeliveries: number;
}

/**
 * The ledger: each identity received seq 1..seqs; its actor must have applied each exactly once, in
 * order: one `create` (seq 1), then one `update` per later seq, and a final snapshot at seq = seqs.
 */
export async function verifyLedger(
  fixture: StreamsFixture,
  identities: string[],
  seqs: number,
): Promise<LedgerReport> {
  const expected = identities.length * seqs;
  const byId = new Map<string, BusMessage>();
  let seen = 0;
  await readTopic(fixture.bus, fixture.topic('outbound'), (messages) => {
    for (; seen < messages.length; seen++) {
      const message = messages[seen];
      if (message !== undefined) byId.set(header(message, 'ce_id') ?? randomUUID(), message);
    }
    return byId.size >= expected;
  });
  const perIdentity = new Map<string, number[]>();
  for (const message of byId.values()) {
    const data = JSON.parse(message.value?.toString() ?? '{}') as {
      identityId: string;
      attributes?: { seq?: number };
    };
    const list = perIdentity.get(data.identityId) ?? [];
    list.push(data.attributes?.seq ?? -1);
    perIdentity.set(data.identityId, list);
  }
  const sequence = Array.from({ length: seqs }, (_, index) => index + 1);
  for (const id of identities) expect(perIdentity.get(id), `effects of identity ${id}`).toEqual(sequence);
  expect(byId.size).toBe(expected);

  const rows = await query<{ id: string; seq: number }>(
    fixture.database.url,
    `select id, (snapshot->'context'->'attributes'->>'seq')::int as seq from identity where id = any($1::uuid[])`,
    [identities],
  );
  expect(rows).toHaveLength(identities.length);
  for (const row of rows) expect(row.seq).toBe(seqs);
  return { effects: byId.size, redeliveries: seen - byId.size };
}

export function newIdentities(count: number): string[] {
  return Array.from({ length: count }, () => randomUUID());
}
