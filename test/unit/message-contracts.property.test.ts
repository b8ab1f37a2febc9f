// Property-based: whatever reaches a topic, decodeMessage (what every consumer runs first) answers fast with
// either the message or a refusal that names the field — it never throws, and it accepts every valid message.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { messageValidator } from '../../kernel/contracts/message-validators.ts';
import {
  messageContracts,
  messageTypes,
  topicIds,
  type MessageType,
} from '../../kernel/contracts/messages.ts';
import {
  decodeMessage,
  MAX_REASON_LENGTH,
  recordHeaders,
  type DecodeResult,
} from '../../streams/cloudevents.ts';
import {
  copyOf,
  hostileKey,
  nestedObject,
  places,
  pointer,
  replaceAt,
  setOwn,
  unstorableText,
  validData,
} from '../support/message-arbitraries.ts';

const tenantId = '0b8f5d1c-2f57-4a43-9c5e-2d6bb4f9a8a1';
const time = '2026-11-23T10:00:00.000Z';
/** Per decode: generous (a decode takes well under a millisecond), it catches a hang, not a slow machine. */
const BOUND_MS = 250;

function decode(type: MessageType, data: unknown): DecodeResult {
  return decodeRaw(type, Buffer.from(JSON.stringify(data)));
}

function decodeRaw(type: MessageType, value: Buffer): DecodeResult {
  const headers = recordHeaders({ id: 'm-1', type, source: '/tests', time, tenantId });
  return timed(() => decodeMessage(messageContracts[type].topic, { value, headers }));
}

function timed<T>(run: () => T): T {
  const started = performance.now();
  const result = run();
  expect(performance.now() - started).toBeLessThan(BOUND_MS);
  return result;
}

function refusal(result: DecodeResult): string {
  if (result.ok) throw new Error(`accepted: ${JSON.stringify(result.envelope.data).slice(0, 300)}`);
  expect(result.code).toBe('JNY_MESSAGE_INVALID');
  expect(result.reason.length).toBeLessThanOrEqual(MAX_REASON_LENGTH);
  return result.reason;
}

const anyType = fc.constantFrom(...messageTypes);
/** A valid message of a random type, with one place of its data picked (the root included). */
const validWithPlace = anyType.chain((type) =>
  validData(type, tenantId).chain((data) =>
    fc.constantFrom(...places(data)).map(([path, value]) => ({ type, data, path, value })),
  ),
);
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

