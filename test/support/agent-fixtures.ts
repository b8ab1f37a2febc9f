// Builders for tests of the agent and its channel against the real service: the API started with Kafka and
// a fresh database, a tenant with an application and a connector, an agent.yaml, the agent run in-process
// (or as a child process), directories whose contents a test changes, and a reader of the agent topics.
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { pino } from 'pino';
import { runAgent } from '../../agent/src/cli.ts';
import { loadAgentConfig } from '../../agent/src/config/load-agent-config.ts';
import type {
  CapturedPassword,
  DirectoryChange,
  DirectoryRecord,
  DirectorySource,
  PasswordCapture,
} from '../../agent/src/contracts.ts';
import type { DirectoryFactory, DirectoryParts } from '../../agent/src/directory-kinds.ts';
import { DeltaCookieExpiredError } from '../../kernel/errors.ts';
import { createKafka } from '../../src/infra/kafka.ts';
import { createLogger } from '../../kernel/logger.ts';
import { startService, type RunningService } from '../../src/service.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import type { BusMessage } from '../../streams/bus.ts';
import { createKafkaClient } from '../../streams/kafka-client.ts';
import type { TopicId } from '../../kernel/contracts/messages.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { silentLogger, testConfig, uniqueName } from './factories.ts';
import { perObject } from './gathered-objects.ts';

// ---- the service ----------------------------------------------------------------------------------------

export interface AgentApi {
  /** Changes on restart only if the port was 0 the first time (it is then kept). */
  url: string;
  port: number;
  service: RunningService;
  database: TestDatabase;
  brokers: string[];
  topicPrefix: string;
  masterKey: Buffer;
  /** The service's log (JSON lines), for the no-secrets check. */
  logFile: string;
  topic(id: TopicId): string;
  /** Stops the service (the database and topics stay). */
  stop(): Promise<void>;
  /** Starts it again on the same port, database, topics and master key. */
  start(): Promise<void>;
  /** Stops the service and drops the database and the topics. */
  close(): Promise<void>;
}

/** The real service on Kafka and a fresh database, topics under a prefix of its own, logging to a file. */
export async function startAgentApi(options: { dir: string }): Promise<AgentApi> {
  const database = await createTestDatabase({ migrated: true });
  const brokers = createKafka().brokers;
  const topicPrefix = `${uniqueName('agentch')}.`;
  const masterKey = randomBytes(32);
  const logFile = join(options.dir, 'service.log');
  // Synchronous: every line is on disk when a test reads the file.
  const logger = createLogger({ level: 'debug' }, pino.destination({ dest: logFile, sync: true }));
  const env = (port: number) => ({
    DATABASE_URL: database.url,
    KAFKA_BROKERS: brokers.join(','),
    JOINERY_DATABASE_MIGRATE_ON_START: 'true',
    JOINERY_MASTER_KEY: masterKey.toString('base64'),
    JOINERY_TOPIC_PREFIX: topicPrefix,
    JOINERY_KAFKA_PARTITIONS: '3',
    JOINERY_ENGINE_GROUP_ID: uniqueName('engine'),
    JOINERY_HTTP_HOST: '127.0.0.1',
    JOINERY_HTTP_PORT: String(port),
  });
  let running: RunningService | undefined = await startService(testConfig(env(0)), logger);
  const port = Number(new URL(running.url).port);
  const api: AgentApi = {
    url: running.url,
    port,
    get service() {
      if (running === undefined) throw new Error('the service is stopped');
      return running;
    },
    database,
    brokers,
    topicPrefix,
    masterKey,
    logFile,
    topic: (id) => `${topicPrefix}${id}`,
    async stop() {
      const stopping = running;
      running = undefined;
      await stopping?.stop();
    },
    async start() {
      running ??= await startService(testConfig(env(port)), logger);
    },
    async close() {
      await api.stop();
      const kafka = createKafkaClient({ brokers, clientId: 'joinery-test', logger: silentLogger });
      const admin = kafka.admin();
      await admin.connect();
      const mine = (await admin.listTopics()).filter((name) => name.startsWith(topicPrefix));
      await admin.deleteTopics({ topics: mine }).catch(() => undefined);
      await admin.disconnect();
      await database.drop();
    },
  };
  return api;
}

// ---- tenant, application, connector -----------------------------------------------------------------------

export interface TestTenant {
  tenantId: string;
  apiKey: string;
  applicationId: string;
}

