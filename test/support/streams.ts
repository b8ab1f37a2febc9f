// Builders for engine tests: a migrated database with a tenant, topics under a prefix of their own on the
// real broker, and small helpers to produce identity events and read what the engine published.
import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Kafka, Message, Producer } from 'kafkajs';
import type { Bus, BusMessage } from '../../streams/bus.ts';
import { createEmbeddedBus } from '../../streams/embedded-bus.ts';
import pg from 'pg';
import type { IdentityEvent } from '../../kernel/contracts/identity-events.ts';
import { createKafka } from '../../src/infra/kafka.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { encodeMessage } from '../../streams/cloudevents.ts';
import { createKafkaClient } from '../../streams/kafka-client.ts';
import { startEngine, type Engine } from '../../src/runtime/engine-runtime.ts';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { ensureTopics, topicName, type TopicSettings } from '../../streams/topics.ts';
import type { TopicId } from '../../kernel/contracts/messages.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { silentLogger, uniqueName } from './factories.ts';
import type { Logger } from 'pino';

export type BusKind = 'kafka' | 'embedded';

export interface StreamsFixture {
  database: TestDatabase;
  orm: MikroORM;
  /** Which bus the engine under test runs on. */
  busKind: BusKind;
  bus: Bus;
  /** The Kafka client (for Kafka-only checks such as group assignments). */
  kafka: Kafka;
  brokers: string[];
  producer: Producer;
  tenantId: string;
  /** The tenant's first service account's API key. */
  apiKey: string;
  topics: TopicSettings;
  groupId: string;
  topic(id: TopicId): string;
  /** Produces to a topic of the fixture's bus. */
  send(id: TopicId, messages: Message[]): Promise<void>;
  close(): Promise<void>;
}

export async function createStreamsFixture(
  options: {
    brokers?: string[];
    partitions?: number;
    bus?: BusKind;
    /** Where the Kafka client logs (silent by default). */
    logger?: Logger;
  } = {},
): Promise<StreamsFixture> {
  const database = await createTestDatabase({ migrated: true });
  const orm = await openDatabase({ url: database.url, poolSize: 6, logger: silentLogger });
  await migrate(orm);
  const { tenantId, apiKey } = await createTenant(orm.em, { tenant: uniqueName('tenant') });
  const brokers = options.brokers ?? createKafka().brokers;
  const kafka = createKafkaClient({
    brokers,
    clientId: 'joinery-test',
    logger: options.logger ?? silentLogger,
  });
  const topics: TopicSettings = {
    topicPrefix: `${uniqueName('test')}.`,
    partitions: options.partitions ?? 6,
    replicationFactor: 1,
  };
  const busKind = options.bus ?? 'kafka';
  const bus: Bus = busKind === 'kafka' ? kafka : createEmbeddedBus({ em: orm.em, logger: silentLogger });
  const admin = bus.admin();
  await admin.connect();
  await ensureTopics(admin, topics);
  await admin.disconnect();
  // Idempotent: a retried send under load must not write a message twice (a second, distinct input).
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const busProducer = busKind === 'kafka' ? producer : bus.producer();
  await busProducer.connect();
  return {
    database,
    orm,
    busKind,
    bus,
    kafka,
    brokers,
    producer,
    tenantId,
    apiKey,
    topics,
    groupId: uniqueName('engine'),
    topic: (id) => topicName(topics, id),
    async send(id, messages) {
      await busProducer.sendBatch({ topicMessages: [{ topic: topicName(topics, id), messages }] });
    },
    async close() {
      await producer.disconnect();
      const cleanup = kafka.admin();
      await cleanup.connect();
      const mine = (await cleanup.listTopics()).filter((name) => name.startsWith(topics.topicPrefix));
      await cleanup.deleteTopics({ topics: mine }).catch(() => undefined);
      await cleanup.disconnect();
      await orm.close();
      await database.drop();
    },
  };
}

let sequence = 0;

export function identityMessage(
  tenantId: string,
  identityId: string,
  event: IdentityEvent,
): ReturnType<typeof encodeMessage> {
  const data: MessageData<'joinery.identity.event.v1'> = { tenantId, identityId, event };
  return encodeMessage({
    id: `test-${String(++sequence)}-${randomUUID()}`,
    type: 'joinery.identity.event.v1',
    source: '/joinery/tests',
    time: event.at,
    tenantId,
    data,
  });
}

/** An application object as a connector sends it to the `imports` topic. */
export function importMessage(object: {
  tenantId: string;
  applicationId: string;
  objectClass: string;
  externalId: string;
  attributes: Record<string, string>;
}): ReturnType<typeof encodeMessage> {
  return importObjectMessage(object);
}

