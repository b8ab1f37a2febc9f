// Malformed imports on the real Kafka broker and PostgreSQL: a batch of random broken messages (fast-check
// mutations of valid ones: wrong types, hostile keys, text PostgreSQL cannot store, missing fields, bad
// headers, bytes that are not JSON) sent with a few valid ones to the `imports` topic. Every broken one ends
// in `deadletter` with its reason, every valid one in the Application Repository, and nothing else is stored.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { Message } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageType } from '../../kernel/contracts/messages.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { recordHeaders } from '../../streams/cloudevents.ts';
import {
  copyOf,
  hostileKey,
  nestedObject,
  places,
  replaceAt,
  setOwn,
  unstorableText,
  validData,
} from '../support/message-arbitraries.ts';
import { waitUntilSettled } from '../support/settled.ts';
import {
  createStreamsFixture,
  header,
  query,
  readTopic,
  startTestEngine,
  type StreamsFixture,
} from '../support/streams.ts';

const MALFORMED = 60;
const VALID = 6;
const importTypes: MessageType[] = [
  'joinery.import.object.v1',
  'joinery.import.objects.v1',
  'joinery.import.run.v1',
];

type Broken = { data: unknown } | { bytes: Buffer | null } | { headers: Record<string, string> };

/** One way to break a valid import message, drawn at random. */
function breakage(tenantId: string): fc.Arbitrary<{ type: MessageType; data: unknown; broken: Broken }> {
  return fc.constantFrom(...importTypes).chain((type) =>
    validData(type, tenantId).chain((data) => {
      const spot = fc.constantFrom(...places(data).filter(([path]) => path.length > 0));
      const objects = places(data).filter(
        ([, value]) => typeof value === 'object' && value !== null && !Array.isArray(value),
      );
      const headers = recordHeaders({
        id: 'x',
        type,
        source: '/fuzz',
        time: new Date().toISOString(),
        tenantId,
      });
      const broken: fc.Arbitrary<Broken> = fc.oneof(
        fc.tuple(spot, nestedObject).map(([[path], value]) => ({ data: replaceAt(data, path, value) })),
        fc.tuple(spot, unstorableText).map(([[path], text]) => ({ data: replaceAt(data, path, text) })),
        fc.tuple(fc.constantFrom(...objects), hostileKey).map(([[path], key]) => {
          const changed = copyOf(data);
          let target: unknown = changed;
          for (const part of path) target = (target as Record<string | number, unknown>)[part];
          setOwn(target as object, key, 'x');
          return { data: changed };
        }),
        fc
          .constantFrom(
            ...['tenantId', 'applicationId', 'observedAt', 'at', 'runId'].filter((name) => name in data),
          )
          .filter((name) => name !== 'runId' || type === 'joinery.import.run.v1')
          .map((name) => ({
            data: Object.fromEntries(Object.entries(data).filter(([key]) => key !== name)),
          })),
        fc.constantFrom(
          { bytes: null },
          { bytes: Buffer.from('{"tenantId": oops') },
          { bytes: Buffer.from([0xff, 0xfe, 0x00, 0x01]) },
          { bytes: Buffer.from('[]') },
        ),
        fc
          .tuple(
            fc.constantFrom('ce_specversion', 'ce_type', 'ce_time', 'ce_tenantid'),
            fc.constantFrom('', 'joinery.pulse.v1', 'yesterday', randomUUID(), 'a\u0000b', '2.0', '\ud800'),
          )
          .map(([name, value]) => ({ headers: { ...headers, [name]: value } })),
      );
      return broken.map((how) => ({ type, data, broken: how }));
    }),
  );
}

describe('malformed imports (real Kafka and PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    engine = await startTestEngine(fixture);
  });
  afterAll(async () => {
    await engine.stop();
    await fixture.close();
  });

  it('dead-letters every malformed message with its reason, stores the valid ones and nothing else', async () => {
    const { tenantId } = fixture;
    const seed = Date.now();
    const messages: Message[] = [];
    const fuzzIds: string[] = [];
    const described = new Map<string, string>();
    for (const [index, { type, data, broken }] of fc
      .sample(breakage(tenantId), { numRuns: MALFORMED, seed })
      .entries()) {
      const fuzzId = `fuzz-${String(index)}`;
      fuzzIds.push(fuzzId);
      described.set(fuzzId, `${type} ${JSON.stringify(broken).slice(0, 400)}`);
      const headers = {
        ...recordHeaders({ id: fuzzId, type, source: '/fuzz', time: new Date().toISOString(), tenantId }),
        ...('headers' in broken ? broken.headers : {}),
        'x-fuzz-id': fuzzId,
      };
      const value =
        'bytes' in broken ? broken.bytes : Buffer.from(JSON.stringify('data' in broken ? broken.data : data));
      messages.push({ key: randomUUID(), value, headers });
    }
    const applicationId = randomUUID();
    const at = new Date().toISOString();
    const validIds = Array.from({ length: VALID }, (_, index) => `valid-${String(index)}`);
    for (const externalId of validIds) {
      const data = {
        tenantId,
        applicationId,
        objectClass: 'user',
        externalId,
        operation: 'upsert',
        // Names JavaScript objects have, and text that is unusual but storable.
        attributes: {
          constructor: 'c',
          toString: 's',
          mail: `${externalId}@example.com`,
          note: 'é 🚀 \u200b',
        },
        observedAt: at,
      };
      messages.push({
        key: `${applicationId}:${externalId}`,
        value: Buffer.from(JSON.stringify(data)),
        headers: {
          ...recordHeaders({
            id: externalId,
            type: 'joinery.import.object.v1',
            source: '/fuzz',
            time: at,
            tenantId,
          }),
          'x-fuzz-id': externalId,
        },
      });
    }
    await fixture.send('imports', messages);
    await waitUntilSettled(fixture);

    const dead = await readTopic(
      fixture.bus,
      fixture.topic('deadletter'),
      (received) =>
        received.filter((message) => header(message, 'x-fuzz-id') !== undefined).length >= MALFORMED,
    );
    const byId = new Map(dead.map((message) => [header(message, 'x-fuzz-id'), message]));
    for (const fuzzId of fuzzIds) {
      const letter = byId.get(fuzzId);
      expect(letter, `seed ${String(seed)}: ${fuzzId} was not dead-lettered`).toBeDefined();
      expect(header(letter ?? ({} as never), 'joinery_dlq_reason')?.length).toBeGreaterThan(0);
      expect(header(letter ?? ({} as never), 'joinery_dlq_code')).toMatch(/^JNY_/);
    }
    for (const externalId of validIds)
      expect(byId.has(externalId), `${externalId} dead-lettered`).toBe(false);

    const stored = await query<{
      application_id: string;
      external_id: string;
      attributes: Record<string, unknown>;
    }>(
      fixture.database.url,
      'select application_id, external_id, attributes from repository_object where tenant_id = $1 order by external_id',
      [tenantId],
    );
    expect(stored.map((row) => `${row.application_id}:${row.external_id}`)).toEqual(
      validIds.map((externalId) => `${applicationId}:${externalId}`),
    );
    expect(stored[0]?.attributes).toMatchObject({ constructor: 'c', toString: 's' });
    const runs = await query(fixture.database.url, 'select run_id from import_run where tenant_id = $1', [
      tenantId,
    ]);
    expect(runs, `seed ${String(seed)}: a malformed run marker was recorded`).toEqual([]);
  });
});
