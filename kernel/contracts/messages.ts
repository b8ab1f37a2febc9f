// Message contracts: one versioned JSON Schema per message type, from which the TypeScript types, the
// validation on consumption, the schemas served by the API and docs/schemas/ are all derived.
import { Type, type Static, type TSchema } from 'typebox';
import {
  AttributeValueSchema,
  AttributesSchema,
  IdentityEventSchema,
  PulseDisableSchema,
  PulseEnableSchema,
  PulsePasswordSchema,
  SealedSecretSchema,
  SourceSchema,
  TimerKindSchema,
} from './identity-events.ts';

/** Every topic Joinery reads or writes (streams/topics.ts holds their partitioning and retention). */
export const topicIds = [
  'imports',
  'pulses',
  'schedules',
  'identity',
  'outbound',
  'exports',
  'export-results',
  'logstream',
  'deadletter',
] as const;
export type TopicId = (typeof topicIds)[number];

const strict = { additionalProperties: false } as const;
const Uuid = (description: string) => Type.String({ format: 'uuid', description });
const Instant = (description: string) => Type.String({ format: 'date-time', description });
const TenantId = Uuid('The tenant the message belongs to; must equal the ce_tenantid header.');

export const ImportObjectSchema = Type.Object(
  {
    tenantId: TenantId,
    applicationId: Uuid('The application the object was read from.'),
    runId: Type.Optional(Uuid('The import run that read it; absent for a single real-time change.')),
    objectClass: Type.String({ minLength: 1, maxLength: 128, description: 'e.g. user, group, contact.' }),
    externalId: Type.String({
      minLength: 1,
      maxLength: 1024,
      description: "The object's anchor in the application.",
    }),
    operation: Type.Union([Type.Literal('upsert'), Type.Literal('delete')]),
    attributes: Type.Optional(AttributesSchema),
    observedAt: Instant('When the connector read the object.'),
    refeed: Type.Optional(
      Type.Boolean({
        description:
          'Set by Joinery when it looks at a repository object again (its content hash reset): applied only while the object still waits for it, so a newer import that got there first is never undone.',
      }),
    ),
  },
  strict,
);

/** Most objects one `joinery.import.objects.v1` message carries. */
export const MAX_OBJECTS_PER_IMPORT_CHUNK = 5000;

/**
 * Many objects of one application and run in one message, for bulk sources (files): each is what a
 * `joinery.import.object.v1` would carry, without the fields the chunk gives once. All of them must belong
 * to the partition the message is on (the partition of each object's own key), so an object's messages stay
 * in order whichever form they take: the producer groups them by partition (src/connectors/file-import.ts).
 */
export const ImportObjectsSchema = Type.Object(
  {
    tenantId: TenantId,
    applicationId: Uuid('The application the objects were read from.'),
    runId: Type.Optional(Uuid('The import run that read them.')),
    observedAt: Instant('When the connector read them.'),
    objects: Type.Array(
      Type.Object(
        {
          objectClass: ImportObjectSchema.properties.objectClass,
          externalId: ImportObjectSchema.properties.externalId,
          operation: ImportObjectSchema.properties.operation,
          attributes: ImportObjectSchema.properties.attributes,
          id: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 256,
              description:
                "The id of the joinery.import.object.v1 message this object was sent as, when single messages were gathered into this chunk on their way (an agent's, by the gateway): each object stays traceable to the message its source numbered.",
            }),
          ),
        },
        strict,
      ),
      { minItems: 1, maxItems: MAX_OBJECTS_PER_IMPORT_CHUNK },
    ),
  },
  strict,
);

export const ImportRunSchema = Type.Object(
  {
    tenantId: TenantId,
    applicationId: Uuid('The application being imported.'),
    runId: Uuid('The import run.'),
    kind: Type.Union([Type.Literal('full'), Type.Literal('delta')]),
    phase: Type.Union([Type.Literal('started'), Type.Literal('completed'), Type.Literal('aborted')]),
    objectCount: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          "Objects sent in the run, on completed; required on a full run's completed marker (its objects travel on other partitions than the marker: the run completes, and detects deletions, once that many are recorded). A full run completed without it is incomplete: it deletes nothing, and the marker is dead-lettered.",
      }),
    ),
    at: Instant('When the phase was reached.'),
  },
  strict,
);

