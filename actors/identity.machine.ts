// The identity lifecycle: joiner → active ⇄ disabled → leaver → deleted, a returning leaver back to active.
// Pure: the machine decides and names its effects as `emit` actions; `stepIdentity` returns them as effects
// for the host. Time comes only from the events (`at`), so the same events give the same snapshots and effects.
// Not XState's public `transition()`: it builds a throwaway actor per call, which tripled a step's cost; a step
// runs the machine's own `transition(snapshot, event, scope)` with a scope of its own that collects the actions.
import { createActor, setup, type SnapshotFrom } from 'xstate';
import type {
  AttributeValue,
  Attributes,
  IdentityEffect,
  IdentityEvent,
  IdentityInput,
  LifecycleStatus,
  OutboundChange,
  Source,
} from '../kernel/contracts/identity-events.ts';

export type IdentityState = 'joiner' | 'active' | 'disabled' | 'leaver' | 'deleted';

export interface IdentityContext {
  tenantId: string;
  identityId: string;
  /** The merged attributes of every source; an attribute set to null by a source is removed. */
  attributes: Attributes;
  /** The application objects that contributed to this identity. */
  sources: Source[];
  /** Which application supplied each attribute, with its authority: a lower authority cannot overwrite it. */
  provenance?: Provenance | undefined;
  /** The one integer the plan's classifications give this identity. */
  classification?: number | undefined;
  deletionDelayDays: number;
  /** The pending deletion while the identity is a leaver. */
  deletion?: { timerId: string; dueAt: string } | undefined;
  /** The time of the last event that changed anything. */
  updatedAt?: string | undefined;
  /** The newest plan version the identity was looked at again with (`plan.applied`). */
  planVersion?: number | undefined;
}

export type Provenance = Record<string, { applicationId: string; authority: number }>;

const DEFAULT_DELETION_DELAY_DAYS = 90;
const DAY_MS = 86_400_000;

type PulsePassword = Extract<IdentityEvent, { type: 'pulse.password' }>;

// ---------------------------------------------------------------------------------------------------------
// Pure helpers. They never mutate their arguments and return the same object when nothing changes, so an
// identical re-send costs no allocation and older snapshots stay valid.

