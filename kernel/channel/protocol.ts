// The agent channel's wire protocol: JSON text frames over one WebSocket the agent opens to the API.
// Frames carry ids and counters in clear; anything with attribute values or secrets (messages, export
// instructions, export results) travels HPKE-sealed (see sealing.ts), bound to tenant, connector and id.
//
//   API → agent  challenge {nonce}            agent → API  hello {tenantId, connectorId, signature}
//   API → agent  welcome {lastProducedSeq}    agent → API  batch {enc, messages[{id, seq, ciphertext}]}
//   API → agent  ack {seq, rejected[]} | nack agent → API  heartbeat {version, health, queueDepth}
//   API → agent  exports {enc, items[]}       agent → API  export-results {enc, items[]}
//   API → agent  results-ack {exportIds}      API → agent  heartbeat-ack, error {code, message}
import { Type, type Static, type TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { SealedPayloadError, ValidationError } from '../errors.ts';
import { CHANNEL_PROTOCOL } from './sealing.ts';

const strict = { additionalProperties: false } as const;
const Base64 = Type.String({ minLength: 1, maxLength: 1_048_576, pattern: '^[A-Za-z0-9+/]*={0,2}$' });
const Uuid = Type.String({ format: 'uuid' });
const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Channel parameters the API gives at enrolment and in welcome. */
export const ChannelParametersSchema = Type.Object(
  {
    path: Type.String({ description: 'The WebSocket path, e.g. /v1/agent/channel.' }),
    protocol: Type.String(),
    heartbeatMs: Type.Integer({ minimum: 1000 }),
    maxBatchMessages: Type.Integer({ minimum: 1 }),
    maxFrameBytes: Type.Integer({ minimum: 1024 }),
  },
  strict,
);
export type ChannelParameters = Static<typeof ChannelParametersSchema>;

export const HealthSchema = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('failing')]),
    problems: Type.Optional(Type.Array(Type.String({ maxLength: 512 }), { maxItems: 20 })),
  },
  strict,
);

const SealedItem = Type.Object({ exportId: Uuid, ciphertext: Base64 }, strict);

export const AgentFrameSchema = Type.Union([
  Type.Object(
    {
      type: Type.Literal('hello'),
      tenantId: Uuid,
      connectorId: Uuid,
      agentVersion: Type.String({ minLength: 1, maxLength: 64 }),
      signature: Base64,
    },
    strict,
  ),
  Type.Object(
    {
      type: Type.Literal('batch'),
      batchId: Id,
      enc: Base64,
      messages: Type.Array(
        Type.Object({ id: Id, seq: Type.Integer({ minimum: 1 }), ciphertext: Base64 }, strict),
        { minItems: 1, maxItems: 5000 },
      ),
    },
    strict,
  ),
  Type.Object(
    {
      type: Type.Literal('heartbeat'),
      at: Type.String({ format: 'date-time' }),
      version: Type.String({ minLength: 1, maxLength: 64 }),
      health: HealthSchema,
      queueDepth: Type.Integer({ minimum: 0 }),
    },
    strict,
  ),
  Type.Object(
    {
      type: Type.Literal('export-results'),
      enc: Base64,
      items: Type.Array(SealedItem, { minItems: 1, maxItems: 1000 }),
    },
    strict,
  ),
]);
export type AgentFrame = Static<typeof AgentFrameSchema>;

export const RejectionSchema = Type.Object(
  { id: Id, seq: Type.Integer(), code: Type.String(), reason: Type.String() },
  strict,
);
export type Rejection = Static<typeof RejectionSchema>;

export const ServerFrameSchema = Type.Union([
  Type.Object({ type: Type.Literal('challenge'), protocol: Type.String(), nonce: Base64 }, strict),
  Type.Object(
    {
      type: Type.Literal('welcome'),
      connectorId: Uuid,
      /** Messages at or below this sequence were already produced: the agent drops them unsent. */
      lastProducedSeq: Type.Integer({ minimum: 0 }),
      channel: ChannelParametersSchema,
    },
    strict,
  ),
  Type.Object(
    {
      type: Type.Literal('ack'),
      batchId: Id,
      /** Every message up to this sequence is produced (or refused, then listed in rejected). */
      seq: Type.Integer({ minimum: 0 }),
      rejected: Type.Array(RejectionSchema),
    },
    strict,
  ),
  Type.Object(
    {
      type: Type.Literal('nack'),
      batchId: Id,
      code: Type.String(),
      message: Type.String(),
      retriable: Type.Boolean(),
    },
    strict,
  ),
  Type.Object(
    {
      type: Type.Literal('exports'),
      enc: Base64,
      items: Type.Array(SealedItem, { minItems: 1 }),
    },
    strict,
  ),
  Type.Object({ type: Type.Literal('results-ack'), exportIds: Type.Array(Uuid) }, strict),
  Type.Object({ type: Type.Literal('heartbeat-ack'), at: Type.String() }, strict),
  Type.Object({ type: Type.Literal('error'), code: Type.String(), message: Type.String() }, strict),
]);
export type ServerFrame = Static<typeof ServerFrameSchema>;

