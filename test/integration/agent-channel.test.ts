// The channel between the on-prem agent and the API, end to end on the real service, PostgreSQL and Kafka:
// enrolment with the one-time client key, revocation, sealed batches (tampering refused), sealed password
// pulses, and delivery exactly once across an API outage and an agent killed with -9. Only the directory is
// the test's own (an in-memory one, or a JSON file for the child process), through the agent's factory seam.
//
// AGENT_CHANNEL_OUTAGE_MS sets how long the API stays down in the outage test (default 20 s; the issue's
// scenario is a minute: AGENT_CHANNEL_OUTAGE_MS=60000).
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query, waitFor } from '../support/streams.ts';
import { readTopicsToEnd } from '../support/topic-ends.ts';
import { WebSocket } from 'ws';
import { enrol } from '../../agent/src/channel/enrol-client.ts';
import {
  ServerFrameSchema,
  parseFrame,
  type AgentFrame,
  type ServerFrame,
} from '../../kernel/channel/protocol.ts';
import {
  channelAad,
  fromBase64,
  generateEncryptionKeyPair,
  generateSigningKeyPair,
  openSecret,
  sealBatch,
  signChallenge,
  toBase64,
  type EncryptionKeyPair,
  type SigningKeyPair,
} from '../../kernel/channel/sealing.ts';
import { AgentStore } from '../../agent/src/queue/agent-store.ts';
import type { SealedSecret } from '../../kernel/contracts/identity-events.ts';
import { createTenantKeys } from '../../src/agent-gateway/tenant-keys.ts';
import { ConflictError, UnauthenticatedError } from '../../kernel/errors.ts';
import {
  MemoryDirectory,
  MemoryPasswordCapture,
  callApi,
  collectTopics,
  createTestConnector,
  createTestTenant,
  directoryUser,
  readAgentLogs,
  runAgentInProcess,
  spawnAgent,
  startAgentApi,
  temporaryDirectory,
  writeAgentConfig,
  writeDirectoryFile,
  type AgentApi,
  type DirectoryFileContent,
  type IssuedTestConnector,
  type ReadMessage,
  type RunningAgent,
  type TestTenant,
  type TopicCollector,
} from '../support/agent-fixtures.ts';

const outageMs = Number(process.env.AGENT_CHANNEL_OUTAGE_MS ?? 20_000);
/** Secrets and values that must never reach a log: a password and an attribute value. */
const testPassword = `Pw-${randomBytes(9).toString('base64url')}!`;
const distinctiveValue = `attr-value-${randomBytes(9).toString('hex')}`;

interface AgentKeys {
  encryption: EncryptionKeyPair;
  signing: SigningKeyPair;
}

async function freshKeys(): Promise<AgentKeys> {
  return { encryption: await generateEncryptionKeyPair(), signing: generateSigningKeyPair() };
}

function enrolmentRequest(
  connector: Pick<IssuedTestConnector, 'tenantId' | 'connectorId' | 'clientKey'>,
  keys: AgentKeys,
) {
  return {
    tenantId: connector.tenantId,
    connectorId: connector.connectorId,
    clientKey: connector.clientKey,
    publicKeys: { x25519: keys.encryption.publicKey, ed25519: keys.signing.publicKey },
  };
}