function sameValue(a: AttributeValue | undefined, b: AttributeValue | undefined): boolean {
  if (a === b) return true;
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The attributes of `incoming` that really differ from `current` (a removed one as null), or undefined. */
function changedAttributes(current: Attributes, incoming: Attributes): Attributes | undefined {
  let changes: Attributes | undefined;
  for (const key in incoming) {
    const next = incoming[key];
    if (next === undefined) continue;
    const present = Object.hasOwn(current, key);
    if (next === null ? !present : present && sameValue(current[key], next)) continue;
    changes ??= {};
    changes[key] = next;
  }
  return changes;
}

function applyChanges(current: Attributes, changes: Attributes | undefined): Attributes {
  if (changes === undefined) return current;
  const next: Attributes = {};
  for (const key in current) {
    const value = Object.hasOwn(changes, key) ? changes[key] : current[key];
    if (value !== null && value !== undefined) next[key] = value;
  }
  for (const key in changes) {
    const value = changes[key];
    if (value !== null && value !== undefined && !Object.hasOwn(current, key)) next[key] = value;
  }
  return next;
}

type InboundChanged = Extract<IdentityEvent, { type: 'inbound.changed' }>;
type RulesApplied = Extract<IdentityEvent, { type: 'rules.applied' }>;

/** Rules have the last word: above any application's authority. */
const RULE_AUTHORITY = 1001;

/**
 * The part of an inbound change this source may make: an attribute last set by another application with
 * a higher authority is kept. Equal authority: the latest change wins.
 */
function authoritative(provenance: Provenance | undefined, event: InboundChanged | RulesApplied): Attributes {
  if (provenance === undefined || event.type === 'rules.applied') return event.attributes;
  let allowed: Attributes | undefined;
  for (const key in event.attributes) {
    const owner = provenance[key];
    const authority = event.authority?.[key] ?? 0;
    if (
      owner === undefined ||
      owner.applicationId === event.source.applicationId ||
      authority >= owner.authority
    )
      continue;
    allowed ??= { ...event.attributes };
    Reflect.deleteProperty(allowed, key);
  }
  return allowed ?? event.attributes;
}

/** Provenance after applying changes from a source: who supplied each attribute now, and with what authority. */
function withProvenance(
  provenance: Provenance | undefined,
  changes: Attributes | undefined,
  event: InboundChanged | RulesApplied,
): Provenance | undefined {
  if (changes === undefined) return provenance;
  const next: Provenance = { ...provenance };
  for (const key in changes) {
    if (changes[key] === null) Reflect.deleteProperty(next, key);
    else if (event.type === 'rules.applied')
      next[key] = { applicationId: 'rules', authority: RULE_AUTHORITY };
    else next[key] = { applicationId: event.source.applicationId, authority: event.authority?.[key] ?? 0 };
  }
  return next;
}

function withSource(sources: Source[], source: Source): Source[] {
  const known = sources.some(
    (other) => other.applicationId === source.applicationId && other.externalId === source.externalId,
  );
  return known ? sources : [...sources, source];
}

const sameSource = (a: Source, b: Source) =>
  a.applicationId === b.applicationId && a.externalId === b.externalId;

/**
 * The identity without a detached source. Provenance names applications, not objects, so the attributes
 * removed are those its application supplied, unless another remaining object of that application may
 * have supplied them. The machine keeps no other source's value for them (only the winning one), so they
 * are removed, not reverted: the remaining sources supply theirs again when next imported.
 */
function withoutSource(
  context: IdentityContext,
  source: Source,
): { sources: Source[]; changes: Attributes | undefined; provenance: Provenance | undefined } {
  const sources = context.sources.filter((other) => !sameSource(other, source));
  const shared = sources.some((other) => other.applicationId === source.applicationId);
  let changes: Attributes | undefined;
  let provenance = context.provenance;
  if (!shared && provenance !== undefined) {
    for (const key in provenance) {
      if (provenance[key]?.applicationId !== source.applicationId) continue;
      if (provenance === context.provenance) provenance = { ...provenance };
      Reflect.deleteProperty(provenance, key);
      if (!Object.hasOwn(context.attributes, key)) continue;
      changes ??= {};
      changes[key] = null;
    }
  }
  return { sources, changes, provenance };
}

function plusDays(at: string, days: number): string {
  return new Date(Date.parse(at) + days * DAY_MS).toISOString();
}

function outbound(
  change: OutboundChange,
  context: IdentityContext,
  event: IdentityEvent,
  extra?: { attributes?: Attributes; secret?: PulsePassword['secret'] },
): IdentityEffect {
  const effect: IdentityEffect = { type: 'outbound', change, identityId: context.identityId, at: event.at };
  if (extra?.attributes !== undefined) effect.attributes = extra.attributes;
  if (extra?.secret !== undefined) effect.secret = extra.secret;
  if ('source' in event) effect.source = event.source;
  return effect;
}

// ---------------------------------------------------------------------------------------------------------
// The machine.

interface ActionArgs<E extends IdentityEvent> {
  context: IdentityContext;
  event: E;
}

/**
 * The only effectful action: its `params` is the effect. It does nothing when executed; the pure
 * `transition()` returns it, with its resolved params, for the host to carry out.
 */
const emit: (args: unknown, effect: IdentityEffect) => void = () => undefined;

const base = setup({
  types: {
    context: {} as IdentityContext,
    events: {} as IdentityEvent,
    input: {} as IdentityInput,
  },
  actions: {
    emit,
  },
  guards: {
    lifecycleIs: ({ event }, params: { lifecycle: LifecycleStatus }) =>
      event.type === 'inbound.changed' && event.lifecycle === params.lifecycle,
    /** A joiner becomes active on an explicit `active` and when the source states no lifecycle. */
    activates: ({ event }) =>
      event.type === 'inbound.changed' && (event.lifecycle === undefined || event.lifecycle === 'active'),
    /** A detached source the identity knows (detaching an unknown one changes nothing). */
    hasSource: ({ context, event }) =>
      event.type === 'inbound.detached' && context.sources.some((other) => sameSource(other, event.source)),
    newerPlan: ({ context, event }) =>
      event.type === 'plan.applied' && event.version > (context.planVersion ?? 0),
    isDeletionTimer: ({ context, event }) =>
      (event.type === 'timer.fired' || event.type === 'timer.cancelled') &&
      event.timerId === context.deletion?.timerId,
  },
});

// The actions that change the context, some of which emit as well (enqueued, so each computes once).
const logic = base.extend({
  actions: {
    /** A joiner's merge: not provisioned yet, so no update effect (the create carries every attribute). */
    absorbInbound: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'inbound.changed' && event.type !== 'rules.applied') return;
      const changes = changedAttributes(context.attributes, authoritative(context.provenance, event));
      enqueue.assign({
        attributes: applyChanges(context.attributes, changes),
        provenance: withProvenance(context.provenance, changes, event),
        sources:
          event.type === 'inbound.changed' ? withSource(context.sources, event.source) : context.sources,
        updatedAt: event.at,
      });
    }),
    /**
     * A provisioned identity's merge: the attributes that really changed go out as an update first. A newly
     * joined object goes out too, even with nothing changed: an account joined in a target application is
     * compared with what the identity wants there.
     */
    mergeInbound: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'inbound.changed' && event.type !== 'rules.applied') return;
      const changes = changedAttributes(context.attributes, authoritative(context.provenance, event));
      const joins =
        event.type === 'inbound.changed' && withSource(context.sources, event.source) !== context.sources;
      if (changes !== undefined || joins) {
        enqueue({ type: 'emit', params: outbound('update', context, event, { attributes: changes ?? {} }) });
      }
      enqueue.assign({
        attributes: applyChanges(context.attributes, changes),
        provenance: withProvenance(context.provenance, changes, event),
        sources:
          event.type === 'inbound.changed' ? withSource(context.sources, event.source) : context.sources,
        updatedAt: event.at,
      });
    }),
    /** A joiner forgets a detached source: not provisioned yet, so nothing goes out. */
    forgetSource: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'inbound.detached') return;
      const { sources, changes, provenance } = withoutSource(context, event.source);
      enqueue.assign({
        attributes: applyChanges(context.attributes, changes),
        provenance,
        sources,
        updatedAt: event.at,
      });
    }),
    /** A provisioned identity forgets a detached source: the attributes it removes go out as an update. */
    detachSource: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'inbound.detached') return;
      const { sources, changes, provenance } = withoutSource(context, event.source);
      if (changes !== undefined)
        enqueue({ type: 'emit', params: outbound('update', context, event, { attributes: changes }) });
      enqueue.assign({
        attributes: applyChanges(context.attributes, changes),
        provenance,
        sources,
        updatedAt: event.at,
      });
    }),
    touch: base.assign({ updatedAt: ({ event }) => event.at }),
    /** A new plan version: remembered, so the host classifies the identity and runs the rules again. */
    rememberPlan: base.assign({
      planVersion: ({ context, event }) =>
        event.type === 'plan.applied' ? event.version : context.planVersion,
    }),
    /** A new classification can change which applications the identity belongs in: Outbound looks again. */
    classify: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'classified' || event.classification === context.classification) return;
      enqueue.assign({ classification: event.classification, updatedAt: event.at });
      if (context.classification !== undefined)
        enqueue({ type: 'emit', params: outbound('update', context, event, { attributes: {} }) });
    }),
    scheduleDeletion: base.enqueueActions(({ context, event, enqueue }) => {
      const deletion = {
        timerId: `deletion:${event.at}`,
        dueAt: plusDays(event.at, context.deletionDelayDays),
      };
      enqueue.assign({ deletion });
      enqueue({
        type: 'emit',
        params: {
          type: 'timer.schedule',
          timerId: deletion.timerId,
          kind: 'deletion',
          identityId: context.identityId,
          dueAt: deletion.dueAt,
        },
      });
    }),
    cancelDeletion: base.enqueueActions(({ context, enqueue }) => {
      if (context.deletion === undefined) return;
      enqueue({
        type: 'emit',
        params: { type: 'timer.cancel', timerId: context.deletion.timerId, identityId: context.identityId },
      });
      enqueue.assign({ deletion: undefined });
    }),
  },
});

