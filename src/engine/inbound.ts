// From a changed repository object to its identity's inbound event: find the identity through the hard
// join, or project a new one when the application creates identities (its id derived from the object,
// so a replayed import projects the same identity, never a second one), and map the object's attributes
// to Vault attributes with the plan's inbound mappers. Objects that join nothing are left unjoined.
//
// Without a hard join, the application's joining rules are tried in order: one match joins, several are
// held as an ambiguous join (never a guess), none projects or leaves the object unjoined. A rule's match
// to an identity that already holds an object of the same application and object class, or that another
// object of the batch also matches, is held as a join conflict (unless the plan allows several there).
//
// Each mapped attribute carries its mapper's authority; the identity keeps the value of the highest.
//
// The application's lifecycle expression states whether the person is active, disabled or has left; an
// authoritative object deleted in its application (leaveOnDelete) makes its identity a leaver, unless another
// authoritative object is still joined to it; the object imported again (or a new authoritative record joined
// to the leaver) brings the identity back, its deletion cancelled, unless its status expression says otherwise.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { v5 as uuidv5 } from 'uuid';
import type { Attributes } from '../../kernel/contracts/identity-events.ts';
import type { LogEvent, MessageData } from '../../kernel/contracts/messages.ts';
import { outboxMessage, type OutboxRow } from '../../streams/outbox.ts';
import { logRow, type LogstreamTarget } from '../../streams/logstream.ts';
import type { PlanCache, PlanInForce } from './plan-cache.ts';
import { celValues, toAttributeValue } from './cel-values.ts';
import { toVaultAttributes } from './vault-values.ts';
import { hardJoinOf, recordHardJoins, type NewHardJoin } from './join-provenance.ts';
import type { ApplicationPlan, AttributeSpec, JoiningRule } from '../plan/plan.schema.ts';

type ImportObject = MessageData<'joinery.import.object.v1'>;

/** Namespace of projected identity ids (uuid v5 of tenant, application and object). */
const PROJECTION_NAMESPACE = '7f1d3c52-5d0e-4d1b-9a55-2a4a3c8e6b10';

/** How an application object is joined, as its repository row records it. */
export interface JoinState {
  state: 'joined' | 'unjoined' | 'ambiguous' | 'conflict' | 'excluded' | null;
  identityId: string | null;
  /**
   * ambiguous: the rule and the identities it matched; conflict: the rule, the one identity it matched and
   * `conflictsWith`, the external ids of the objects of the same application and object class that identity
   * already holds (joined) or that claim it too (held in conflict).
   */
  candidates: { rule: string; identityIds: string[]; conflictsWith?: string[] } | null;
}

/** The join state of an object never joined (a new one). */
export const notJoined: JoinState = { state: null, identityId: null, candidates: null };

/** A new or changed object of an import batch, with the join state it had before the batch. */
export interface ChangedObject {
  object: ImportObject;
  join: JoinState;
  /** The object was flagged deleted (a delete message, or a full run that did not see it) and is imported again. */
  revived?: boolean;
}

/**
 * What the Inbound stage decided for a batch's changed objects, before they are written: the Import stage
 * writes each object and its join state in one statement (one write per object, not two).
 */
export interface InboundDecisions {
  /** The objects decided on. */
  objects: ChangedObject[];
  /** The new join state of each object the stage joined, held or left unjoined (by objectKey); the others keep theirs. */
  joins: Map<string, JoinState>;
  /** The identity events of the joined objects. */
  outbox: OutboxRow[];
  /** The hard joins decided by a joining rule or a projection, recorded by `forward`. */
  hardJoins: NewHardJoin[];
}

export interface InboundForwarder {
  /** Decides the joins of a batch's new and changed objects; nothing is written yet. */
  decide(tx: EntityManager, objects: ChangedObject[]): Promise<InboundDecisions>;
  /** Once the objects are written with their join states: records the new hard joins, returns the events. */
  forward(tx: EntityManager, decisions: InboundDecisions): Promise<OutboxRow[]>;
  /** Objects deleted in an application whose plan says the identity then leaves. */
  forwardDeletions(tx: EntityManager, deleted: DeletedObject[]): Promise<OutboxRow[]>;
  readonly counters: {
    forwarded: number;
    projected: number;
    unjoined: number;
    ambiguous: number;
    conflicts: number;
  };
}