/** A hand-driven channel: the test speaks the protocol itself, frame by frame. */
interface RawChannel {
  send(frame: AgentFrame): void;
  next(): Promise<ServerFrame>;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

async function openRawChannel(
  api: AgentApi,
  identity: { tenantId: string; connectorId: string; signing: SigningKeyPair },
): Promise<{ channel: RawChannel; answer: ServerFrame }> {
  const socket = new WebSocket(`${api.url.replace(/^http/, 'ws')}/v1/agent/channel`);
  const frames: ServerFrame[] = [];
  const waiters: ((frame: ServerFrame) => void)[] = [];
  socket.on('message', (data: Buffer) => {
    const frame = parseFrame(ServerFrameSchema, data.toString('utf8'), 'API frame');
    const waiter = waiters.shift();
    if (waiter === undefined) frames.push(frame);
    else waiter(frame);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
    });
  });
  const channel: RawChannel = {
    send: (frame) => {
      socket.send(JSON.stringify(frame));
    },
    next: () => {
      const frame = frames.shift();
      if (frame !== undefined) return Promise.resolve(frame);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error('no frame from the API within 10 s'));
        }, 10_000);
        waiters.push((received) => {
          clearTimeout(timer);
          resolve(received);
        });
      });
    },
    closed,
    close: () => {
      socket.close();
    },
  };
  const challenge = await channel.next();
  if (challenge.type !== 'challenge') throw new Error(`expected a challenge, got ${challenge.type}`);
  channel.send({
    type: 'hello',
    tenantId: identity.tenantId,
    connectorId: identity.connectorId,
    agentVersion: 'test',
    signature: signChallenge(identity.signing.privateKey, {
      tenantId: identity.tenantId,
      connectorId: identity.connectorId,
      nonce: challenge.nonce,
    }),
  });
  return { channel, answer: await channel.next() };
}

/** An import object as the agent would queue it. */
function importBody(tenant: TestTenant, externalId: string, description: string) {
  const now = new Date().toISOString();
  return {
    type: 'joinery.import.object.v1',
    time: now,
    data: {
      tenantId: tenant.tenantId,
      applicationId: tenant.applicationId,
      objectClass: 'user',
      externalId,
      operation: 'upsert',
      attributes: { uid: externalId.slice(0, 8), description },
      observedAt: now,
    },
  };
}

/** Seals messages for (tenant, connector) as the agent does; `seq` is each message's queue sequence. */
async function sealedBatch(
  tenantKey: string,
  binding: { tenantId: string; connectorId: string },
  messages: { id: string; seq: number; body: unknown }[],
): Promise<Extract<AgentFrame, { type: 'batch' }>> {
  const sealed = await sealBatch(
    tenantKey,
    messages.map((message) => ({
      aad: channelAad({ direction: 'up', ...binding, id: message.id, seq: message.seq }),
      plaintext: Buffer.from(JSON.stringify(message.body)),
    })),
  );
  return {
    type: 'batch',
    batchId: randomUUID(),
    enc: sealed.enc,
    messages: messages.map((message, index) => ({
      id: message.id,
      seq: message.seq,
      ciphertext: sealed.ciphertexts[index] ?? '',
    })),
  };
}

function attributesOf(message: ReadMessage): Record<string, unknown> {
  return (message.data.attributes ?? {}) as Record<string, unknown>;
}

/** The import objects whose description starts with `marker`, by description. */
function byMarker(messages: ReadMessage[], marker: string): Map<string, ReadMessage[]> {
  const found = new Map<string, ReadMessage[]>();
  for (const message of messages) {
    const description = attributesOf(message).description;
    if (typeof description !== 'string' || !description.startsWith(marker)) continue;
    found.set(description, [...(found.get(description) ?? []), message]);
  }
  return found;
}

/** The descriptions of the import objects waiting in an agent's queue (read while it runs). */
function queuedDescriptions(home: string): string[] {
  const store = AgentStore.open(join(home, 'state'));
  try {
    return store
      .head(10_000, Number.MAX_SAFE_INTEGER)
      .map((message) => (message.data as { attributes?: { description?: unknown } }).attributes?.description)
      .filter((description): description is string => typeof description === 'string');
  } finally {
    store.close();
  }
}

/** The highest sequence number the agent under `home` ever gave a queued message (its queue's counter). */
function lastSequence(home: string): number {
  const db = new DatabaseSync(join(home, 'state', 'agent.db'), { readOnly: true });
  try {
    const row = db.prepare("select seq from sqlite_sequence where name = 'outgoing'").get() as
      { seq: number } | undefined;
    return row?.seq ?? 0;
  } finally {
    db.close();
  }
}

/** How many times the agent under `home` logged being refused by the API after `since` (epoch ms). */
function refusalsSince(home: string, since: number): number {
  return readAgentLogs(home)
    .split('\n')
    .filter((line) => line.includes('the API refused this agent'))
    .filter((line) => Date.parse((JSON.parse(line) as { time: string }).time) > since).length;
}