/** An outbound effect of `change` for the event being handled. */
function emitOutbound(change: OutboundChange) {
  return {
    type: 'emit' as const,
    params: ({ context, event }: ActionArgs<IdentityEvent>) => outbound(change, context, event),
  };
}

/** The create effect, with every attribute after the merge. */
const emitCreate = {
  type: 'emit' as const,
  params: ({ context, event }: ActionArgs<IdentityEvent>) =>
    outbound('create', context, event, { attributes: context.attributes }),
};

/** Outbound looks at the identity again with nothing changed in it (a new plan decides). */
const emitReconsider = {
  type: 'emit' as const,
  params: ({ context, event }: ActionArgs<IdentityEvent>) =>
    outbound('update', context, event, { attributes: {} }),
};

const emitPassword = {
  type: 'emit' as const,
  params: ({ context, event }: ActionArgs<PulsePassword>) =>
    outbound('password', context, event, { secret: event.secret }),
};

/** The log effect of a change of state. */
function emitLog(
  from: IdentityState,
  to: IdentityState,
  message: string | ((args: { event: IdentityEvent }) => string),
) {
  return {
    type: 'emit' as const,
    params: ({ context, event }: ActionArgs<IdentityEvent>): IdentityEffect => ({
      type: 'log',
      identityId: context.identityId,
      message: typeof message === 'string' ? message : message({ event }),
      from,
      to,
      at: event.at,
    }),
  };
}