export function createInboundForwarder(options: {
  plans: PlanCache;
  identityTopic: string;
  source: string;
  /** Where the join decisions are told (the logstream); not told when absent. */
  logstream?: LogstreamTarget;
}): InboundForwarder {
  const counters = { forwarded: 0, projected: 0, unjoined: 0, ambiguous: 0, conflicts: 0 };
  return {
    counters,
    async decide(tx, changed) {
      const decisions: InboundDecisions = { objects: changed, joins: new Map(), outbox: [], hardJoins: [] };
      if (changed.length === 0) return decisions;
      const objects = changed.map(({ object }) => object);
      const joined = await hardJoins(tx, objects);
      const plans = new Map<string, PlanInForce | undefined>();
      for (const tenantId of new Set(objects.map((object) => object.tenantId)))
        plans.set(tenantId, await options.plans.get(tx, tenantId));
      const configured = objects.flatMap((object) => {
        const plan = plans.get(object.tenantId);
        const application = plan?.applications.get(object.applicationId);
        // An application the plan does not name: its objects stay in the repository only.
        return plan === undefined || application === undefined ? [] : [{ object, plan, application }];
      });
      const unjoined = configured.filter(
        ({ object }) => !joined.has(`${object.tenantId}|${object.applicationId}|${object.externalId}`),
      );
      // Unjoined by an administrator (and not joined since): stays so until joined by hand.
      const excluded = new Set(
        changed
          .filter(({ object, join }) => join.state === 'excluded' && !joined.has(objectKey(object)))
          .map(({ object }) => objectKey(object)),
      );
      const matches = await matchJoiningRules(
        tx,
        unjoined.filter(({ object }) => !excluded.has(objectKey(object))),
      );
      const { joins, outbox } = decisions;
      const revivedObjects = new Set(
        changed.filter((entry) => entry.revived === true).map(({ object }) => object),
      );
      const revived = await revivedLeavers(
        tx,
        configured.filter(({ object }) => revivedObjects.has(object)),
        joined,
      );
      const returning = await leaversJoinedAnew(tx, configured, joined, matches);
      const conflicts = await joinConflicts(tx, configured, joined, matches);
      const told = (object: ImportObject, decision: JoinDecision) => {
        if (options.logstream !== undefined)
          outbox.push(
            logRow(
              options.logstream,
              `join/${object.applicationId}/${object.externalId}/${object.observedAt}`,
              joinEvent(object, decision),
            ),
          );
      };
      // The objects that join nothing are told together (disconnectorEvents), not one event each.
      const disconnectors: ImportObject[] = [];
      for (const { object, plan, application } of configured) {
        const key = objectKey(object);
        if (excluded.has(key)) continue;
        let identityId = joined.get(key);
        if (identityId === undefined) {
          const match = matches.get(key) ?? { kind: 'none' };
          if (match.kind === 'ambiguous') {
            counters.ambiguous++;
            joins.set(key, {
              state: 'ambiguous',
              identityId: null,
              candidates: { rule: match.rule, identityIds: match.identityIds },
            });
            told(object, { kind: 'ambiguous', rule: match.rule, identityIds: match.identityIds });
            continue;
          }
          const conflict = conflicts.get(key);
          if (conflict !== undefined) {
            counters.conflicts++;
            joins.set(key, { state: 'conflict', identityId: null, candidates: conflict });
            told(object, { kind: 'conflict', ...conflict });
            continue;
          }
          if (match.kind === 'joined') {
            identityId = match.identityId;
            told(object, { kind: 'joined', rule: match.rule, identityId });
          }
        }
        // Joined before: the Import stage's news is the changed object itself (one event per object either way).
        if (identityId !== undefined && !matches.has(key) && joined.has(key))
          told(object, { kind: 'changed', identityId, revived: revivedObjects.has(object) });
        if (identityId === undefined && application.plan.createsIdentities === true) {
          identityId = projectedIdentityId(object, application.plan);
          counters.projected++;
          told(object, { kind: 'projected', identityId });
        }
        if (identityId === undefined) {
          counters.unjoined++;
          joins.set(key, { state: 'unjoined', identityId: null, candidates: null });
          disconnectors.push(object);
          continue;
        }
        joins.set(key, { state: 'joined', identityId, candidates: null });
        if (!joined.has(key)) decisions.hardJoins.push(hardJoinOf(object, identityId, matches.get(key)));
        const attributes = mapInbound(plan, application.index, object.attributes ?? {});
        const lifecycle =
          lifecycleOf(plan, application.index, object.attributes ?? {}) ??
          returned(application.plan, revived.has(key) || returning.has(`${key}|${identityId}`));
        const authority = Object.fromEntries(
          (application.plan.inbound ?? []).flatMap((mapper) =>
            mapper.authority === undefined || !(mapper.vault in attributes)
              ? []
              : [[mapper.vault, mapper.authority]],
          ),
        );
        const data: MessageData<'joinery.identity.event.v1'> = {
          tenantId: object.tenantId,
          identityId,
          event: {
            type: 'inbound.changed',
            at: object.observedAt,
            source: { applicationId: object.applicationId, externalId: object.externalId },
            attributes,
            ...(Object.keys(authority).length === 0 ? {} : { authority }),
            ...(lifecycle === undefined ? {} : { lifecycle }),
          },
          ...deletionDelay(plan),
          // Known, or recorded below in this transaction: the actor need not record it again.
          hardJoinRecorded: true,
          ...(object.runId === undefined ? {} : { runId: object.runId }),
        };
        outbox.push(
          identityEvent(
            options,
            `import/${object.applicationId}/${object.externalId}/${object.observedAt}`,
            data,
          ),
        );
        counters.forwarded++;
      }
      if (options.logstream !== undefined)
        for (const [id, event] of disconnectorEvents(disconnectors))
          outbox.push(logRow(options.logstream, id, event));
      return decisions;
    },
    async forward(tx, decisions) {
      await recordHardJoins(tx, decisions.hardJoins);
      return decisions.outbox;
    },
    async forwardDeletions(tx, deleted) {
      if (deleted.length === 0) return [];
      const joined = await hardJoins(tx, deleted);
      const leaving: { object: DeletedObject; identityId: string; plan: PlanInForce }[] = [];
      for (const object of deleted) {
        const plan = await options.plans.get(tx, object.tenantId);
        const application = plan?.applications.get(object.applicationId);
        const identityId = joined.get(`${object.tenantId}|${object.applicationId}|${object.externalId}`);
        if (
          plan === undefined ||
          application?.plan.lifecycle?.leaveOnDelete !== true ||
          identityId === undefined
        )
          continue;
        leaving.push({ object, identityId, plan });
      }
      const kept = await withAuthoritativeObjects(tx, leaving);
      const outbox: OutboxRow[] = [];
      for (const { object, identityId } of leaving) {
        // Another living object of an application with leaveOnDelete is still joined: the person is still there.
        if (kept.has(`${object.tenantId}|${identityId}`)) continue;
        // The authoritative record is gone: the person left (an identity without it keeps its attributes).
        const data: MessageData<'joinery.identity.event.v1'> = {
          tenantId: object.tenantId,
          identityId,
          event: {
            type: 'inbound.changed',
            at: object.at,
            source: { applicationId: object.applicationId, externalId: object.externalId },
            attributes: {},
            lifecycle: 'left',
          },
          hardJoinRecorded: true,
        };
        outbox.push(
          identityEvent(options, `deleted/${object.applicationId}/${object.externalId}/${object.at}`, data),
        );
        counters.forwarded++;
      }
      return outbox;
    },
  };
}