/** A logstream event telling that the connector's agent connected or disconnected. */
function isPresence(message: ReadMessage, connectorId: string, what: 'connected' | 'disconnected'): boolean {
  const { data } = message;
  return (
    message.type === 'joinery.log.v1' &&
    data.category === 'agent' &&
    (data.actor as { id?: string } | undefined)?.id === connectorId &&
    typeof data.message === 'string' &&
    data.message.endsWith(` ${what}`)
  );
}

describe('the agent channel (real API, PostgreSQL and Kafka; in-test directory)', () => {
  let dir: string;
  let api: AgentApi;
  let tenant: TestTenant;
  let topics: TopicCollector;
  const agents: RunningAgent[] = [];
  const agentDirs: string[] = [];

  const agentDir = (name: string): string => {
    const path = join(dir, name);
    mkdirSync(path, { recursive: true });
    agentDirs.push(path);
    return path;
  };

  beforeAll(async () => {
    dir = temporaryDirectory('joinery-agent-channel-');
    api = await startAgentApi({ dir });
    tenant = await createTestTenant(api);
    topics = await collectTopics(api, ['imports', 'pulses', 'logstream']);
  }, 120_000);

  afterAll(async () => {
    for (const agent of agents) await agent.stop().catch(() => undefined);
    await topics.close();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  describe('enrolment and revocation', () => {
    let connector: IssuedTestConnector;
    let agent: RunningAgent;
    let home: string;
    const directory = new MemoryDirectory();
    const alice = randomUUID();

    it("enrols with the connector's one-time client key; its imports arrive on <prefix>imports as import.object.v1 of its tenant and application", async () => {
      connector = await createTestConnector(api, tenant);
      expect(connector.clientKey).toMatch(/^jnyc_[A-Za-z0-9_-]{43}$/);
      directory.upsert(directoryUser(alice, { uid: 'alice', description: distinctiveValue }));
      home = agentDir('enrolment');
      agent = runAgentInProcess({
        configFile: writeAgentConfig({ dir: home, api, connector }),
        clientKey: connector.clientKey,
        parts: { source: directory },
      });
      agents.push(agent);

      const seen = await topics.waitFor('alice from the full import', (messages) =>
        messages.some((message) => message.data.externalId === alice),
      );
      const imported = seen.find((message) => message.data.externalId === alice);
      expect(imported).toMatchObject({
        topic: `${api.topicPrefix}imports`,
        type: 'joinery.import.object.v1',
        tenantId: tenant.tenantId,
        source: `/agents/${connector.connectorId}`,
        data: { tenantId: tenant.tenantId, applicationId: tenant.applicationId, operation: 'upsert' },
      });
      // The full import is bracketed by run markers on the same topic.
      await topics.waitFor('the completed run marker', (messages) =>
        messages.some(
          (message) =>
            message.type === 'joinery.import.run.v1' &&
            message.source === `/agents/${connector.connectorId}` &&
            message.data.phase === 'completed',
        ),
      );

      // A change in the directory after that arrives as a delta.
      directory.upsert(directoryUser(alice, { uid: 'alice', description: 'renamed-alice' }));
      await topics.waitFor('the delta of alice', (messages) =>
        messages.some((message) => attributesOf(message).description === 'renamed-alice'),
      );
      const view = await callApi(api, tenant.apiKey, 'GET', `/v1/connectors/${connector.connectorId}`);
      expect(view.body).toMatchObject({
        status: 'enrolled',
        enrolled: true,
        lastConnectedAt: expect.any(String) as string,
      });
      // The connection recorded above is told on the logstream, with the agent as its actor.
      await topics.waitFor('the logstream event of the connection', (messages) =>
        messages.some((message) => isPresence(message, connector.connectorId, 'connected')),
      );
    });

    it("refuses the used client key, a wrong key, and a key presented with another tenant's connector or tenant", async () => {
      const urls = [api.url];
      const reuse = enrol({ urls, request: enrolmentRequest(connector, await freshKeys()) });
      await expect(reuse).rejects.toBeInstanceOf(ConflictError);
      await expect(reuse).rejects.toThrow(/already used to enrol an agent/);

      const wrongKey = `jnyc_${randomBytes(32).toString('base64url')}`;
      await expect(
        enrol({ urls, request: enrolmentRequest({ ...connector, clientKey: wrongKey }, await freshKeys()) }),
      ).rejects.toBeInstanceOf(UnauthenticatedError);

      const other = await createTestTenant(api);
      const othersConnector = await createTestConnector(api, other);
      const refusals = [
        // This key with the other tenant's connector (claimed for either tenant).
        { ...othersConnector, clientKey: connector.clientKey },
        { ...othersConnector, tenantId: tenant.tenantId, clientKey: connector.clientKey },
        // The other connector's own key, claimed for this tenant.
        { ...othersConnector, tenantId: tenant.tenantId },
        // A tenant that does not exist.
        { ...othersConnector, tenantId: randomUUID() },
      ];
      for (const request of refusals) {
        const attempt = enrol({ urls, request: enrolmentRequest(request, await freshKeys()) });
        await expect(attempt).rejects.toBeInstanceOf(UnauthenticatedError);
        await expect(attempt).rejects.toThrow(/enrolment refused .*JNY_UNAUTHENTICATED/);
      }
      // The refusals consumed nothing: the other connector still enrols with its own key.
      const enrolled = await enrol({ urls, request: enrolmentRequest(othersConnector, await freshKeys()) });
      expect(enrolled.response).toMatchObject({
        tenantId: other.tenantId,
        connectorId: othersConnector.connectorId,
        applicationIds: [other.applicationId],
      });
    });

    it('revoking the connector closes its channel; reconnecting is refused and the API says why', async () => {
      const revoked = await callApi(
        api,
        tenant.apiKey,
        'POST',
        `/v1/connectors/${connector.connectorId}/revoke`,
      );
      expect(revoked.status).toBe(200);
      expect(revoked.body).toMatchObject({ status: 'revoked', connected: false });

      // The live channel is closed with "revoked", and the agent's reconnection is refused with the reason.
      const deadline = Date.now() + 20_000;
      let logs = '';
      while (Date.now() < deadline) {
        logs = readAgentLogs(home);
        if (logs.includes('4403') && /was revoked at/.test(logs)) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(logs).toContain('the API refused this agent');
      expect(logs).toMatch(/"code":4403/);
      expect(logs).toMatch(/the API closes the channel: connector [0-9a-f-]+ was revoked at/);

      // The same refusal, seen on the wire with the agent's own keys.
      const store = AgentStore.open(join(home, 'state'));
      const keys = await store.keys(() => Promise.reject(new Error('the agent has no keys')));
      // `joinery agent status` shows why too.
      expect(store.status().lastError).toMatch(/^refused by http:\/\/\S+: 440[13] .*revoked/);
      store.close();
      const { channel, answer } = await openRawChannel(api, { ...connector, signing: keys.signing });
      expect(answer).toMatchObject({
        type: 'error',
        code: 'JNY_UNAUTHENTICATED',
        message: expect.stringMatching(/connector .* was revoked at .*: enrol a new connector/) as string,
      });
      expect((await channel.closed).code).toBe(4401);
      // The revoked agent's session ended: told on the logstream too.
      await topics.waitFor('the logstream event of the disconnection', (messages) =>
        messages.some((message) => isPresence(message, connector.connectorId, 'disconnected')),
      );

      // A change made now does not get through: the agent reads it into its queue, tries the API again
      // with it queued, is refused, and keeps it (a delivered message leaves the queue once acknowledged).
      directory.upsert(directoryUser(alice, { uid: 'alice', description: 'after-revocation' }));
      const queuedBy = await waitFor('the change in the agent queue', () =>
        Promise.resolve(queuedDescriptions(home).includes('after-revocation') ? Date.now() : undefined),
      );
      await waitFor(
        'a refused reconnection after the change was queued',
        () => Promise.resolve(refusalsSince(home, queuedBy) > 0 || undefined),
        45_000,
      );
      expect(queuedDescriptions(home)).toContain('after-revocation');
      expect(topics.messages().some((m) => attributesOf(m).description === 'after-revocation')).toBe(false);
      await agent.stop();
    }, 90_000);
  });

  it('refuses a batch whose ciphertext was altered, or moved to another connector, and produces nothing of it', async () => {
    const connector = await createTestConnector(api, tenant);
    const keys = await freshKeys();
    const { response } = await enrol({ urls: [api.url], request: enrolmentRequest(connector, keys) });
    const binding = { tenantId: tenant.tenantId, connectorId: connector.connectorId };
    const { channel, answer } = await openRawChannel(api, { ...binding, signing: keys.signing });
    expect(answer).toMatchObject({ type: 'welcome', lastProducedSeq: 0 });

    const tamperedId = randomUUID();
    const tampered = await sealedBatch(response.tenantKey.publicKey, binding, [
      { id: tamperedId, seq: 1, body: importBody(tenant, randomUUID(), 'tampered') },
    ]);
    const bytes = fromBase64(tampered.messages[0]?.ciphertext ?? '');
    bytes[5] = (bytes[5] ?? 0) ^ 0x01;
    tampered.messages[0] = { id: tamperedId, seq: 1, ciphertext: toBase64(bytes) };
    channel.send(tampered);
    expect(await channel.next()).toMatchObject({
      type: 'nack',
      batchId: tampered.batchId,
      code: 'JNY_SEAL_INVALID',
      message: expect.stringMatching(/sealed payload 0 of the batch does not open: tampered/) as string,
    });

    // Sealed correctly but for another connector: bound elsewhere, so it does not open here.
    const movedId = randomUUID();
    const moved = await sealedBatch(response.tenantKey.publicKey, { ...binding, connectorId: randomUUID() }, [
      { id: movedId, seq: 1, body: importBody(tenant, randomUUID(), 'moved') },
    ]);
    channel.send(moved);
    expect(await channel.next()).toMatchObject({ type: 'nack', code: 'JNY_SEAL_INVALID' });

    // The channel still works, and the sequence was not advanced by the refused batches.
    const goodId = randomUUID();
    channel.send(
      await sealedBatch(response.tenantKey.publicKey, binding, [
        { id: goodId, seq: 1, body: importBody(tenant, randomUUID(), 'good') },
      ]),
    );
    expect(await channel.next()).toMatchObject({ type: 'ack', seq: 1, rejected: [] });
    await topics.waitFor('the good message', (messages) => messages.some((m) => m.id === goodId));
    // Produced before its ack: had the refused ones been produced, they would be there by now too.
    expect(topics.messages().filter((m) => m.id === tamperedId || m.id === movedId)).toEqual([]);
    channel.close();
  });

  it('acknowledges a batch sent again after its ack was lost, without producing it twice', async () => {
    const connector = await createTestConnector(api, tenant);
    const keys = await freshKeys();
    const { response } = await enrol({ urls: [api.url], request: enrolmentRequest(connector, keys) });
    const identity = { tenantId: tenant.tenantId, connectorId: connector.connectorId, signing: keys.signing };
    const ids = [randomUUID(), randomUUID()];
    const batch = await sealedBatch(
      response.tenantKey.publicKey,
      identity,
      ids.map((id, index) => ({ id, seq: index + 1, body: importBody(tenant, randomUUID(), 'resent') })),
    );
    const first = await openRawChannel(api, identity);
    first.channel.send(batch);
    expect(await first.channel.next()).toMatchObject({ type: 'ack', seq: 2 });
    first.channel.close(); // as if the agent died before it stored the ack

    const second = await openRawChannel(api, identity);
    // The API tells the agent what it already produced, so a well-behaved agent drops those itself...
    expect(second.answer).toMatchObject({ type: 'welcome', lastProducedSeq: 2 });
    // ...and one that sends them anyway is acknowledged without a second copy.
    second.channel.send({ ...batch, batchId: randomUUID() });
    expect(await second.channel.next()).toMatchObject({ type: 'ack', seq: 2, rejected: [] });
    const marker = randomUUID();
    second.channel.send(
      await sealedBatch(response.tenantKey.publicKey, identity, [
        { id: marker, seq: 3, body: importBody(tenant, randomUUID(), 'after-resend') },
      ]),
    );
    expect(await second.channel.next()).toMatchObject({ type: 'ack', seq: 3 });
    const read = await topics.waitFor('the message after the resend', (messages) =>
      messages.some((m) => m.id === marker),
    );
    for (const id of ids) expect(read.filter((m) => m.id === id)).toHaveLength(1);
    second.channel.close();
  });

  describe('a connected agent (in this process)', () => {
    let connector: IssuedTestConnector;
    let agent: RunningAgent;
    const directory = new MemoryDirectory();
    const capture = new MemoryPasswordCapture();
    const bob = randomUUID();
    let home: string;

    beforeAll(async () => {
      connector = await createTestConnector(api, tenant);
      directory.upsert(directoryUser(bob, { uid: 'bob', description: 'bob' }));
      home = agentDir('connected');
      agent = runAgentInProcess({
        configFile: writeAgentConfig({ dir: home, api, connector, passwordCapture: true }),
        clientKey: connector.clientKey,
        parts: { source: directory, capture },
      });
      agents.push(agent);
      await topics.waitFor('bob', (messages) => messages.some((m) => m.data.externalId === bob));
    }, 60_000);

    it('seals a captured password to the tenant key: not in clear on pulses, opened by the tenant key', async () => {
      capture.report(bob, testPassword);
      const seen = await topics.waitFor('the password pulse', (messages) =>
        messages.some((m) => m.source === `/agents/${connector.connectorId}` && m.topic.endsWith('pulses')),
      );
      const pulse = seen.find(
        (m) => m.source === `/agents/${connector.connectorId}` && m.topic === `${api.topicPrefix}pulses`,
      );
      expect(pulse?.type).toBe('joinery.pulse.v1');
      const event = pulse?.data.event as { type: string; source: unknown; secret: SealedSecret };
      expect(event).toMatchObject({
        type: 'pulse.password',
        source: { applicationId: tenant.applicationId, externalId: bob },
      });
      const raw = pulse?.value ?? Buffer.alloc(0);
      expect(raw.includes(testPassword)).toBe(false);
      expect(raw.includes(Buffer.from(testPassword).toString('base64'))).toBe(false);

      // What the engine does before writing it to another directory: open it with the tenant's key.
      const tenantKeys = createTenantKeys({ em: api.service.orm.em, masterKey: api.masterKey });
      const privateKey = await tenantKeys.privateKey(tenant.tenantId, event.secret.keyId);
      expect(await openSecret(privateKey, tenant.tenantId, event.secret)).toBe(testPassword);
      // Bound to its tenant: it does not open as another tenant's.
      await expect(openSecret(privateKey, randomUUID(), event.secret)).rejects.toThrow(/does not open/);
    });

    it('starts over with a full import when the directory no longer holds its delta position', async () => {
      const carol = randomUUID();
      directory.upsert(directoryUser(carol, { uid: 'carol', description: 'carol' }));
      directory.purgeLog(); // carol's change is no longer in the log: only a full import finds her
      // Carol's object and the run's markers are keyed differently, so they may sit on different partitions
      // and be read in any order: wait for both, then check she came with the newest completed run.
      const fromFullRun = (messages: readonly ReadMessage[]) => {
        const ours = messages.filter((m) => m.source === `/agents/${connector.connectorId}`);
        const completed = ours.filter(
          (m) => m.type === 'joinery.import.run.v1' && m.data.phase === 'completed',
        );
        const lastRun = completed.at(-1)?.data.runId;
        return {
          completedRuns: completed.length,
          carolInLastRun: ours.some((m) => m.data.externalId === carol && m.data.runId === lastRun),
        };
      };
      const seen = await topics.waitFor('a full import run after the purge, with carol', (messages) => {
        const { completedRuns, carolInLastRun } = fromFullRun(messages);
        return completedRuns >= 2 && carolInLastRun; // the first run, and this one
      });
      expect(fromFullRun(seen)).toEqual({ completedRuns: 2, carolInLastRun: true });
      // The agent's log file is written asynchronously: the line may land just after the run.
      await waitFor('the agent to log why it imported in full', () =>
        Promise.resolve(/delta position lost: a full import runs now/.test(readAgentLogs(home)) || undefined),
      );
    });

    it(`delivers every change made while the API was down (${String(outageMs / 1000)} s), in order, exactly once`, async () => {
      const marker = `outage-${randomBytes(3).toString('hex')}-`;
      const people = [randomUUID(), randomUUID(), randomUUID()];
      const expected: string[] = [];
      await api.stop();
      try {
        const until = Date.now() + outageMs;
        for (let index = 0; Date.now() < until; index++) {
          const externalId = people[index % people.length] ?? bob;
          const description = `${marker}${String(index).padStart(4, '0')}`;
          directory.upsert(directoryUser(externalId, { uid: `p${String(index % 3)}`, description }));
          expected.push(description);
          // The next change once the agent has read this one into its queue (the API is down: it stays there).
          await waitFor(`${description} in the agent's queue`, () =>
            Promise.resolve(queuedDescriptions(home).includes(description) || undefined),
          );
        }
      } finally {
        // Whatever happened above, the service is back for the tests after this one.
        await api.start();
      }
      const arrived = await topics.waitFor(
        `the ${String(expected.length)} changes made during the outage`,
        (messages) => byMarker(messages, marker).size === expected.length,
        60_000,
      );
      const found = byMarker(arrived, marker);
      expect([...found.keys()].sort()).toEqual(expected);
      for (const [description, copies] of found) expect(copies.length, description).toBe(1);
      const ids = [...found.values()].flat().map((m) => m.id);
      expect(new Set(ids).size).toBe(ids.length);
      // Kafka keeps one object's messages in order (one partition per object): each person's changes read
      // back in the order they were made.
      for (const person of people) {
        const order = arrived
          .filter((m) => m.data.externalId === person)
          .map((m) => String(attributesOf(m).description));
        expect(order).toEqual(expected.filter((_, index) => people[index % people.length] === person));
      }
      // The service's stop and start (its engine and worker threads) take most of a minute each on two busy
      // cores, beside the 20 s outage and the wait for the changes.
    }, 240_000);
  });

  it('an agent killed with -9 mid-delivery and restarted: every message it numbered is produced exactly once', async () => {
    const connector = await createTestConnector(api, tenant);
    const home = agentDir('killed');
    const file = join(home, 'directory.json');
    const content: DirectoryFileContent = { records: [], changes: [] };
    writeDirectoryFile(file, content);
    const configFile = writeAgentConfig({
      dir: home,
      api,
      connector,
      directoryOptions: { file },
      deltaPollIntervalMs: 100,
    });
    const marker = `kill-${randomBytes(3).toString('hex')}-`;
    const expected: string[] = [];
    /** Appends `count` new users to the directory in one write (one delta for the agent). */
    const change = (count: number): void => {
      for (let n = 0; n < count; n++) {
        const index = expected.length;
        const description = `${marker}${String(index).padStart(5, '0')}`;
        const record = directoryUser(randomUUID(), { uid: `k${String(index)}`, description });
        content.records.push(record);
        content.changes.push({ operation: 'upsert', record });
        expected.push(description);
      }
      writeDirectoryFile(file, content);
    };
    const delivered = () => byMarker(topics.messages(), marker).size;
    const withStore = <T>(read: (store: AgentStore) => T): T => {
      const store = AgentStore.open(join(home, 'state'));
      try {
        return read(store);
      } finally {
        store.close();
      }
    };
    const queueDepth = () => withStore((store) => store.depth());

    let running = spawnAgent({ configFile, clientKey: connector.clientKey });
    try {
      await topics.waitFor('the child agent enrolled and connected', () =>
        readAgentLogs(home).includes('channel open'),
      );
      change(10);
      await topics.waitFor('the first changes', () => delivered() === 10);

      // A burst large enough to take several batches: killed once some of it is acknowledged, not all.
      const burst = 5000;
      change(burst);
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const depth = queueDepth();
        if (depth > 0 && depth < burst) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      running.child.kill('SIGKILL');
      expect(await running.exited).toBe(null);
      // What the dead agent still holds: every message not acknowledged, with its sequence number.
      const queuedAtKill = withStore((store) => store.head(burst + 100, Number.MAX_SAFE_INTEGER));
      expect(queuedAtKill.length, 'the kill came after the whole burst was delivered').toBeGreaterThan(0);
      expect(queuedAtKill.length).toBeLessThan(burst);

      // The ack the kill lost, made certain rather than left to the kill's timing: the head of the dead
      // agent's queue is delivered with its own keys, as its last batch would have been, and acknowledged
      // on a channel the agent never reads. Its queue still holds those messages when it restarts. (Any the
      // gateway had already produced before the kill, it acknowledges here without producing them again.)
      const enrolment = withStore((store) => store.enrolment());
      const keys = await withStore((store) =>
        store.keys(() => Promise.reject(new Error('the agent has no keys'))),
      );
      if (enrolment === undefined) throw new Error('the agent was never enrolled');
      const binding = { tenantId: enrolment.tenantId, connectorId: enrolment.connectorId };
      const { channel, answer } = await openRawChannel(api, { ...binding, signing: keys.signing });
      expect(answer.type).toBe('welcome');
      const lostAck = queuedAtKill.slice(0, 100);
      const lastLost = lostAck.at(-1)?.seq ?? 0;
      channel.send(
        await sealedBatch(
          enrolment.tenantKey.publicKey,
          binding,
          lostAck.map((message) => ({
            id: message.id,
            seq: message.seq,
            body: { type: message.type, time: message.time, data: message.data },
          })),
        ),
      );
      expect(await channel.next()).toMatchObject({ type: 'ack', seq: lastLost, rejected: [] });
      channel.close();
      change(20); // made while the agent is dead

      running = spawnAgent({ configFile, clientKey: connector.clientKey });
      await topics.waitFor(
        `all ${String(expected.length)} changes after the restart`,
        () => delivered() === expected.length,
        60_000,
      );
      await waitFor('the restarted agent to have everything acknowledged', () =>
        Promise.resolve(queueDepth() === 0 || undefined),
      );
      running.child.kill('SIGTERM');
      await running.exited;

      // Everything this connector ever had produced: the agent is stopped, so the topics' ends bound it.
      const produced = (
        await readTopicsToEnd(api.brokers, [api.topic('imports'), api.topic('pulses')])
      ).filter((message) => message.source === `/agents/${connector.connectorId}`);
      const copies = new Map<string, number>();
      for (const message of produced) copies.set(message.id, (copies.get(message.id) ?? 0) + 1);
      // The agent numbers its messages 1, 2, 3… (never one id twice); the gateway records the last number
      // it produced. Every number produced once: as many messages as numbers, each id once.
      const lastNumbered = lastSequence(home);
      const [recorded] = await query<{ last_produced_seq: string }>(
        api.database.url,
        'select last_produced_seq from connector where id = $1',
        [connector.connectorId],
      );
      expect(Number(recorded?.last_produced_seq)).toBe(lastNumbered);
      expect(produced.length).toBe(lastNumbered);
      expect([...copies].filter(([, count]) => count > 1)).toEqual([]);
      // In particular the messages queued at the kill, the ones whose ack was lost among them: once each.
      expect(queuedAtKill.filter((message) => copies.get(message.id) !== 1).map((m) => m.seq)).toEqual([]);
      // And the directory's changes, those made while the agent was dead included: each once.
      const descriptions = produced
        .map((message) => (message.data.attributes as { description?: unknown } | undefined)?.description)
        .filter((description) => typeof description === 'string' && description.startsWith(marker));
      expect(descriptions.sort()).toEqual(expected);
    } finally {
      running.child.kill('SIGTERM');
      await running.exited;
    }
  }, 150_000);

  it('logs neither a password nor an attribute value, in the service or in the agents', async () => {
    for (const agent of agents) await agent.stop();
    const agentLogs = agentDirs.map((path) => readAgentLogs(path)).join('');
    const serviceLog = readFileSync(api.logFile, 'utf8');
    // The logs are there (the check below would pass on empty files otherwise).
    expect(serviceLog).toContain('agent connected');
    expect(agentLogs).toContain('channel open');
    for (const [name, log] of [
      ['service', serviceLog],
      ['agent', agentLogs],
    ] as const) {
      expect(log.includes(testPassword), `${name} log holds the password`).toBe(false);
      expect(log.includes(distinctiveValue), `${name} log holds an attribute value`).toBe(false);
    }
  });
});