/**
 * XState's public `transition()` builds a throwaway actor per call, which computes an initial snapshot
 * without any input: answered with an empty context instead of a TypeError, so that the public API works
 * on this machine too. `createIdentity` always passes the input.
 */
function initialContext(input: IdentityInput | undefined): IdentityContext {
  return {
    tenantId: input?.tenantId ?? '',
    identityId: input?.identityId ?? '',
    attributes: {},
    sources: [],
    deletionDelayDays: input?.deletionDelayDays ?? DEFAULT_DELETION_DELAY_DAYS,
  };
}

const is = (lifecycle: LifecycleStatus) => ({ type: 'lifecycleIs' as const, params: { lifecycle } });

export const identityMachine = logic.createMachine({
  id: 'identity',
  initial: 'joiner',
  context: ({ input }) => initialContext(input),
  // Any living identity can be (re)classified; a deleted one is done and hears nothing.
  on: {
    classified: { actions: 'classify' },
    // Looked at once per plan version: a version already seen (or an older one, replayed) changes nothing.
    // A provisioned identity also goes to Outbound, which compares every target with the new plan (level-
    // triggered: only real differences leave); a joiner has nothing provisioned to compare.
    'plan.applied': { guard: 'newerPlan', actions: ['rememberPlan', emitReconsider] },
    'inbound.detached': { guard: 'hasSource', actions: 'detachSource' },
  },
  states: {
    joiner: {
      on: {
        'inbound.changed': [
          {
            guard: is('disabled'),
            target: 'disabled',
            actions: [
              'absorbInbound',
              emitCreate,
              emitOutbound('disable'),
              emitLog('joiner', 'disabled', 'identity created disabled'),
            ],
          },
          {
            guard: 'activates',
            target: 'active',
            actions: ['absorbInbound', emitCreate, emitLog('joiner', 'active', 'identity created')],
          },
          // Left before ever being provisioned: remember the attributes, provision nothing.
          { actions: 'absorbInbound' },
        ],
        'rules.applied': { actions: 'absorbInbound' },
        'plan.applied': { guard: 'newerPlan', actions: 'rememberPlan' },
        // Not provisioned yet: nothing to send out.
        'inbound.detached': { guard: 'hasSource', actions: 'forgetSource' },
      },
    },
    active: {
      on: {
        'inbound.changed': [
          {
            guard: is('disabled'),
            target: 'disabled',
            actions: [
              'mergeInbound',
              emitOutbound('disable'),
              emitLog('active', 'disabled', 'identity disabled'),
            ],
          },
          {
            guard: is('left'),
            target: 'leaver',
            actions: [
              'mergeInbound',
              emitOutbound('disable'),
              'scheduleDeletion',
              emitLog('active', 'leaver', 'identity left, deletion scheduled'),
            ],
          },
          { actions: 'mergeInbound' },
        ],
        'rules.applied': { actions: 'mergeInbound' },
        'pulse.disable': {
          target: 'disabled',
          actions: ['touch', emitOutbound('disable'), emitLog('active', 'disabled', 'identity disabled')],
        },
        'pulse.password': { actions: ['touch', emitPassword] },
      },
    },
    disabled: {
      on: {
        'inbound.changed': [
          {
            guard: is('active'),
            target: 'active',
            actions: [
              'mergeInbound',
              emitOutbound('enable'),
              emitLog('disabled', 'active', 'identity enabled'),
            ],
          },
          {
            guard: is('left'),
            target: 'leaver',
            actions: [
              'mergeInbound',
              'scheduleDeletion',
              emitLog('disabled', 'leaver', 'identity left, deletion scheduled'),
            ],
          },
          { actions: 'mergeInbound' },
        ],
        'rules.applied': { actions: 'mergeInbound' },
        'pulse.enable': {
          target: 'active',
          actions: ['touch', emitOutbound('enable'), emitLog('disabled', 'active', 'identity enabled')],
        },
        'pulse.password': { actions: ['touch', emitPassword] },
      },
    },
    leaver: {
      on: {
        'inbound.changed': [
          {
            guard: is('active'),
            target: 'active',
            actions: [
              'mergeInbound',
              'cancelDeletion',
              emitOutbound('enable'),
              emitLog('leaver', 'active', 'identity returned, deletion cancelled'),
            ],
          },
          // Back in the source, but stated disabled (on leave, suspended): still a person of the organisation,
          // so the deletion is called off; the accounts stay disabled as a leaver's are.
          {
            guard: is('disabled'),
            target: 'disabled',
            actions: [
              'mergeInbound',
              'cancelDeletion',
              emitLog('leaver', 'disabled', 'identity returned disabled, deletion cancelled'),
            ],
          },
          { actions: 'mergeInbound' },
        ],
        'rules.applied': { actions: 'mergeInbound' },
        'timer.fired': {
          guard: 'isDeletionTimer',
          target: 'deleted',
          actions: ['touch', emitOutbound('delete'), emitLog('leaver', 'deleted', 'identity deleted')],
        },
        // The identity stays a leaver (disabled everywhere); only its deletion is called off.
        'timer.cancelled': {
          guard: 'isDeletionTimer',
          actions: [
            'touch',
            'cancelDeletion',
            emitLog('leaver', 'leaver', ({ event }) =>
              event.type === 'timer.cancelled'
                ? `scheduled deletion cancelled by ${event.by}`
                : 'scheduled deletion cancelled',
            ),
          ],
        },
      },
    },
    deleted: { type: 'final' },
  },
});

