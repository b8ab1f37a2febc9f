// The live stream's contract: what a client asks for (the WebSocket's query) and every frame the server
// sends (JSON text frames), as TypeBox schemas from which the types derive. docs/live.md describes them.
import { Type, type Static } from 'typebox';
import { LogEventSchema, logOutcomes, logStages } from '../../kernel/contracts/messages.ts';

const strict = { additionalProperties: false } as const;
const Uuid = Type.String({ format: 'uuid' });

/** An event's id: its logstream partition and offset ("3-1207"), the order events of one tenant come in. */
export const EventIdSchema = Type.String({ pattern: '^[0-9]{1,5}-[0-9]{1,19}$', maxLength: 32 });

/** What narrows a stream: a run, or a tenant-wide stream with any of the other filters. */
export const StreamFilterSchema = Type.Object(
  {
    run: Type.Optional(Uuid),
    application: Type.Optional(Uuid),
    identity: Type.Optional(Uuid),
    stage: Type.Optional(Type.Enum([...logStages])),
    outcome: Type.Optional(Type.Enum([...logOutcomes])),
  },
  strict,
);
export type StreamFilter = Static<typeof StreamFilterSchema>;

/** GET /v1/streams?token=…: the filters, the token and where a reconnect resumes. */
export const StreamQuerySchema = Type.Object(
  {
    ...StreamFilterSchema.properties,
    token: Type.String({ minLength: 1, maxLength: 512 }),
    lastEventId: Type.Optional(EventIdSchema),
  },
  strict,
);
export type StreamQuery = Static<typeof StreamQuerySchema>;

export const StreamTokenSchema = Type.Object(
  {
    token: Type.String({ description: 'Single use; connect with it before expiresAt.' }),
    expiresAt: Type.String({ format: 'date-time' }),
  },
  strict,
);

const Count = Type.Integer({ minimum: 0 });

/** A run's progress, read from the engine's own tables (exact, not sampled from the stream). */
export const RunProgressSchema = Type.Object(
  {
    id: Uuid,
    applicationId: Uuid,
    kind: Type.Union([Type.String(), Type.Null()]),
    status: Type.String(),
    reason: Type.Union([Type.String(), Type.Null()]),
    startedAt: Type.String({ format: 'date-time' }),
    finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    /** When these counters were read. */
    at: Type.String({ format: 'date-time' }),
    stages: Type.Object(
      {
        /** import_run: objects the Import stage stored, of how many (known once the run's end marker is in). */
        import: Type.Object(
          { seen: Count, total: Type.Union([Count, Type.Null()]), rejected: Count, deletions: Count },
          strict,
        ),
        /** The run's repository objects (last seen by this run) by join state, read every few seconds. */
        join: Type.Union([
          Type.Object({ joined: Count, conflicts: Count, unjoined: Count, at: Type.String() }, strict),
          Type.Null(),
        ]),
        /**
         * The exports the run caused (export_item.run_id) by status: queued (pending or being delivered),
         * held (approval, mass-deletion guard), delivered (succeeded or confirmed), failed, sandbox (decided,
         * never sent). Read every few seconds while the run runs, and after it while some are queued or held.
         */
        export: Type.Union([
          Type.Object(
            {
              queued: Count,
              held: Count,
              delivered: Count,
              failed: Count,
              sandbox: Count,
              at: Type.String(),
            },
            strict,
          ),
          Type.Null(),
        ]),
      },
      strict,
    ),
  },
  strict,
);
export type RunProgress = Static<typeof RunProgressSchema>;

export const StreamFrameSchema = Type.Union([
  /** First frame: what the stream is. */
  Type.Object(
    { type: Type.Literal('hello'), filter: StreamFilterSchema, limits: Type.Record(Type.String(), Count) },
    strict,
  ),
  /** The run's counters when the socket opened; `progress` frames follow, coalesced (at most every 250 ms). */
  Type.Object({ type: Type.Literal('snapshot'), run: RunProgressSchema }, strict),
  Type.Object({ type: Type.Literal('progress'), run: RunProgressSchema }, strict),
  Type.Object({ type: Type.Literal('event'), id: EventIdSchema, event: LogEventSchema }, strict),
  /** The socket's buffer overflowed: `count` events matching the stream were not sent, between these ids. */
  Type.Object(
    { type: Type.Literal('dropped'), count: Count, firstId: EventIdSchema, lastId: EventIdSchema },
    strict,
  ),
  /** A resume asked for events this process no longer retains: those after `after` and before `retainedFrom`. */
  Type.Object(
    {
      type: Type.Literal('missed'),
      after: EventIdSchema,
      retainedFrom: Type.Union([EventIdSchema, Type.Null()]),
      message: Type.String(),
    },
    strict,
  ),
  /** The events retained after lastEventId were all sent: live events follow. */
  Type.Object({ type: Type.Literal('resumed'), after: EventIdSchema, replayed: Count }, strict),
]);
export type StreamFrame = Static<typeof StreamFrameSchema>;

/** Close codes of a stream socket (4xxx: the application's range), each sent with a reason. */
export const streamCloseCodes = {
  /** The token is missing, malformed, expired or already used: mint a new one. */
  unauthenticated: 4401,
  /** The run is not one of the token's tenant. */
  notFound: 4404,
  /** A frame larger than the inbound limit. */
  tooLarge: 4413,
  /** Too many sockets from this address or of this tenant. */
  tooMany: 4429,
  /** No logstream consumer on this process (an API built without the bus). */
  unavailable: 4503,
} as const;