/** A join decision worth telling: the logstream's view of what `decide` did with an object. */
type JoinDecision =
  | { kind: 'joined'; rule: string; identityId: string }
  | { kind: 'projected'; identityId: string }
  | { kind: 'ambiguous'; rule: string; identityIds: string[] }
  | { kind: 'conflict'; rule: string; identityIds: string[]; conflictsWith: string[] }
  | { kind: 'unjoined' }
  | { kind: 'changed'; identityId: string; revived: boolean };

/**
 * The logstream events of a batch's objects that joined no identity: one per application, object class and
 * run, with `objectCount`, or the object's own event when it is alone (with its `externalId`). An initial load
 * of a million accounts that join nothing, or a disconnector sweep that re-feeds them, is a handful of events
 * per batch rather than one per object — their join state is the repository's (`GET /v1/repository`), and
 * whatever later happens to one of them (a join, a change once joined) is told of it alone. The id is the
 * group's first object's: a batch is committed once, so the same outbox row keeps the same id.
 */
export function disconnectorEvents(objects: ImportObject[]): [id: string, event: LogEvent][] {
  const groups = Map.groupBy(
    objects,
    (object) => `${object.tenantId}|${object.applicationId}|${object.objectClass}|${object.runId ?? ''}`,
  );
  return [...groups.values()].flatMap((group): [string, LogEvent][] => {
    const [first] = group;
    if (first === undefined) return [];
    const id = `join/${first.applicationId}/${first.externalId}/${first.observedAt}`;
    if (group.length === 1) return [[id, joinEvent(first, { kind: 'unjoined' })]];
    const many: LogEvent = { ...joinEvent(first, { kind: 'unjoined' }) };
    delete many.externalId;
    return [
      [
        `${id}/${String(group.length)}`,
        {
          ...many,
          at: group.reduce(
            (latest, object) => (object.observedAt > latest ? object.observedAt : latest),
            first.observedAt,
          ),
          objectCount: group.length,
          message: `${String(group.length)} objects joined no identity (disconnectors)`,
        },
      ],
    ];
  });
}