export const PulseSchema = Type.Object(
  {
    tenantId: TenantId,
    identityId: Type.Optional(
      Uuid(
        'The Vault identity, when the producer knows it; otherwise it is found through the join of event.source.',
      ),
    ),
    event: Type.Union([PulseEnableSchema, PulseDisableSchema, PulsePasswordSchema]),
    producedAt: Type.Optional(Instant('When the producer sent it (for latency measurement).')),
  },
  strict,
);

export const IdentityMessageSchema = Type.Object(
  {
    tenantId: TenantId,
    identityId: Uuid('The Vault identity the event is for.'),
    event: IdentityEventSchema,
    deletionDelayDays: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 36500, description: 'Used when the event creates the identity.' }),
    ),
    hardJoinRecorded: Type.Optional(
      Type.Boolean({
        description:
          "The sender already recorded the hard join of the event's source (the Inbound stage does, as it decides the join), so the actor need not.",
      }),
    ),
    runId: Type.Optional(
      Uuid('The import run whose object caused the event: the exports it leads to count in that run.'),
    ),
  },
  strict,
);

export const ScheduleFiredSchema = Type.Object(
  {
    tenantId: TenantId,
    identityId: Uuid('The identity whose timer came due.'),
    timerId: Type.String({ minLength: 1, maxLength: 256 }),
    kind: TimerKindSchema,
    dueAt: Instant('When the timer was due; the identity sees this as the event time.'),
  },
  strict,
);

const OutboundChangeSchema = Type.Union([
  Type.Literal('create'),
  Type.Literal('update'),
  Type.Literal('enable'),
  Type.Literal('disable'),
  Type.Literal('password'),
  Type.Literal('delete'),
]);

export const OutboundSchema = Type.Object(
  {
    tenantId: TenantId,
    identityId: Uuid('The identity that changed.'),
    change: OutboundChangeSchema,
    attributes: Type.Optional(AttributesSchema),
    secret: Type.Optional(SealedSecretSchema),
    source: Type.Optional(SourceSchema),
    at: Instant('The time of the event that caused the change.'),
  },
  strict,
);

export const ExportSchema = Type.Object(
  {
    tenantId: TenantId,
    exportId: Uuid('Unique per export; the connector acknowledges it, and a redelivery carries the same id.'),
    applicationId: Uuid('The target application.'),
    objectClass: Type.Optional(
      Type.String({ minLength: 1, maxLength: 128, description: 'e.g. user, group, contact (default user).' }),
    ),
    externalId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1024, description: 'Absent for a create.' }),
    ),
    identityId: Uuid('The identity the object is joined to.'),
    operation: OutboundChangeSchema,
    // create: the whole object; update: only what changes. An attribute `dn` asks for a rename or move.
    attributes: Type.Optional(AttributesSchema),
    members: Type.Optional(
      Type.Object(
        {
          add: Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), {
            description: 'Member DNs to add.',
          }),
          remove: Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), {
            description: 'Member DNs to remove.',
          }),
        },
        { ...strict, description: 'Group membership changes (objectClass group, operation update).' },
      ),
    ),
    secret: Type.Optional(SealedSecretSchema),
    attempt: Type.Optional(Type.Integer({ minimum: 1, description: 'Delivery attempt, from 1.' })),
    at: Instant('When the export was queued.'),
  },
  strict,
);

export const ExportResultSchema = Type.Object(
  {
    tenantId: TenantId,
    exportId: Uuid('The export answered: the exportId of the joinery.export.v1 it carried out.'),
    applicationId: Uuid("The export's application (it must be the export's own)."),
    status: Type.Union([Type.Literal('succeeded'), Type.Literal('failed')]),
    externalId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description:
          "succeeded: the object's anchor in the application (required: a create's anchor becomes the identity's hard join).",
      }),
    ),
    code: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: "failed: the connector's own error code (required), stored and shown as given.",
      }),
    ),
    message: Type.Optional(
      Type.String({
        maxLength: 4096,
        description: 'failed: what went wrong, for an administrator (required).',
      }),
    ),
    retriable: Type.Optional(
      Type.Boolean({
        description:
          'failed: true when trying again later may succeed (the export comes back after a backoff until export.maxAttempts); false fails it for good (required).',
      }),
    ),
    attempt: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          "The export's attempt this result is for (its `attempt`); a result for an earlier attempt than the one being delivered changes nothing.",
      }),
    ),
    at: Instant('When the connector finished the operation.'),
  },
  strict,
);