/** An import object message: an upsert of `attributes`, or a deletion without them; in a run with `runId`. */
export function importObjectMessage(object: {
  tenantId: string;
  applicationId: string;
  objectClass: string;
  externalId: string;
  attributes?: Record<string, string>;
  runId?: string;
}): ReturnType<typeof encodeMessage> {
  const at = new Date().toISOString();
  const { attributes, runId, ...rest } = object;
  const data: MessageData<'joinery.import.object.v1'> = {
    ...rest,
    operation: attributes === undefined ? 'delete' : 'upsert',
    ...(attributes === undefined ? {} : { attributes }),
    observedAt: at,
    ...(runId === undefined ? {} : { runId }),
  };
  return encodeMessage({
    id: randomUUID(),
    type: 'joinery.import.object.v1',
    source: '/tests',
    time: at,
    tenantId: object.tenantId,
    data,
  });
}

/** An import run marker (a full run unless `kind` says otherwise). */
export function importRunMarker(run: {
  tenantId: string;
  applicationId: string;
  runId: string;
  phase: 'started' | 'completed' | 'aborted';
  kind?: 'full' | 'delta';
  objectCount?: number;
}): ReturnType<typeof encodeMessage> {
  const at = new Date().toISOString();
  const { kind, objectCount, ...rest } = run;
  const data: MessageData<'joinery.import.run.v1'> = {
    ...rest,
    kind: kind ?? 'full',
    at,
    ...(objectCount === undefined ? {} : { objectCount }),
  };
  return encodeMessage({
    id: randomUUID(),
    type: 'joinery.import.run.v1',
    source: '/tests',
    time: at,
    tenantId: run.tenantId,
    data,
  });
}

/**
 * The engine on the fixture's bus as the end-to-end tests run it: small batches, a 200 ms orchestrator tick;
 * a test may give it another bus (one that injects failures) or a logger it reads.
 */
export function startTestEngine(
  fixture: StreamsFixture,
  options: Partial<
    Pick<
      Parameters<typeof startEngine>[0],
      | 'now'
      | 'bus'
      | 'logger'
      | 'csvWatchPollMs'
      | 'connectorSecrets'
      | 'connectorPollMs'
      | 'masterKeys'
      | 'audit'
    >
  > = {},
): Promise<Engine> {
  return startEngine({
    bus: fixture.bus,
    logger: silentLogger,
    ...options,
    orm: fixture.orm,
    settings: {
      groupId: fixture.groupId,
      actorCacheSize: 100,
      maxBatchSize: 500,
      sessionTimeoutMs: 6000,
      topics: fixture.topics,
    },
    timerIntervalMs: 200,
  });
}

export const applicationId = '5b0c6c52-8a55-4a36-9f43-6c0d0f2a2b10';

export function inbound(
  attributes: Record<string, string | number | boolean | null>,
  options: { externalId?: string; lifecycle?: 'active' | 'disabled' | 'left'; at?: string } = {},
): IdentityEvent {
  return {
    type: 'inbound.changed',
    at: options.at ?? new Date().toISOString(),
    source: { applicationId, externalId: options.externalId ?? 'E1' },
    attributes,
    ...(options.lifecycle === undefined ? {} : { lifecycle: options.lifecycle }),
  };
}

/** Reads a topic of a bus from the beginning until `until` says it has enough, or the timeout passes. */
export async function readTopic(
  bus: Bus,
  topic: string,
  until: (messages: BusMessage[]) => boolean,
  timeoutMs = 30_000,
): Promise<BusMessage[]> {
  const consumer = bus.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const messages: BusMessage[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `read ${String(messages.length)} messages from ${topic} in ${String(timeoutMs)} ms; wanted more`,
          ),
        );
      }, timeoutMs);
      void consumer.run({
        eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
          messages.push(...batch.messages);
          const last = batch.messages.at(-1);
          if (last !== undefined) resolveOffset(last.offset);
          await commitOffsetsIfNecessary();
          if (until(messages)) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return messages;
}

export function header(message: BusMessage, name: string): string | undefined {
  const value = message.headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first?.toString();
}

export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (result !== undefined) return result;
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** An export queue row as the end-to-end tests look at it. */
export interface ExportRow {
  export_id: string;
  identity_id: string;
  object_class: string;
  operation: string;
  status: string;
  hold_reason: string | null;
  external_id: string | null;
  attributes: Record<string, unknown> | null;
  members: { add: string[]; remove: string[] } | null;
}

/** An application's export queue in order, optionally only one identity's (or group's) exports. */
export function exportQueue(
  fixture: StreamsFixture,
  applicationId: string,
  identityId?: string,
): Promise<ExportRow[]> {
  return query<ExportRow>(
    fixture.database.url,
    `select export_id, identity_id, object_class, operation, status, hold_reason, external_id, attributes, members
     from export_item where application_id = $1 and ($2::uuid is null or identity_id = $2) order by seq`,
    [applicationId, identityId ?? null],
  );
}

/** Plain SQL on the test database, for assertions. */
export async function query<R extends pg.QueryResultRow>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}