/** The logstream event of a join decision (pure). */
export function joinEvent(object: ImportObject, decision: JoinDecision): LogEvent {
  const base = {
    tenantId: object.tenantId,
    at: object.observedAt,
    category: 'join',
    stage: 'join' as LogEvent['stage'],
    applicationId: object.applicationId,
    objectClass: object.objectClass,
    externalId: object.externalId,
    ...(object.runId === undefined ? {} : { runId: object.runId }),
  };
  switch (decision.kind) {
    case 'joined':
      return {
        ...base,
        level: 'info',
        outcome: 'succeeded',
        message: `joined to identity ${decision.identityId} by joining rule "${decision.rule}"`,
        identityId: decision.identityId,
        decidedBy: { kind: 'joining-rule', name: decision.rule },
      };
    case 'projected':
      return {
        ...base,
        level: 'info',
        outcome: 'succeeded',
        message: `projected identity ${decision.identityId} (the application creates identities)`,
        identityId: decision.identityId,
        decidedBy: { kind: 'plan', name: 'createsIdentities' },
      };
    case 'ambiguous':
      return {
        ...base,
        level: 'warn',
        outcome: 'held',
        message: `held as ambiguous: joining rule "${decision.rule}" matched ${String(decision.identityIds.length)} identities`,
        reason: `candidates: ${decision.identityIds.join(', ')}`.slice(0, 4096),
        decidedBy: { kind: 'joining-rule', name: decision.rule },
      };
    case 'conflict':
      return {
        ...base,
        level: 'warn',
        outcome: 'conflict',
        message: `held as a join conflict over identity ${decision.identityIds[0] ?? ''}`,
        ...(decision.identityIds[0] === undefined ? {} : { identityId: decision.identityIds[0] }),
        reason: `the identity already holds or is claimed by: ${decision.conflictsWith.join(', ')}`.slice(
          0,
          4096,
        ),
        decidedBy: { kind: 'joining-rule', name: decision.rule },
      };
    case 'changed':
      return {
        ...base,
        stage: 'import',
        category: 'import',
        level: 'info',
        outcome: 'succeeded',
        message: decision.revived
          ? 'application object imported again after its deletion'
          : 'application object changed',
        identityId: decision.identityId,
      };
    case 'unjoined':
      return {
        ...base,
        level: 'info',
        outcome: 'skipped',
        message: 'joined no identity (a disconnector)',
      };
  }
}

/** A deleted application object, by a delete message or by a completed full run that did not see it. */
export interface DeletedObject {
  tenantId: string;
  applicationId: string;
  externalId: string;
  at: string;
}

function identityEvent(
  options: { identityTopic: string; source: string },
  id: string,
  data: MessageData<'joinery.identity.event.v1'>,
): OutboxRow {
  return outboxMessage(options.identityTopic, {
    id,
    type: 'joinery.identity.event.v1',
    source: options.source,
    time: data.event.at,
    tenantId: data.tenantId,
    data,
  });
}

function deletionDelay(plan: PlanInForce): { deletionDelayDays?: number } {
  const days = plan.compiled.plan.lifecycle?.deletionDelayDays;
  return days === undefined ? {} : { deletionDelayDays: days };
}

/** The hard joins of a set of objects, in one query. */
async function hardJoins(
  tx: EntityManager,
  objects: { tenantId: string; applicationId: string; externalId: string }[],
): Promise<Map<string, string>> {
  const { rows } = await sql<{
    tenant_id: string;
    application_id: string;
    external_id: string;
    identity_id: string;
  }>`
    select s.tenant_id, s.application_id, s.external_id, s.identity_id
    from identity_source s
    join jsonb_to_recordset(${JSON.stringify(
      objects.map((o) => ({
        tenant_id: o.tenantId,
        application_id: o.applicationId,
        external_id: o.externalId,
      })),
    )}::jsonb) as u(tenant_id uuid, application_id uuid, external_id text)
      on s.tenant_id = u.tenant_id and s.application_id = u.application_id and s.external_id = u.external_id`.execute(
    tx.getKysely(),
  );
  return new Map(
    rows.map((row) => [`${row.tenant_id}|${row.application_id}|${row.external_id}`, row.identity_id]),
  );
}

const lifecycleStatuses = new Set<string>(['active', 'disabled', 'left']);

/**
 * The lifecycle of an object of an application with leaveOnDelete that states none (no status expression,
 * or one it cannot answer) and `returns`: imported again after it was deleted (its deletion made the identity
 * a leaver), or a new record joined to a leaver. The person is back: the identity returns to active, its
 * deletion cancelled. Any other object leaves the identity's lifecycle as it is.
 */
function returned(application: ApplicationPlan, returns: boolean): 'active' | undefined {
  return returns && application.lifecycle?.leaveOnDelete === true ? 'active' : undefined;
}