/** The stages and sources a logstream event can come from. */
export const logStages = [
  'import',
  'join',
  'inbound',
  'outbound',
  'export',
  'pulse',
  'schedule',
  'agent',
  'connector',
  'admin',
] as const;
export type LogStage = (typeof logStages)[number];

/** What became of what the event is about. */
export const logOutcomes = ['succeeded', 'failed', 'held', 'skipped', 'conflict'] as const;
export type LogOutcome = (typeof logOutcomes)[number];

/** A value written to the logstream in place of an attribute a plan marks sensitive. */
export const MASKED_VALUE = '***';

/** How a sensitive value sealed at rest begins (src/secrets/sensitive-values.ts): never shown, always masked. */
export const SEALED_VALUE_PREFIX = 'jny:sealed:v1:';

/** Whether a value is a sealed sensitive value. */
export function isSealedValue(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(SEALED_VALUE_PREFIX);
}

export const AttributeChangeSchema = Type.Object(
  {
    attribute: Type.String({ minLength: 1, maxLength: 256 }),
    old: Type.Optional(AttributeValueSchema),
    new: Type.Optional(AttributeValueSchema),
  },
  {
    ...strict,
    description: `One attribute's change, old → new (absent: it had or has no value). Sensitive attributes read "${MASKED_VALUE}".`,
  },
);

export const LogEventSchema = Type.Object(
  {
    tenantId: TenantId,
    at: Instant('When it happened.'),
    level: Type.Union([Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')]),
    category: Type.String({ minLength: 1, maxLength: 64, description: 'e.g. lifecycle, import, export.' }),
    message: Type.String({ maxLength: 4096 }),
    // Type.Unsafe gives the union its TypeScript type (a union of a mapped array derives none); the JSON
    // Schema is the same.
    stage: Type.Optional(
      Type.Unsafe<LogStage>(
        Type.Union(
          logStages.map((stage) => Type.Literal(stage)),
          { description: 'The stage or source that emitted it.' },
        ),
      ),
    ),
    outcome: Type.Optional(
      Type.Unsafe<LogOutcome>(Type.Union(logOutcomes.map((outcome) => Type.Literal(outcome)))),
    ),
    runId: Type.Optional(Uuid('The import run it belongs to.')),
    identityId: Type.Optional(Uuid('The identity concerned.')),
    groupId: Type.Optional(Uuid('The Vault group concerned.')),
    applicationId: Type.Optional(Uuid('The application of the object concerned.')),
    objectClass: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    externalId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1024, description: "The object's anchor in its application." }),
    ),
    objectCount: Type.Optional(
      Type.Integer({
        minimum: 2,
        description:
          'How many objects the event tells of, when it tells the same of several (the objects of one batch that joined no identity); absent when it is about one object (then `externalId` names it).',
      }),
    ),
    actor: Type.Optional(
      Type.Object(
        {
          kind: Type.Union([
            Type.Literal('engine'),
            Type.Literal('service-account'),
            Type.Literal('agent'),
            Type.Literal('connector'),
            Type.Literal('scim'),
          ]),
          id: Type.Optional(Type.String({ maxLength: 256 })),
          name: Type.Optional(Type.String({ maxLength: 256 })),
        },
        {
          ...strict,
          description: 'Who acted: the engine, or the service account, agent or connector behind a request.',
        },
      ),
    ),
    decidedBy: Type.Optional(
      Type.Object(
        {
          kind: Type.Union([
            Type.Literal('joining-rule'),
            Type.Literal('mapper'),
            Type.Literal('classification'),
            Type.Literal('rule'),
            Type.Literal('plan'),
            Type.Literal('manual'),
            Type.Literal('guard'),
          ]),
          name: Type.String({ maxLength: 256 }),
        },
        { ...strict, description: 'The rule, mapper, joining rule or person that decided it.' },
      ),
    ),
    changes: Type.Optional(Type.Array(AttributeChangeSchema, { maxItems: 512 })),
    errorCode: Type.Optional(
      Type.String({ maxLength: 64, description: "A JNY_ error code, or a connector's own." }),
    ),
    reason: Type.Optional(Type.String({ maxLength: 4096 })),
    lifecycle: Type.Optional(
      Type.Object({ from: Type.String(), to: Type.String() }, { ...strict, description: 'A state change.' }),
    ),
  },
  strict,
);
export type LogEvent = Static<typeof LogEventSchema>;