export type IdentitySnapshot = SnapshotFrom<typeof identityMachine>;

/**
 * What the host stores: plain JSON, restored with `hydrateIdentity`. Leaner than the context it holds,
 * because a million-identity load writes (and WAL-logs, and re-reads) every byte of it: the tenant and
 * identity ids are the row's own columns, and provenance is grouped by who supplied the attributes, so an
 * application id is written once rather than once per attribute (it was half of a stored identity).
 */
export interface PersistedIdentity {
  state: IdentityState;
  context: PersistedContext;
}

export type PersistedContext = Omit<IdentityContext, 'tenantId' | 'identityId' | 'provenance'> & {
  /** Present in identities stored before 2026-12-03; the row's columns otherwise. */
  tenantId?: string;
  identityId?: string;
  provenance?: StoredProvenance | Provenance;
};

/** Provenance as stored: each application (and authority) with the attributes it supplied. */
export type StoredProvenance = { applicationId: string; authority: number; attributes: string[] }[];

export interface IdentityStep {
  snapshot: IdentitySnapshot;
  /** What the host must do, in order, in the same transaction as storing the snapshot. */
  effects: IdentityEffect[];
}

type IdentityScope = Parameters<typeof identityMachine.transition>[2];
type IdentityActions = Parameters<IdentityScope['actionExecutor']>[0][];

/**
 * The actor a step's scope names as `self`, as XState's own inert scope does. It is never started and never
 * sent anything: the identity machine spawns no actors, sends no events and reads no `self`, so nothing is
 * ever written to it, and one serves every step.
 */