/**
 * The revived objects (by objectKey) whose deletion made their identity a leaver: of an application with
 * leaveOnDelete, and no other living object of such an application joined to the identity (the objects
 * revived in this batch are still flagged deleted: two of them both bring it back). One whose identity kept
 * another authoritative object never left it, and changes nothing of its lifecycle when it comes back.
 */
async function revivedLeavers(
  tx: EntityManager,
  revived: { object: ImportObject; plan: PlanInForce; application: { plan: ApplicationPlan } }[],
  joined: Map<string, string>,
): Promise<Set<string>> {
  const leaving = revived.flatMap(({ object, plan, application }) => {
    const identityId = joined.get(objectKey(object));
    return application.plan.lifecycle?.leaveOnDelete !== true || identityId === undefined
      ? []
      : [{ object: { ...object, at: object.observedAt }, identityId, plan }];
  });
  if (leaving.length === 0) return new Set();
  const kept = await withAuthoritativeObjects(tx, leaving);
  return new Set(
    leaving
      .filter(({ object, identityId }) => !kept.has(`${object.tenantId}|${identityId}`))
      .map(({ object }) => objectKey(object)),
  );
}

/** The applications of a plan whose objects, deleted, make their identity a leaver. */
function leavingOnDelete(plan: PlanInForce): string[] {
  return [...plan.applications]
    .filter(([, application]) => application.plan.lifecycle?.leaveOnDelete === true)
    .map(([applicationId]) => applicationId);
}

/**
 * The identities (`<tenant id>|<identity id>`) of deleted objects that still have another living object of an
 * application with leaveOnDelete joined: one of several authoritative records went, not the person.
 */
async function withAuthoritativeObjects(
  tx: EntityManager,
  leaving: { object: DeletedObject; identityId: string; plan: PlanInForce }[],
): Promise<Set<string>> {
  const rows = leaving.flatMap(({ object, identityId, plan }) =>
    leavingOnDelete(plan).map((applicationId) => ({
      tenant_id: object.tenantId,
      identity_id: identityId,
      application_id: applicationId,
    })),
  );
  if (rows.length === 0) return new Set();
  // The objects deleted with these are flagged already (same transaction): they do not count.
  const { rows: found } = await sql<{ tenant_id: string; identity_id: string }>`
    select distinct u.tenant_id, u.identity_id
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as u(tenant_id uuid, identity_id uuid, application_id uuid)
    join identity_source s on s.identity_id = u.identity_id and s.tenant_id = u.tenant_id
      and s.application_id = u.application_id
    join repository_object r on r.tenant_id = s.tenant_id and r.application_id = s.application_id
      and r.external_id = s.external_id
    where not r.deleted and r.identity_id = s.identity_id`.execute(tx.getKysely());
  return new Set(found.map((row) => `${row.tenant_id}|${row.identity_id}`));
}

/**
 * Objects of applications with leaveOnDelete and no stated lifecycle that join a leaver they were not part of
 * (`<object key>|<identity id>`): a new authoritative record of someone who left (a rehire under a new
 * anchor, matched by a joining rule or joined by hand). Only newly joined objects are looked at (no hard join
 * before this batch, or re-fed after a manual join), so a bulk import of known objects reads nothing more.
 */
async function leaversJoinedAnew(
  tx: EntityManager,
  configured: {
    object: ImportObject;
    plan: PlanInForce;
    application: { plan: ApplicationPlan; index: number };
  }[],
  joined: Map<string, string>,
  matches: Map<string, JoinMatch>,
): Promise<Set<string>> {
  const candidates = configured.flatMap(({ object, plan, application }) => {
    if (application.plan.lifecycle?.leaveOnDelete !== true) return [];
    const key = objectKey(object);
    const hardJoin = joined.get(key);
    const match = matches.get(key);
    const identityId =
      hardJoin !== undefined && object.refeed === true
        ? hardJoin
        : hardJoin === undefined && match?.kind === 'joined'
          ? match.identityId
          : undefined;
    if (identityId === undefined) return [];
    if (lifecycleOf(plan, application.index, object.attributes ?? {}) !== undefined) return [];
    return [{ key, tenant_id: object.tenantId, identity_id: identityId, ...objectSource(object) }];
  });
  if (candidates.length === 0) return new Set();
  const { rows } = await sql<{ key: string; identity_id: string }>`
    select u.key, u.identity_id
    from jsonb_to_recordset(${JSON.stringify(candidates)}::jsonb)
      as u(key text, tenant_id uuid, identity_id uuid, application_id text, external_id text)
    join identity i on i.id = u.identity_id and i.tenant_id = u.tenant_id
    where i.state = 'leaver'
      and not (i.snapshot->'context'->'sources') @> jsonb_build_array(
        jsonb_build_object('applicationId', u.application_id, 'externalId', u.external_id))`.execute(
    tx.getKysely(),
  );
  return new Set(rows.map((row) => `${row.key}|${row.identity_id}`));
}

