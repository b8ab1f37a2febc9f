// fast-check arbitraries for the message contracts (kernel/contracts/messages.ts): valid messages of every
// type, and ways to break one (a field of the wrong type, an unknown or hostile key, text PostgreSQL cannot
// store, a huge string), each saying which field it broke so a test can check the refusal names it.
import fc from 'fast-check';
import type { MessageType } from '../../kernel/contracts/messages.ts';

const uuid = fc.uuid();
const instant = fc
  .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true })
  .map((date) => date.toISOString());

/** Text PostgreSQL stores: any Unicode, but no NUL and no lone surrogate. */
export const storableText = (options: { minLength?: number; maxLength: number }) =>
  fc.string({ unit: 'binary', ...options }).filter((text) => !text.includes('\u0000') && text.isWellFormed());

export const attributeName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.-]{0,24}$/);
const scalar = fc.oneof(
  storableText({ maxLength: 40 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
);
const attributeValue = fc.oneof(scalar, fc.constant(null), fc.array(scalar, { maxLength: 4 }));
export const attributes = fc.dictionary(attributeName, attributeValue, { maxKeys: 8 });

const text = (maxLength: number) => storableText({ minLength: 1, maxLength });
const source = fc.record({ applicationId: uuid, externalId: text(64) });
const secret = fc.record({ keyId: text(32), ciphertext: fc.base64String({ minLength: 4, maxLength: 64 }) });

const pulseEvent = fc.oneof(
  fc.record({ type: fc.constant('pulse.enable'), at: instant, source }),
  fc.record({ type: fc.constant('pulse.disable'), at: instant, source }),
  fc.record({ type: fc.constant('pulse.password'), at: instant, source, secret }),
);

const identityEvent = fc.oneof(
  fc.record(
    {
      type: fc.constant('inbound.changed'),
      at: instant,
      source,
      attributes,
      authority: fc.dictionary(attributeName, fc.integer({ min: 0, max: 1000 }), { maxKeys: 3 }),
      lifecycle: fc.constantFrom('active', 'disabled', 'left'),
    },
    { requiredKeys: ['type', 'at', 'source', 'attributes'] },
  ),
  fc.record({ type: fc.constant('inbound.detached'), at: instant, source, by: text(40) }),
  pulseEvent,
  fc.record({
    type: fc.constant('timer.fired'),
    at: instant,
    timerId: text(40),
    kind: fc.constant('deletion'),
  }),
  fc.record({ type: fc.constant('timer.cancelled'), at: instant, timerId: text(40), by: text(40) }),
  fc.record({ type: fc.constant('classified'), at: instant, classification: fc.nat() }),
  fc.record({
    type: fc.constant('rules.applied'),
    at: instant,
    attributes,
    rules: fc.array(fc.string(), { maxLength: 3 }),
  }),
  fc.record({ type: fc.constant('plan.applied'), at: instant, version: fc.integer({ min: 1 }) }),
);

const change = fc.constantFrom('create', 'update', 'enable', 'disable', 'password', 'delete');

/** A valid message's data of each type, for the tenant given. */
export function validData(type: MessageType, tenantId: string): fc.Arbitrary<Record<string, unknown>> {
  const tenant = fc.constant(tenantId);
  switch (type) {
    case 'joinery.import.object.v1':
      return fc.record(
        {
          tenantId: tenant,
          applicationId: uuid,
          runId: uuid,
          objectClass: text(32),
          externalId: text(128),
          operation: fc.constantFrom('upsert', 'delete'),
          attributes,
          observedAt: instant,
          refeed: fc.boolean(),
        },
        {
          requiredKeys: ['tenantId', 'applicationId', 'objectClass', 'externalId', 'operation', 'observedAt'],
        },
      );
    case 'joinery.import.objects.v1':
      return fc.record(
        {
          tenantId: tenant,
          applicationId: uuid,
          runId: uuid,
          observedAt: instant,
          objects: fc.array(
            fc.record(
              {
                objectClass: text(32),
                externalId: text(128),
                operation: fc.constantFrom('upsert', 'delete'),
                attributes,
              },
              { requiredKeys: ['objectClass', 'externalId', 'operation'] },
            ),
            { minLength: 1, maxLength: 3 },
          ),
        },
        { requiredKeys: ['tenantId', 'applicationId', 'observedAt', 'objects'] },
      );
    case 'joinery.import.run.v1':
      return fc.record(
        {
          tenantId: tenant,
          applicationId: uuid,
          runId: uuid,
          kind: fc.constantFrom('full', 'delta'),
          phase: fc.constantFrom('started', 'completed', 'aborted'),
          objectCount: fc.nat(),
          at: instant,
        },
        { requiredKeys: ['tenantId', 'applicationId', 'runId', 'kind', 'phase', 'at'] },
      );
    case 'joinery.pulse.v1':
      return fc.record(
        { tenantId: tenant, identityId: uuid, event: pulseEvent, producedAt: instant },
        { requiredKeys: ['tenantId', 'event'] },
      );
    case 'joinery.identity.event.v1':
      return fc.record(
        {
          tenantId: tenant,
          identityId: uuid,
          event: identityEvent,
          deletionDelayDays: fc.integer({ min: 0, max: 36500 }),
          hardJoinRecorded: fc.boolean(),
        },
        { requiredKeys: ['tenantId', 'identityId', 'event'] },
      );
    case 'joinery.schedule.fired.v1':
      return fc.record({
        tenantId: tenant,
        identityId: uuid,
        timerId: text(64),
        kind: fc.constant('deletion'),
        dueAt: instant,
      });
    case 'joinery.outbound.v1':
      return fc.record(
        { tenantId: tenant, identityId: uuid, change, attributes, secret, source, at: instant },
        { requiredKeys: ['tenantId', 'identityId', 'change', 'at'] },
      );
    case 'joinery.export.v1':
      return fc.record(
        {
          tenantId: tenant,
          exportId: uuid,
          applicationId: uuid,
          objectClass: text(32),
          externalId: text(128),
          identityId: uuid,
          operation: change,
          attributes,
          members: fc.record({
            add: fc.array(text(64), { maxLength: 3 }),
            remove: fc.array(text(64), { maxLength: 3 }),
          }),
          secret,
          attempt: fc.integer({ min: 1, max: 100 }),
          at: instant,
        },
        { requiredKeys: ['tenantId', 'exportId', 'applicationId', 'identityId', 'operation', 'at'] },
      );
    case 'joinery.export.result.v1':
      return fc.record(
        {
          tenantId: tenant,
          exportId: uuid,
          applicationId: uuid,
          status: fc.constantFrom('succeeded', 'failed'),
          externalId: text(128),
          code: text(64),
          message: storableText({ maxLength: 200 }),
          retriable: fc.boolean(),
          attempt: fc.integer({ min: 1, max: 100 }),
          at: instant,
        },
        { requiredKeys: ['tenantId', 'exportId', 'applicationId', 'status', 'at'] },
      );
    case 'joinery.log.v1':
      return fc.record(
        {
          tenantId: tenant,
          at: instant,
          level: fc.constantFrom('info', 'warn', 'error'),
          category: text(32),
          message: storableText({ maxLength: 200 }),
          identityId: uuid,
          lifecycle: fc.record({ from: fc.string(), to: fc.string() }),
        },
        { requiredKeys: ['tenantId', 'at', 'level', 'category', 'message'] },
      );
  }
}

export type Path = (string | number)[];

/** A JSON Pointer, as the schema validation and decodeMessage write them. */
export const pointer = (path: Path): string =>
  path.length === 0 ? '/' : path.map((part) => `/${String(part)}`).join('');

/** Every place in a JSON value: [path, value], the root included. */
export function places(value: unknown, path: Path = []): [Path, unknown][] {
  const here: [Path, unknown][] = [[path, value]];
  if (Array.isArray(value))
    return here.concat(value.flatMap((item, index) => places(item, [...path, index])));
  if (typeof value === 'object' && value !== null)
    return here.concat(Object.entries(value).flatMap(([key, item]) => places(item, [...path, key])));
  return here;
}

/** Sets an own property, even one named __proto__ (plain assignment would set the prototype instead). */
export function setOwn(target: object, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A deep copy of a JSON value. */
export function copyOf<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** A deep copy of the value with the one at `path` replaced (the root when the path is empty). */
export function replaceAt(value: unknown, path: Path, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const copy = copyOf(value) as Record<string | number, unknown>;
  let parent: Record<string | number, unknown> = copy;
  for (const part of path.slice(0, -1)) parent = parent[part] as Record<string | number, unknown>;
  setOwn(parent, path.at(-1) as string | number, replacement);
  return copy;
}

/** A value no field of any contract accepts in place of a scalar: an object, nested. */
export const nestedObject = fc
  .letrec((tie) => ({
    node: fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.integer(), tie('node')), {
      minKeys: 1,
      maxKeys: 3,
      depthIdentifier: 'nested',
    }),
  }))
  .node.filter((value) => Object.keys(value).length > 0);

/** Property names no contract accepts: prototype pollution, not an attribute name, unstorable. */
export const hostileKey = fc.constantFrom(
  '__proto__',
  '$ref',
  'x y',
  '',
  '0digit',
  'a\u0000b',
  '\ud800',
  'é',
  'a'.repeat(200),
);

/** Text PostgreSQL cannot store, somewhere in an otherwise ordinary string. */
export const unstorableText = fc
  .tuple(
    fc.string({ maxLength: 8 }),
    fc.constantFrom('\u0000', '\ud800', '\udfff', '\udc00x'),
    fc.string({ maxLength: 8 }),
  )
  .map(([before, bad, after]) => `${before}${bad}${after}`);