/** Calls the API with the tenant's key; answers status and parsed body. */
export async function callApi(
  api: Pick<AgentApi, 'url'>,
  apiKey: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${apiKey}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

/** A tenant with its admin API key and one directory application (created through the API). */
export async function createTestTenant(api: AgentApi): Promise<TestTenant> {
  const { tenantId, apiKey } = await createTenant(api.service.orm.em, { tenant: uniqueName('tenant') });
  const created = await callApi(api, apiKey, 'POST', '/v1/applications', {
    name: uniqueName('directory'),
    type: 'ldap',
  });
  if (created.status !== 201) throw new Error(`creating the application: ${JSON.stringify(created)}`);
  return { tenantId, apiKey, applicationId: (created.body as { id: string }).id };
}

export interface IssuedTestConnector {
  tenantId: string;
  connectorId: string;
  clientKey: string;
  applicationIds: string[];
}

export async function createTestConnector(api: AgentApi, tenant: TestTenant): Promise<IssuedTestConnector> {
  const created = await callApi(api, tenant.apiKey, 'POST', '/v1/connectors', {
    name: uniqueName('agent'),
    applications: [tenant.applicationId],
  });
  if (created.status !== 201) throw new Error(`creating the connector: ${JSON.stringify(created)}`);
  return created.body as IssuedTestConnector;
}

// ---- the agent --------------------------------------------------------------------------------------------

/** Writes <dir>/agent.yaml for the connector; the client key comes from the environment, as documented. */
export function writeAgentConfig(options: {
  dir: string;
  api: Pick<AgentApi, 'url'>;
  connector: IssuedTestConnector;
  /** The directory kind (default openldap). */
  kind?: 'openldap' | 'active-directory';
  directoryOptions?: Record<string, unknown>;
  passwordCapture?: boolean;
  deltaPollIntervalMs?: number;
}): string {
  const file = join(options.dir, 'agent.yaml');
  const lines = [
    'api:',
    `  urls: [${JSON.stringify(options.api.url)}]`,
    `tenantId: ${options.connector.tenantId}`,
    `connectorId: ${options.connector.connectorId}`,
    'clientKey: ${JOINERY_AGENT_CLIENT_KEY}',
    'stateDir: state',
    'directory:',
    `  kind: ${options.kind ?? 'openldap'}`,
    `  options: ${JSON.stringify(options.directoryOptions ?? {})}`,
    'schedules:',
    `  deltaPollIntervalMs: ${String(options.deltaPollIntervalMs ?? 200)}`,
    `  passwordCapture: ${String(options.passwordCapture ?? false)}`,
    '  passwordPollIntervalMs: 200',
    'log:',
    '  level: debug',
    '  file: logs/agent.log',
  ];
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

export interface RunningAgent {
  /** Resolves once the agent has stopped (rejects with what made it fail). */
  done: Promise<void>;
  /** Sends the stop signal and waits. */
  stop(): Promise<void>;
}

/**
 * Runs the agent in this process through `runAgent`, with the test's directory parts, or without them the
 * real ones the configured kind is made of (createDirectoryParts).
 */
export function runAgentInProcess(options: {
  configFile: string;
  clientKey: string;
  parts?: DirectoryParts;
}): RunningAgent {
  const config = loadAgentConfig({
    file: options.configFile,
    env: { JOINERY_AGENT_CLIENT_KEY: options.clientKey },
  });
  const { parts } = options;
  let signal: ((name: string) => void) | undefined;
  const done = runAgent({
    config,
    ...(parts === undefined ? {} : { directory: () => Promise.resolve(parts) }),
    onSignal: (handler) => {
      signal = handler;
    },
  });
  return {
    done,
    async stop() {
      signal?.('SIGTERM');
      await done;
    },
  };
}

/** Everything the agent and its directory parts logged under `dir` (pino-roll numbers its files). */
export function readAgentLogs(dir: string): string {
  const logs = join(dir, 'logs');
  let names: string[];
  try {
    names = readdirSync(logs);
  } catch {
    return '';
  }
  return names.map((name) => readFileSync(join(logs, name), 'utf8')).join('');
}

// ---- directories a test changes ---------------------------------------------------------------------------

export function directoryUser(
  externalId: string,
  attributes: Record<string, string>,
  enabled = true,
): DirectoryRecord {
  const uid = attributes.uid ?? externalId.slice(0, 8);
  return {
    objectClass: 'user',
    externalId,
    dn: `uid=${uid},ou=people,dc=joinery,dc=test`,
    attributes: { uid, cn: uid, sn: 'Test', ...attributes },
    enabled,
  };
}

/**
 * A directory in memory: its records, and the log of its changes (the cookie is a position in the log).
 * The test changes it while the agent polls it.
 */
export class MemoryDirectory implements DirectorySource {
  private readonly records = new Map<string, DirectoryRecord>();
  private readonly changes: DirectoryChange[] = [];
  /** Changes before this position are gone from the log (as olcAccessLogPurge does). */
  private purgedBefore = 0;

  /** Forgets the change log so far: a delta from an older cookie can no longer be answered. */
  purgeLog(): void {
    this.purgedBefore = this.changes.length;
  }

  upsert(record: DirectoryRecord): void {
    this.records.set(record.externalId, record);
    this.changes.push({ operation: 'upsert', record });
  }

  remove(externalId: string): void {
    this.records.delete(externalId);
    this.changes.push({ operation: 'delete', objectClass: 'user', externalId });
  }

  async *fullImport(): AsyncIterable<DirectoryRecord[]> {
    await Promise.resolve();
    yield [...this.records.values()];
  }

  currentCookie(): Promise<string> {
    return Promise.resolve(String(this.changes.length));
  }

  deltaImport(cookie: string): Promise<{ changes: DirectoryChange[]; cookie: string }> {
    if (Number(cookie) < this.purgedBefore) {
      return Promise.reject(new DeltaCookieExpiredError(`the change log no longer holds position ${cookie}`));
    }
    return Promise.resolve({
      changes: this.changes.slice(Number(cookie)),
      cookie: String(this.changes.length),
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A password capture the test feeds (what a Samba or DLL capture would report). */
export class MemoryPasswordCapture implements PasswordCapture {
  private captured: CapturedPassword[] = [];

  report(externalId: string, password: string): void {
    this.captured.push({ externalId, password, at: new Date().toISOString() });
  }

  private polled = 0;

  /** Like a real capture: what a poll returned is returned again until acknowledged. */
  poll(): Promise<CapturedPassword[]> {
    this.polled = this.captured.length;
    return Promise.resolve(this.captured.slice(0, this.polled));
  }

  acknowledge(): Promise<void> {
    this.captured = this.captured.slice(this.polled);
    this.polled = 0;
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** What a JSON directory file holds: the records now and the log of changes. */
export interface DirectoryFileContent {
  records: DirectoryRecord[];
  changes: DirectoryChange[];
}

/** Rewrites the file atomically, so a reader never sees half of it. */
export function writeDirectoryFile(file: string, content: DirectoryFileContent): void {
  const temporary = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, JSON.stringify(content));
  renameSync(temporary, file);
}

/** A directory read from a JSON file (directory.options.file) that the test rewrites: usable across processes. */
export function jsonFileDirectory(file: string): DirectorySource {
  const read = (): DirectoryFileContent => JSON.parse(readFileSync(file, 'utf8')) as DirectoryFileContent;
  return {
    async *fullImport() {
      await Promise.resolve();
      yield read().records;
    },
    currentCookie: () => Promise.resolve(String(read().changes.length)),
    deltaImport(cookie) {
      const { changes } = read();
      return Promise.resolve({ changes: changes.slice(Number(cookie)), cookie: String(changes.length) });
    },
    close: () => Promise.resolve(),
  };
}

/** The directory factory of the child agent: directory.options.file names the JSON directory. */
export const jsonFileDirectoryFactory: DirectoryFactory = (directory, context) => {
  const file = directory.options.file;
  if (typeof file !== 'string') {
    return Promise.reject(new Error(`directory.options.file (in ${context.file}): the JSON directory file`));
  }
  return Promise.resolve({ source: jsonFileDirectory(file) });
};

/** Runs the agent as a child process (test/support/agent-child.ts) with the JSON file directory. */
export function spawnAgent(options: { configFile: string; clientKey: string }): {
  child: ChildProcess;
  exited: Promise<number | null>;
  output: () => string;
} {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'agent-child.ts'), options.configFile], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      JOINERY_AGENT_CLIENT_KEY: options.clientKey,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, exited, output: () => output };
}

// ---- the agent topics -------------------------------------------------------------------------------------

/** What a test reads off `imports` and `pulses`: the CloudEvents headers and the raw value bytes. */
export interface ReadMessage {
  topic: string;
  id: string;
  type: string;
  source: string;
  tenantId: string;
  value: Buffer;
  data: Record<string, unknown>;
}

export interface TopicCollector {
  messages(): ReadMessage[];
  /** Waits until `check` holds on what was read so far. */
  waitFor(
    what: string,
    check: (messages: ReadMessage[]) => boolean,
    timeoutMs?: number,
  ): Promise<ReadMessage[]>;
  close(): Promise<void>;
}

function headerOf(message: BusMessage, name: string): string {
  const value = message.headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first?.toString() ?? '';
}

/** Reads the topics from the beginning for as long as it is open, in a consumer group of its own. */
export async function collectTopics(api: AgentApi, ids: TopicId[]): Promise<TopicCollector> {
  const kafka: Kafka = createKafkaClient({
    brokers: api.brokers,
    clientId: 'joinery-test',
    logger: silentLogger,
  });
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: ids.map((id) => api.topic(id)), fromBeginning: true });
  const read: ReadMessage[] = [];
  await consumer.run({
    eachMessage: ({ topic, message }) => {
      const value = message.value ?? Buffer.alloc(0);
      read.push(
        ...perObject({
          topic,
          id: headerOf(message, 'ce_id'),
          type: headerOf(message, 'ce_type'),
          source: headerOf(message, 'ce_source'),
          tenantId: headerOf(message, 'ce_tenantid'),
          value,
          data: JSON.parse(value.toString('utf8')) as Record<string, unknown>,
        }),
      );
      return Promise.resolve();
    },
  });
  return {
    messages: () => [...read],
    async waitFor(what, check, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!check(read)) {
        if (Date.now() > deadline) {
          throw new Error(
            `timed out after ${String(timeoutMs)} ms waiting for ${what} (read ${String(read.length)} messages)`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return [...read];
    },
    close: () => consumer.disconnect(),
  };
}

// ---- misc -------------------------------------------------------------------------------------------------

export function temporaryDirectory(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