const objectSource = (object: ImportObject) => ({
  application_id: object.applicationId,
  external_id: object.externalId,
});

/** The lifecycle the application states for the object, when its plan says how. */
function lifecycleOf(
  plan: PlanInForce,
  applicationIndex: number,
  source: Attributes,
): 'active' | 'disabled' | 'left' | undefined {
  const expression = plan.compiled.expressions.get(
    `applications[${String(applicationIndex)}].lifecycle.status`,
  );
  const application = plan.compiled.plan.applications[applicationIndex];
  if (expression === undefined || application === undefined) return undefined;
  try {
    const status: unknown = expression({ source: celValues(declaredAttributes(application), source) });
    return typeof status === 'string' && lifecycleStatuses.has(status)
      ? (status as 'active' | 'disabled' | 'left')
      : undefined;
  } catch (error) {
    // Over budget: the object fails (its import message is dead-lettered), never silently.
    if (error instanceof Error && 'code' in error && error.code === 'JNY_EXPRESSION_BUDGET') throw error;
    // An attribute the expression needs is missing: the object states no lifecycle.
    return undefined;
  }
}

function declaredAttributes(application: ApplicationPlan): Record<string, AttributeSpec> {
  return Object.assign(
    {},
    ...Object.values(application.objectClasses).map((objectClass) => objectClass.attributes),
  ) as Record<string, AttributeSpec>;
}

/** Whether an identity may hold several objects of this application's object class (`multipleJoins`). */
function allowsMultipleJoins(application: ApplicationPlan, objectClass: string): boolean {
  const declared = application.objectClasses[objectClass];
  if (declared === undefined || declared.kind === 'group') return true;
  // An authoritative source may hold several records of one person (two employments): as before.
  return declared.multipleJoins ?? application.createsIdentities === true;
}

/**
 * The objects a joining rule matched to one identity that are held as join conflicts (by objectKey), each
 * with the rule, the identity and the objects it conflicts with. An identity holds at most one object of an
 * application's object class unless the plan allows several: a rule's match to an identity that already
 * holds one (joined, in the Application Repository or by a hard join in this batch), or that another object
 * held in conflict claims, is held; two objects of one batch matched to the same identity that holds none
 * are both held — neither was joined before, and choosing one (by external id, by arrival) would be a
 * guess. An administrator decides (POST /v1/joins one, /v1/joins/unjoin the other). Three statements per
 * batch, each on an index (the claims, the hard joins by identity, the conflicts' partial index), and none
 * when no rule matched an identity in a class that allows one object.
 */