describe('message contracts, property-based', () => {
  it.each(messageTypes)('accepts every valid %s, data unchanged', (type) => {
    fc.assert(
      fc.property(validData(type, tenantId), (data) => {
        const result = decode(type, data);
        expect(result.ok ? '' : result.reason).toBe('');
        expect(result.ok && result.envelope.data).toEqual(JSON.parse(JSON.stringify(data)));
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a scalar replaced by an object or a list of them, naming the field', () => {
    fc.assert(
      fc.property(
        validWithPlace.filter(({ value }) => !isObject(value) && !Array.isArray(value)),
        fc.oneof(nestedObject, fc.array(nestedObject, { minLength: 1, maxLength: 3 })),
        ({ type, data, path }, replacement) => {
          expect(refusal(decode(type, replaceAt(data, path, replacement)))).toContain(pointer(path));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses an unknown, hostile or unstorable property name anywhere, naming where', () => {
    fc.assert(
      fc.property(
        validWithPlace.filter(({ value }) => isObject(value)),
        hostileKey,
        fc.oneof(fc.constant(1), fc.constant('x'), nestedObject),
        ({ type, data, path }, key, value) => {
          const changed = copyOf<Record<string, unknown>>(data);
          let target: unknown = changed;
          for (const part of path) target = (target as Record<string | number, unknown>)[part];
          setOwn(target as object, key, value);
          expect(refusal(decode(type, changed))).toContain(pointer(path));
          // Nothing was polluted on the way.
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses a NUL or a lone surrogate in any string, naming the field', () => {
    fc.assert(
      fc.property(
        validWithPlace.filter(({ value }) => typeof value === 'string'),
        unstorableText,
        ({ type, data, path }, text) => {
          expect(refusal(decode(type, replaceAt(data, path, text)))).toContain(pointer(path));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('takes a huge string anywhere in bounded time: accepted where no limit applies, else refused by name', () => {
    fc.assert(
      fc.property(
        validWithPlace.filter(({ value }) => typeof value === 'string'),
        fc.integer({ min: 2_000, max: 400_000 }),
        ({ type, data, path }, length) => {
          const result = decode(type, replaceAt(data, path, 'x'.repeat(length)));
          if (!result.ok) expect(result.reason).toContain(pointer(path));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('refuses a missing required property by its name', () => {
    const withRequired = anyType.chain((type) =>
      fc.record({
        type: fc.constant(type),
        data: validData(type, tenantId),
        missing: fc.constantFrom(...(messageContracts[type].schema.required as string[])),
      }),
    );
    fc.assert(
      fc.property(withRequired, ({ type, data, missing }) => {
        const changed = Object.fromEntries(Object.entries(data).filter(([key]) => key !== missing));
        expect(refusal(decode(type, changed))).toContain(missing);
      }),
      { numRuns: 100 },
    );
  });

  it('refuses any JSON value that is not the message, never throwing', () => {
    fc.assert(
      fc.property(anyType, fc.jsonValue({ maxDepth: 6 }), (type, value) => {
        const result = decode(type, value);
        if (result.ok) expect(messageValidator(type).Check(result.envelope.data)).toBe(true);
        else expect(result.reason).toMatch(/^data does not match|^data\//);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses arbitrary bytes and headers with a reason, never throwing', () => {
    const headerValue = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom('1.0', ...messageTypes, tenantId, time, 'application/json', '\u0000', '\ud800'),
      fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
    );
    const headerName = fc.constantFrom(
      'ce_specversion',
      'ce_id',
      'ce_type',
      'ce_source',
      'ce_time',
      'ce_tenantid',
      'content-type',
      '__proto__',
      'constructor',
    );
    const value = fc.oneof(
      fc.constant(null),
      fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
      fc.jsonValue({ maxDepth: 4 }).map((json) => Buffer.from(JSON.stringify(json))),
      fc.string({ unit: 'binary', maxLength: 200 }).map((text) => Buffer.from(text)),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...topicIds),
        fc.array(fc.tuple(headerName, headerValue), { maxLength: 10 }),
        value,
        (topic, pairs, bytes) => {
          const headers: Record<string, string | Buffer> = {};
          for (const [name, content] of pairs) setOwn(headers, name, content);
          const result = timed(() => decodeMessage(topic, { value: bytes, headers }));
          if (result.ok) {
            expect(messageContracts[result.envelope.type].topic).toBe(topic);
            expect(messageValidator(result.envelope.type).Check(result.envelope.data)).toBe(true);
          } else expect(result.reason.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses each missing or wrong CloudEvents header by its name', () => {
    const names = ['ce_specversion', 'ce_id', 'ce_type', 'ce_source', 'ce_time', 'ce_tenantid'];
    fc.assert(
      fc.property(
        anyType.chain((type) => fc.tuple(fc.constant(type), validData(type, tenantId))),
        fc.constantFrom(...names),
        fc.boolean(),
        ([type, data], name, remove) => {
          const headers: Record<string, string> = recordHeaders({
            id: 'm-1',
            type,
            source: '/t',
            time,
            tenantId,
          });
          if (remove) Reflect.deleteProperty(headers, name);
          else headers[name] = name === 'ce_id' || name === 'ce_source' ? '' : 'not-it';
          const result = decodeMessage(messageContracts[type].topic, {
            value: Buffer.from(JSON.stringify(data)),
            headers,
          });
          // An empty ce_id or ce_source is a value: the message stands.
          if (!remove && (name === 'ce_id' || name === 'ce_source')) expect(result.ok).toBe(true);
          else expect(refusal(result)).toMatch(name === 'ce_tenantid' ? /ce_tenantid/ : new RegExp(name));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('takes deep nesting, oversized attribute maps and a long property name in bounded time', () => {
    const object = (attributes: string) =>
      Buffer.from(
        `{"tenantId":"${tenantId}","applicationId":"${tenantId}","objectClass":"user","externalId":"e",` +
          `"operation":"upsert","observedAt":"${time}","attributes":${attributes}}`,
      );
    const deep = (depth: number) => `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    expect(refusal(decodeRaw('joinery.import.object.v1', object(deep(200_000))))).toContain('/attributes/a');
    expect(
      refusal(
        decodeRaw(
          'joinery.import.object.v1',
          object(`{"a":1,"b":${'{"c":'.repeat(1e5)}1${'}'.repeat(1e5)}}`),
        ),
      ),
    ).toContain('/attributes/b');
    // 20,000 attributes (about 500 KB): within the contract, which bounds names and types, not how many.
    const many = `{${Array.from({ length: 20_000 }, (_, index) => `"attribute${String(index)}":"value ${String(index)}"`).join(',')}}`;
    expect(decodeRaw('joinery.import.object.v1', object(many)).ok).toBe(true);
    const longName = refusal(decodeRaw('joinery.import.object.v1', object(`{"${'n'.repeat(500_000)}":1}`)));
    expect(longName).toContain('/attributes must not have additional properties');
  });
});