const inertSelf = createActor(identityMachine, {
  input: {
    tenantId: '00000000-0000-0000-0000-000000000000',
    identityId: '00000000-0000-0000-0000-000000000000',
  },
});
const ignore = (): void => undefined;

/** What XState's `transition()` builds per call, minus the actor: the step's actions land in `actions`. */
function stepScope(actions: IdentityActions): IdentityScope {
  return {
    self: inertSelf,
    system: inertSelf.system,
    id: '',
    sessionId: '',
    defer: ignore,
    logger: ignore,
    stopChild: ignore,
    emit: ignore,
    actionExecutor: (action) => {
      actions.push(action);
    },
  };
}

function effectsOf(actions: IdentityActions): IdentityEffect[] {
  const effects: IdentityEffect[] = [];
  for (const action of actions) {
    // XState types the action params as one union over all actions; only `emit` is ever returned with an
    // effect (the other named actions are builtins that resolve into context changes and `emit`s).
    if (action.type !== 'emit') continue;
    const effect = action.params as IdentityEffect | undefined;
    if (effect !== undefined) effects.push(effect);
  }
  return effects;
}

/** A new identity, a joiner with no attributes yet. */
export function createIdentity(input: IdentityInput): IdentityStep {
  const actions: IdentityActions = [];
  const snapshot = identityMachine.getInitialSnapshot(stepScope(actions), input);
  return { snapshot, effects: effectsOf(actions) };
}

/** The identity after `event`, and the effects it asks for. Pure: `snapshot` is left as it was. */
export function stepIdentity(snapshot: IdentitySnapshot, event: IdentityEvent): IdentityStep {
  // An event the identity ignores (any, once deleted) changes nothing: answer it without a scope.
  // `can()` only selects transitions and evaluates their guards.
  if (snapshot.status !== 'active' || !snapshot.can(event)) return { snapshot, effects: [] };
  const actions: IdentityActions = [];
  const next = identityMachine.transition(snapshot, event, stepScope(actions));
  return { snapshot: next, effects: effectsOf(actions) };
}

export function identityState(snapshot: IdentitySnapshot): IdentityState {
  return snapshot.value;
}

export function persistIdentity(snapshot: IdentitySnapshot): PersistedIdentity {
  const { attributes, sources, deletionDelayDays, deletion, updatedAt, provenance } = snapshot.context;
  const context: PersistedContext = { attributes, sources, deletionDelayDays };
  if (provenance !== undefined) context.provenance = storedProvenance(provenance);
  if (snapshot.context.classification !== undefined) context.classification = snapshot.context.classification;
  if (deletion !== undefined) context.deletion = deletion;
  if (updatedAt !== undefined) context.updatedAt = updatedAt;
  if (snapshot.context.planVersion !== undefined) context.planVersion = snapshot.context.planVersion;
  return { state: snapshot.value, context };
}

/** The identity a row holds: its stored snapshot, with the row's tenant and id. */
export function hydrateIdentity(
  persisted: PersistedIdentity,
  row: { tenantId: string; identityId: string },
): IdentitySnapshot {
  const { provenance, ...rest } = persisted.context;
  const context: IdentityContext = { ...rest, tenantId: row.tenantId, identityId: row.identityId };
  if (provenance !== undefined) context.provenance = provenanceOf(provenance);
  return identityMachine.resolveState({ value: persisted.state, context });
}

function storedProvenance(provenance: Provenance): StoredProvenance {
  const groups = new Map<string, StoredProvenance[number]>();
  for (const attribute in provenance) {
    const owner = provenance[attribute];
    if (owner === undefined) continue;
    const key = `${owner.authority}|${owner.applicationId}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, { ...owner, attributes: [attribute] });
    else group.attributes.push(attribute);
  }
  return [...groups.values()];
}

/** Provenance per attribute, from its stored form (grouped, or per attribute as stored before 2026-12-03). */
export function provenanceOf(stored: StoredProvenance | Provenance): Provenance {
  if (!Array.isArray(stored)) return stored;
  const provenance: Provenance = {};
  for (const { applicationId, authority, attributes } of stored)
    for (const attribute of attributes) provenance[attribute] = { applicationId, authority };
  return provenance;
}