async function joinConflicts(
  tx: EntityManager,
  configured: { object: ImportObject; application: { plan: ApplicationPlan } }[],
  joined: Map<string, string>,
  matches: Map<string, JoinMatch>,
): Promise<Map<string, { rule: string; identityIds: string[]; conflictsWith: string[] }>> {
  const slotOf = (object: ImportObject, identityId: string) =>
    `${object.tenantId}|${object.applicationId}|${object.objectClass}|${identityId}`;
  const claims = new Map<string, { object: ImportObject; rule: string; identityId: string }[]>();
  for (const { object, application } of configured) {
    const match = matches.get(objectKey(object));
    if (match?.kind !== 'joined' || joined.has(objectKey(object))) continue;
    if (allowsMultipleJoins(application.plan, object.objectClass)) continue;
    const slot = slotOf(object, match.identityId);
    claims.set(slot, [
      ...(claims.get(slot) ?? []),
      { object, rule: match.rule, identityId: match.identityId },
    ]);
  }
  const conflicts = new Map<string, { rule: string; identityIds: string[]; conflictsWith: string[] }>();
  if (claims.size === 0) return conflicts;
  const holders = new Map<string, Set<string>>();
  const hold = (slot: string, externalId: string) => {
    holders.set(slot, (holders.get(slot) ?? new Set()).add(externalId));
  };
  // Objects of this batch that keep their hard join to a claimed identity.
  for (const { object } of configured) {
    const identityId = joined.get(objectKey(object));
    if (identityId !== undefined && claims.has(slotOf(object, identityId)))
      hold(slotOf(object, identityId), object.externalId);
  }
  const claimed = [...claims.values()].flatMap((entries) => {
    const first = entries[0];
    return first === undefined
      ? []
      : [
          {
            tenant_id: first.object.tenantId,
            application_id: first.object.applicationId,
            object_class: first.object.objectClass,
            identity_id: first.identityId,
          },
        ];
  });
  const db = tx.getKysely();
  const slotsJson = JSON.stringify(claimed);
  // One batch at a time per claimed identity and object class (other partitions, other processes): a claim
  // that another open batch inserted waits on join_claim's primary key until that batch commits, so the query
  // below sees what it joined. In key order, so two batches never wait on each other in a cycle; deleted again
  // before this batch commits (migrations/Migration20261206090000_join_conflicts.ts).
  await sql`
    insert into join_claim (tenant_id, application_id, object_class, identity_id)
    select tenant_id, application_id, object_class, identity_id
    from jsonb_to_recordset(${slotsJson}::jsonb)
      as u(tenant_id uuid, application_id uuid, object_class text, identity_id uuid)
    order by 1, 2, 3, 4
    on conflict do nothing`.execute(db);
  // Joined to the identity (found through the hard joins, indexed by identity), or held in conflict over it.
  const { rows } = await sql<{
    tenant_id: string;
    application_id: string;
    object_class: string;
    identity_id: string;
    external_id: string;
  }>`
    with u as (
      select * from jsonb_to_recordset(${slotsJson}::jsonb)
        as u(tenant_id uuid, application_id uuid, object_class text, identity_id uuid))
    select u.tenant_id, u.application_id, u.object_class, u.identity_id, r.external_id
    from u
    join identity_source s on s.identity_id = u.identity_id and s.tenant_id = u.tenant_id
      and s.application_id = u.application_id
    join repository_object r on r.tenant_id = s.tenant_id and r.application_id = s.application_id
      and r.external_id = s.external_id
    where r.object_class = u.object_class and not r.deleted and r.join_state = 'joined'
      and r.identity_id = u.identity_id
    union all
    select u.tenant_id, u.application_id, u.object_class, u.identity_id, r.external_id
    from u
    join repository_object r on r.tenant_id = u.tenant_id and r.application_id = u.application_id
      and r.join_state = 'conflict' and (r.join_candidates->'identityIds'->>0) = u.identity_id::text
    where r.object_class = u.object_class and not r.deleted`.execute(db);
  await sql`
    delete from join_claim c
    using jsonb_to_recordset(${slotsJson}::jsonb)
      as u(tenant_id uuid, application_id uuid, object_class text, identity_id uuid)
    where c.tenant_id = u.tenant_id and c.application_id = u.application_id
      and c.object_class = u.object_class and c.identity_id = u.identity_id`.execute(db);
  for (const row of rows)
    hold(`${row.tenant_id}|${row.application_id}|${row.object_class}|${row.identity_id}`, row.external_id);
  for (const [slot, entries] of claims) {
    const claimants = entries.map(({ object }) => object.externalId);
    for (const { object, rule, identityId } of entries) {
      const others = new Set([...(holders.get(slot) ?? []), ...claimants]);
      others.delete(object.externalId);
      if (others.size === 0) continue;
      conflicts.set(objectKey(object), {
        rule,
        identityIds: [identityId],
        conflictsWith: [...others].sort(),
      });
    }
  }
  return conflicts;
}

type JoinMatch =
  | { kind: 'none' }
  | { kind: 'joined'; identityId: string; rule: string }
  | { kind: 'ambiguous'; rule: string; identityIds: string[] };

export const objectKey = (object: { tenantId: string; applicationId: string; externalId: string }) =>
  `${object.tenantId}|${object.applicationId}|${object.externalId}`;

/** The comparisons of a rule this object can take part in: its source value for each Vault attribute. */
function ruleValues(
  rule: JoiningRule,
  attributes: Attributes,
): { vault: string; value: string; ignoreCase: boolean }[] {
  const values = (rule.all ?? rule.any ?? []).flatMap((match) => {
    const value = attributes[match.source];
    if (value === undefined || value === null || Array.isArray(value)) return [];
    return [{ vault: match.vault, value: String(value), ignoreCase: match.ignoreCase === true }];
  });
  // AND needs every comparison.
  return rule.all !== undefined && values.length < rule.all.length ? [] : values;
}

/**
 * A projected identity's id: from the first joining rule the object can be matched by (uuid v5 of the
 * tenant and the rule's Vault attributes and values), so two authoritative objects of one person that
 * arrive at the same time project the same identity, never two; from the object itself otherwise. Either
 * way a replayed import projects the same identity again.
 */
function projectedIdentityId(object: ImportObject, application: ApplicationPlan): string {
  for (const rule of application.joining ?? []) {
    if (rule.all === undefined) continue;
    const values = ruleValues(rule, object.attributes ?? {});
    if (values.length === 0) continue;
    const key = values
      .map((v) => `${v.vault}=${v.ignoreCase ? v.value.toLowerCase() : v.value}`)
      .sort()
      .join('&');
    return uuidv5(`${object.tenantId}|${key}`, PROJECTION_NAMESPACE);
  }
  return uuidv5(`${object.tenantId}|${object.applicationId}|${object.externalId}`, PROJECTION_NAMESPACE);
}