interface MessageContract<S extends TSchema> {
  topic: TopicId;
  schema: S;
  description: string;
  /** The Kafka key: it decides the partition, hence the order messages are seen in. */
  key: (data: Static<S>) => string;
}

function contract<S extends TSchema>(value: MessageContract<S>): MessageContract<S> {
  return value;
}

const objectKey = (data: { applicationId: string; externalId: string }) =>
  `${data.applicationId}:${data.externalId}`;

export const messageContracts = {
  'joinery.import.object.v1': contract({
    topic: 'imports',
    schema: ImportObjectSchema,
    description: 'One application object read by a full or delta import (upsert), or its deletion.',
    key: objectKey,
  }),
  'joinery.import.objects.v1': contract({
    topic: 'imports',
    schema: ImportObjectsSchema,
    description:
      "Many objects of one application and run, all on this message's partition (the partition of each object's own key): a bulk source's form of joinery.import.object.v1.",
    key: (data) =>
      objectKey({ applicationId: data.applicationId, externalId: data.objects[0]?.externalId ?? '' }),
  }),
  'joinery.import.run.v1': contract({
    topic: 'imports',
    schema: ImportRunSchema,
    description: 'An import run started, completed or aborted; only a completed full run detects deletions.',
    key: (data) => `${data.applicationId}:run:${data.runId}`,
  }),
  'joinery.pulse.v1': contract({
    topic: 'pulses',
    schema: PulseSchema,
    description: 'A real-time enable, disable or password change, ahead of any bulk import.',
    key: (data) => objectKey(data.event.source),
  }),
  'joinery.identity.event.v1': contract({
    topic: 'identity',
    schema: IdentityMessageSchema,
    description: 'An event for one Vault identity (inbound change, pulse, timer), consumed by its actor.',
    key: (data) => data.identityId,
  }),
  'joinery.schedule.fired.v1': contract({
    topic: 'schedules',
    schema: ScheduleFiredSchema,
    description: 'A durable timer came due.',
    key: (data) => data.identityId,
  }),
  'joinery.outbound.v1': contract({
    topic: 'outbound',
    schema: OutboundSchema,
    description: 'A change an identity actor decided, for the Outbound stage.',
    key: (data) => data.identityId,
  }),
  'joinery.export.v1': contract({
    topic: 'exports',
    schema: ExportSchema,
    description: 'An operation for a connector or agent to write to its application.',
    key: (data) =>
      data.externalId === undefined
        ? `${data.applicationId}:${data.identityId}`
        : objectKey({ applicationId: data.applicationId, externalId: data.externalId }),
  }),
  'joinery.export.result.v1': contract({
    topic: 'export-results',
    schema: ExportResultSchema,
    description:
      "What an external connector made of one export: succeeded (with the object's anchor) or failed (with a code, a message and whether to retry).",
    key: (data) => `${data.applicationId}:${data.exportId}`,
  }),
  'joinery.log.v1': contract({
    topic: 'logstream',
    schema: LogEventSchema,
    description: 'An audit event.',
    key: (data) => data.tenantId,
  }),
} as const;

export type MessageType = keyof typeof messageContracts;
export type MessageData<T extends MessageType> = Static<(typeof messageContracts)[T]['schema']>;

export const messageTypes = Object.keys(messageContracts) as MessageType[];

export function isMessageType(value: string): value is MessageType {
  return Object.hasOwn(messageContracts, value);
}

/** The published URL of a message type's JSON Schema, sent as ce_dataschema. */
export function schemaUrl(type: MessageType): string {
  return `https://joinery.dev/schemas/${type}.json`;
}

/** A message type's JSON Schema as published: draft 2020-12 with $id, title and description. */
export function publishedSchema(type: MessageType): Record<string, unknown> {
  const { schema, description, topic } = messageContracts[type];
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: schemaUrl(type),
    title: type,
    description: `${description} Topic: ${topic}.`,
    ...(JSON.parse(JSON.stringify(schema)) as Record<string, unknown>),
  };
}
