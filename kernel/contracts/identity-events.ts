// What an identity actor hears and what it asks the world to do. The event schemas are the single source
// of truth: the identity machine's types are derived from them, and streams/ embeds them in the
// `identity` and `pulses` message contracts, validated when a message is consumed.
import { Type, type Static } from 'typebox';

const strict = { additionalProperties: false } as const;

/** An ISO 8601 instant. Events carry their own time so the machine stays pure and replayable. */
const Instant = Type.String({
  format: 'date-time',
  description: 'ISO 8601 instant, e.g. 2026-11-23T10:00:00Z',
});

export const SourceSchema = Type.Object(
  {
    applicationId: Type.String({ format: 'uuid', description: 'The application the object belongs to.' }),
    externalId: Type.String({
      minLength: 1,
      maxLength: 1024,
      description: "The object's anchor in that application (e.g. an AD objectGUID, an LDAP entryUUID).",
    }),
  },
  strict,
);
export type Source = Static<typeof SourceSchema>;

const Scalar = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);
export const AttributeValueSchema = Type.Union([Scalar, Type.Null(), Type.Array(Scalar)]);
export type AttributeValue = Static<typeof AttributeValueSchema>;

// additionalProperties: a record keyed by a pattern only checks the keys that match it (patternProperties);
// without it, a name that does not match would pass with any value, nested objects included.
const AttributeName = Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,127}$' });
export const AttributesSchema = Type.Record(AttributeName, AttributeValueSchema, strict);
export type Attributes = Static<typeof AttributesSchema>;

/** The lifecycle status the Inbound stage derived for the identity from its authoritative source. */
export const LifecycleStatusSchema = Type.Union([
  Type.Literal('active'),
  Type.Literal('disabled'),
  Type.Literal('left'),
]);
export type LifecycleStatus = Static<typeof LifecycleStatusSchema>;

export const InboundChangedSchema = Type.Object(
  {
    type: Type.Literal('inbound.changed'),
    at: Instant,
    source: SourceSchema,
    attributes: AttributesSchema,
    /** Per attribute, this source's authority for it (default 0): a higher one is never overwritten by a lower. */
    authority: Type.Optional(Type.Record(AttributeName, Type.Integer({ minimum: 0, maximum: 1000 }), strict)),
    lifecycle: Type.Optional(LifecycleStatusSchema),
  },
  strict,
);

/**
 * An application object no longer belongs to the identity (unjoined, or joined by hand to another one):
 * the identity forgets it as a source, and the attributes that source's application supplied.
 */
export const InboundDetachedSchema = Type.Object(
  {
    type: Type.Literal('inbound.detached'),
    at: Instant,
    source: SourceSchema,
    by: Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'Who detached it, e.g. service-account:<id>.',
    }),
  },
  strict,
);

export const PulseEnableSchema = Type.Object(
  { type: Type.Literal('pulse.enable'), at: Instant, source: SourceSchema },
  strict,
);
export const PulseDisableSchema = Type.Object(
  { type: Type.Literal('pulse.disable'), at: Instant, source: SourceSchema },
  strict,
);

/** Password material stays encrypted end to end: the engine only ever moves the ciphertext. */
export const SealedSecretSchema = Type.Object(
  {
    keyId: Type.String({ minLength: 1, maxLength: 256, description: 'Which recipient key sealed it.' }),
    ciphertext: Type.String({ minLength: 1, maxLength: 65536, contentEncoding: 'base64' }),
  },
  strict,
);
export type SealedSecret = Static<typeof SealedSecretSchema>;

export const PulsePasswordSchema = Type.Object(
  { type: Type.Literal('pulse.password'), at: Instant, source: SourceSchema, secret: SealedSecretSchema },
  strict,
);

export const TimerKindSchema = Type.Literal('deletion');
export type TimerKind = Static<typeof TimerKindSchema>;

export const TimerFiredSchema = Type.Object(
  {
    type: Type.Literal('timer.fired'),
    at: Instant,
    timerId: Type.String({ minLength: 1 }),
    kind: TimerKindSchema,
  },
  strict,
);

/** An administrator cancels a pending deferred task (today: a leaver's scheduled deletion) through the API. */
export const TimerCancelledSchema = Type.Object(
  {
    type: Type.Literal('timer.cancelled'),
    at: Instant,
    timerId: Type.String({ minLength: 1 }),
    by: Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'Who cancelled it, e.g. service-account:<id>.',
    }),
  },
  strict,
);

/** The identity's classification as the plan decides it from its merged attributes (set by the host). */
export const ClassifiedSchema = Type.Object(
  { type: Type.Literal('classified'), at: Instant, classification: Type.Integer({ minimum: 0 }) },
  strict,
);

/** Vault attributes set by the plan's rules over the merged attributes (set by the host). */
export const RulesAppliedSchema = Type.Object(
  {
    type: Type.Literal('rules.applied'),
    at: Instant,
    attributes: AttributesSchema,
    rules: Type.Array(Type.String(), { description: 'The names of the rules that set them.' }),
  },
  strict,
);

/**
 * The tenant applied a plan version that changes how identities are classified, which rules run or what
 * goes out to the targets: the identity is looked at again by that plan (sent by the plan reconciliation).
 */
export const PlanAppliedSchema = Type.Object(
  {
    type: Type.Literal('plan.applied'),
    at: Instant,
    version: Type.Integer({ minimum: 1, description: 'The plan version to look at the identity with.' }),
  },
  strict,
);

export const IdentityEventSchema = Type.Union([
  InboundChangedSchema,
  InboundDetachedSchema,
  PulseEnableSchema,
  PulseDisableSchema,
  PulsePasswordSchema,
  TimerFiredSchema,
  TimerCancelledSchema,
  ClassifiedSchema,
  RulesAppliedSchema,
  PlanAppliedSchema,
]);
export type IdentityEvent = Static<typeof IdentityEventSchema>;
export type PulseEvent = Extract<IdentityEvent, { type: `pulse.${string}` }>;

/** Fixed at an identity's creation; later issues' sync plans supply it. */
export interface IdentityInput {
  tenantId: string;
  identityId: string;
  /** Days between leaving and deletion; a return within them cancels the deletion. */
  deletionDelayDays?: number;
}

export type OutboundChange = 'create' | 'update' | 'enable' | 'disable' | 'password' | 'delete';

/** What the machine asks for. The host executes effects in the same transaction as the new snapshot. */
export type IdentityEffect =
  | {
      type: 'outbound';
      change: OutboundChange;
      identityId: string;
      /** create/update: the attributes that really changed, with their new values. */
      attributes?: Attributes;
      /** password: the sealed secret, passed through untouched. */
      secret?: SealedSecret;
      /** The application object that caused it, when one did. */
      source?: Source;
      at: string;
    }
  | { type: 'timer.schedule'; timerId: string; kind: TimerKind; identityId: string; dueAt: string }
  | { type: 'timer.cancel'; timerId: string; identityId: string }
  | { type: 'log'; identityId: string; message: string; from: string; to: string; at: string };