/** What an agent → API batch message opens to. */
export const SealedMessageBodySchema = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 128 }),
    time: Type.String({ format: 'date-time' }),
    data: Type.Unknown(),
  },
  strict,
);
export type SealedMessageBody = Static<typeof SealedMessageBodySchema>;

/** WebSocket close codes of the channel (4000–4999 are the application's). */
export const closeCodes = {
  unauthenticated: 4401,
  revoked: 4403,
  superseded: 4409,
  protocol: 4400,
  unavailable: 4503,
  /** More bytes before hello than the gateway allows an unauthenticated socket. */
  tooLarge: 4413,
  /** Too many sockets from this address, or of this tenant: retry later. */
  tooMany: 4429,
} as const;

const validators = new Map<TSchema, Validator<Record<PropertyKey, TSchema>>>();

/** Parses and validates one frame; the error says which part is wrong. */
export function parseFrame<S extends TSchema>(schema: S, raw: string, what: string): Static<S> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new ValidationError(`${what} is not JSON`, { cause: error });
  }
  let validator = validators.get(schema);
  if (validator === undefined) {
    validator = Compile(schema);
    validators.set(schema, validator);
  }
  if (!validator.Check(value)) {
    const type = (value as { type?: unknown } | null)?.type;
    throw new ValidationError(
      `${what}${typeof type === 'string' ? ` "${type}"` : ''} does not match the protocol ${CHANNEL_PROTOCOL}`,
    );
  }
  return value as Static<S>;
}

/** Parses the JSON a sealed payload opened to. */
export function parseOpened(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new SealedPayloadError(`${what} opened but is not JSON`, { cause: error });
  }
}

const RawKey = Type.String({ pattern: '^[A-Za-z0-9+/]{43}=$', description: 'A raw 32-byte key, base64.' });

/** POST /v1/agent/enrol: the one-time client key and the agent's public keys. */
export const EnrolmentRequestSchema = Type.Object(
  {
    tenantId: Uuid,
    connectorId: Uuid,
    clientKey: Type.String({ minLength: 1, maxLength: 200 }),
    publicKeys: Type.Object(
      {
        x25519: { ...RawKey, description: 'HPKE: the API seals export instructions to it.' },
        ed25519: { ...RawKey, description: 'The agent signs the channel challenge with it.' },
      },
      strict,
    ),
    agentVersion: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  strict,
);
export type EnrolmentRequest = Static<typeof EnrolmentRequestSchema>;

export const TenantKeySchema = Type.Object(
  { keyId: Type.String(), publicKey: Type.String(), suite: Type.String() },
  strict,
);

export const EnrolmentResponseSchema = Type.Object(
  {
    tenantId: Uuid,
    connectorId: Uuid,
    applicationIds: Type.Array(Uuid),
    tenantKey: TenantKeySchema,
    channel: ChannelParametersSchema,
  },
  strict,
);
export type EnrolmentResponse = Static<typeof EnrolmentResponseSchema>;

/** What one sealed export result opens to (agent/src/contracts.ts WritebackResult). */
export const WritebackResultSchema = Type.Union([
  Type.Object(
    {
      status: Type.Literal('succeeded'),
      externalId: Type.String({ minLength: 1, maxLength: 1024 }),
      dn: Type.Optional(Type.String({ maxLength: 4096 })),
    },
    strict,
  ),
  Type.Object(
    {
      status: Type.Literal('failed'),
      code: Type.String({ minLength: 1, maxLength: 128 }),
      message: Type.String({ maxLength: 4096 }),
      retriable: Type.Boolean(),
    },
    strict,
  ),
]);

/** Checks a value against a protocol schema (compiled once). */
export function matches<S extends TSchema>(schema: S, value: unknown): value is Static<S> {
  let validator = validators.get(schema);
  if (validator === undefined) {
    validator = Compile(schema);
    validators.set(schema, validator);
  }
  return validator.Check(value);
}