/**
 * The joining rules, in priority order, against the Vault's live identities: per rule one query for all
 * the batch's objects still undecided (an index lookup per value), so a bulk load costs a few statements
 * per batch, not one per object.
 */
async function matchJoiningRules(
  tx: EntityManager,
  candidates: { object: ImportObject; application: { plan: ApplicationPlan } }[],
): Promise<Map<string, JoinMatch>> {
  const matches = new Map<string, JoinMatch>();
  const byApplication = Map.groupBy(
    candidates,
    (candidate) => `${candidate.object.tenantId}|${candidate.object.applicationId}`,
  );
  for (const group of byApplication.values()) {
    const first = group[0];
    if (first === undefined) continue;
    const { tenantId } = first.object;
    let undecided = group.map((candidate) => candidate.object);
    for (const rule of first.application.plan.joining ?? []) {
      if (undecided.length === 0) break;
      const comparisons = rule.all ?? rule.any ?? [];
      const rows = undecided.flatMap((object, index) => {
        const values = ruleValues(rule, object.attributes ?? {});
        return values.length === 0
          ? []
          : [
              {
                k: index,
                ...Object.fromEntries(
                  comparisons.map((match, m) => {
                    const value = object.attributes?.[match.source];
                    return [
                      `v${String(m)}`,
                      value === undefined || value === null || Array.isArray(value) ? null : String(value),
                    ];
                  }),
                ),
              },
            ];
      });
      if (rows.length === 0) continue;
      const columns = sql.join(comparisons.map((_, m) => sql`${sql.ref(`v${String(m)}`)} text`));
      // One join-key lookup per comparison (streams/identity-join-keys.ts); `all` needs every one to find the
      // identity, `any` one of them.
      const lookup = (match: (typeof comparisons)[number], m: number) => {
        const column = sql.ref(`u.v${String(m)}`);
        const value =
          match.ignoreCase === true ? sql`lower(j.value) = lower(${column})` : sql`j.value = ${column}`;
        return sql`select u.k, j.identity_id from u
          join identity_join_key j on j.tenant_id = ${tenantId} and j.attribute = ${match.vault} and ${value}`;
      };
      const matched =
        rule.all !== undefined
          ? sql.join(
              comparisons.map((match, m) => lookup(match, m)),
              sql` intersect `,
            )
          : sql.join(
              comparisons.map((match, m) => lookup(match, m)),
              sql` union `,
            );
      const { rows: found } = await sql<{ k: number; ids: string[] }>`
        with u as (select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as u(k int, ${columns}))
        select m.k, (array_agg(i.id order by i.id))[1:10] as ids
        from (${matched}) m
        join identity i on i.id = m.identity_id and i.state <> 'deleted'
        group by m.k`.execute(tx.getKysely());
      const decided = new Set<number>();
      for (const row of found) {
        const object = undecided[row.k];
        if (object === undefined || row.ids.length === 0) continue;
        decided.add(row.k);
        matches.set(
          objectKey(object),
          row.ids.length === 1
            ? { kind: 'joined', identityId: row.ids[0] ?? '', rule: rule.name }
            : { kind: 'ambiguous', rule: rule.name, identityIds: row.ids },
        );
      }
      undecided = undecided.filter((_, index) => !decided.has(index));
    }
  }
  return matches;
}

/** The Vault attributes an object supplies, through the application's inbound mappers. */
function mapInbound(plan: PlanInForce, applicationIndex: number, source: Attributes): Attributes {
  const application = plan.compiled.plan.applications[applicationIndex];
  if (application === undefined) return {};
  const result: Attributes = {};
  // Expressions see the object as CEL does (ints as BigInt), computed once for all of them.
  let celSource: Record<string, unknown> | undefined;
  application.inbound?.forEach((mapper, index) => {
    if (mapper.from !== undefined) {
      if (mapper.from in source) result[mapper.vault] = source[mapper.from] ?? null;
      return;
    }
    const expression = plan.compiled.expressions.get(
      `applications[${String(applicationIndex)}].inbound[${String(index)}].expression`,
    );
    if (expression === undefined) return;
    try {
      celSource ??= celValues(declaredAttributes(application), source);
      result[mapper.vault] = toAttributeValue(expression({ source: celSource }));
    } catch (error) {
      // Over budget: the object fails (its import message is dead-lettered), never silently.
      if (error instanceof Error && 'code' in error && error.code === 'JNY_EXPRESSION_BUDGET') throw error;
      // An attribute the expression needs is missing on this object: the mapper supplies nothing.
    }
  });
  // As the Vault declares them: one value for a single-valued attribute (src/engine/vault-values.ts).
  return toVaultAttributes(plan.compiled.plan.vault.attributes, result).attributes;
}
