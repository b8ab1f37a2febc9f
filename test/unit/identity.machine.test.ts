import { describe, expect, it } from 'vitest';
import { initialTransition, transition } from 'xstate';
import type {
  Attributes,
  IdentityEffect,
  IdentityEvent,
  LifecycleStatus,
  Source,
} from '../../kernel/contracts/identity-events.ts';
import {
  createIdentity,
  hydrateIdentity,
  identityMachine,
  identityState,
  persistIdentity,
  stepIdentity,
  type IdentitySnapshot,
  type IdentityStep,
  type PersistedIdentity,
} from '../../actors/identity.machine.ts';

const TENANT = '0b7c3a52-5f0e-4c1e-9d7a-2f1f4c8e6a01';
const IDENTITY = '6f1d2c3b-8a9e-4b7f-a6d5-c4b3a2918f70';
/** The identity row's own columns, which the stored snapshot leaves out. */
const ROW = { tenantId: TENANT, identityId: IDENTITY };
const HR: Source = { applicationId: 'a1b2c3d4-e5f6-4789-8abc-def012345678', externalId: 'emp-1042' };
const AD: Source = { applicationId: 'c0ffee00-1234-4abc-9def-0123456789ab', externalId: 'objectGUID-77' };

const T1 = '2026-03-01T09:00:00.000Z';
const T2 = '2026-03-02T09:00:00.000Z';
const T3 = '2026-03-03T09:00:00.000Z';
const T4 = '2026-03-04T09:00:00.000Z';
const T5 = '2026-03-05T09:00:00.000Z';

const ALICE: Attributes = {
  givenName: 'Alice',
  surname: 'Martin',
  mail: 'alice@example.com',
  groups: ['staff'],
};

function inbound(
  fields: {
    attributes?: Attributes;
    lifecycle?: LifecycleStatus;
    at?: string;
    source?: Source;
    authority?: Record<string, number>;
  } = {},
): IdentityEvent {
  const event: IdentityEvent = {
    type: 'inbound.changed',
    at: fields.at ?? T1,
    source: fields.source ?? HR,
    attributes: fields.attributes ?? ALICE,
  };
  if (fields.lifecycle !== undefined) event.lifecycle = fields.lifecycle;
  if (fields.authority !== undefined) event.authority = fields.authority;
  return event;
}

function pulse(type: 'pulse.enable' | 'pulse.disable', at: string, source: Source = AD): IdentityEvent {
  return { type, at, source };
}

const SECRET = { keyId: 'recipient-2026', ciphertext: 'c2VhbGVkIGJ5IHRoZSBhZ2VudA==' };

function password(at: string): IdentityEvent {
  return { type: 'pulse.password', at, source: AD, secret: SECRET };
}

function timer(timerId: string, at: string): IdentityEvent {
  return { type: 'timer.fired', at, timerId, kind: 'deletion' };
}

/** A new identity that heard `events` in order; the last step is returned. */
function after(...events: IdentityEvent[]): IdentityStep {
  let step = createIdentity({ tenantId: TENANT, identityId: IDENTITY });
  for (const event of events) step = stepIdentity(step.snapshot, event);
  return step;
}

/** The effects in order, as short labels: `outbound:update`, `timer.schedule`, `log`. */
function kinds(effects: IdentityEffect[]): string[] {
  return effects.map((effect) => (effect.type === 'outbound' ? `outbound:${effect.change}` : effect.type));
}

function outboundOf(effects: IdentityEffect[], change: string): IdentityEffect | undefined {
  return effects.find((effect) => effect.type === 'outbound' && effect.change === change);
}

function logOf(effects: IdentityEffect[]): IdentityEffect | undefined {
  return effects.find((effect) => effect.type === 'log');
}

const active = (): IdentitySnapshot => after(inbound({ at: T1 })).snapshot;
const disabled = (): IdentitySnapshot => after(inbound({ at: T1 }), pulse('pulse.disable', T2)).snapshot;
const leaver = (): IdentitySnapshot =>
  after(inbound({ at: T1 }), inbound({ at: T2, lifecycle: 'left' })).snapshot;
const DELETION_TIMER = `deletion:${T2}`;

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

describe('identity lifecycle', () => {
  describe('a joiner', () => {
    it('starts as a joiner with no attributes, no effects and a 90-day deletion delay by default', () => {
      const { snapshot, effects } = createIdentity({ tenantId: TENANT, identityId: IDENTITY });
      expect(identityState(snapshot)).toBe('joiner');
      expect(effects).toEqual([]);
      expect(snapshot.context).toEqual({
        tenantId: TENANT,
        identityId: IDENTITY,
        attributes: {},
        sources: [],
        deletionDelayDays: 90,
      });
    });

    it('keeps the deletion delay it was created with', () => {
      const { snapshot } = createIdentity({ tenantId: TENANT, identityId: IDENTITY, deletionDelayDays: 30 });
      expect(snapshot.context.deletionDelayDays).toBe(30);
    });

    it('provisions an identity that arrives active with every attribute', () => {
      const { snapshot, effects } = after(inbound({ lifecycle: 'active' }));
      expect(identityState(snapshot)).toBe('active');
      expect(effects).toEqual([
        { type: 'outbound', change: 'create', identityId: IDENTITY, attributes: ALICE, source: HR, at: T1 },
        {
          type: 'log',
          identityId: IDENTITY,
          message: 'identity created',
          from: 'joiner',
          to: 'active',
          at: T1,
        },
      ]);
      expect(snapshot.context.attributes).toEqual(ALICE);
      expect(snapshot.context.sources).toEqual([HR]);
      expect(snapshot.context.updatedAt).toBe(T1);
    });

    it('provisions an identity whose source states no lifecycle as active', () => {
      const { snapshot, effects } = after(inbound());
      expect(identityState(snapshot)).toBe('active');
      expect(kinds(effects)).toEqual(['outbound:create', 'log']);
    });

    it('creates with the attributes merged so far, the null ones left out', () => {
      const { effects } = after(
        inbound({ at: T1, lifecycle: 'left', attributes: { givenName: 'Alice', title: 'Intern' } }),
        inbound({ at: T2, attributes: { surname: 'Martin', title: null, phone: null } }),
      );
      expect(outboundOf(effects, 'create')).toMatchObject({
        attributes: { givenName: 'Alice', surname: 'Martin' },
        at: T2,
      });
    });

    it('provisions then disables an identity that arrives disabled', () => {
      const { snapshot, effects } = after(inbound({ lifecycle: 'disabled' }));
      expect(identityState(snapshot)).toBe('disabled');
      expect(effects).toEqual([
        { type: 'outbound', change: 'create', identityId: IDENTITY, attributes: ALICE, source: HR, at: T1 },
        { type: 'outbound', change: 'disable', identityId: IDENTITY, source: HR, at: T1 },
        {
          type: 'log',
          identityId: IDENTITY,
          message: 'identity created disabled',
          from: 'joiner',
          to: 'disabled',
          at: T1,
        },
      ]);
    });

    it('remembers the attributes of a joiner who left before being provisioned, and provisions nothing', () => {
      const { snapshot, effects } = after(inbound({ lifecycle: 'left' }));
      expect(identityState(snapshot)).toBe('joiner');
      expect(effects).toEqual([]);
      expect(snapshot.context.attributes).toEqual(ALICE);
      expect(snapshot.context.sources).toEqual([HR]);
      expect(snapshot.context.updatedAt).toBe(T1);
    });

    it('ignores pulses and timers', () => {
      const joiner = createIdentity({ tenantId: TENANT, identityId: IDENTITY }).snapshot;
      for (const event of [
        pulse('pulse.enable', T1),
        pulse('pulse.disable', T1),
        password(T1),
        timer('deletion:whatever', T1),
      ]) {
        const step = stepIdentity(joiner, event);
        expect(step.snapshot).toBe(joiner);
        expect(step.effects).toEqual([]);
      }
    });
  });

  describe('an active identity', () => {
    it('sends an update with only the attributes that really changed', () => {
      const { snapshot, effects } = stepIdentity(
        active(),
        inbound({
          at: T2,
          attributes: { givenName: 'Alice', surname: 'Dupont', groups: ['staff'], title: 'Engineer' },
        }),
      );
      expect(identityState(snapshot)).toBe('active');
      expect(effects).toEqual([
        {
          type: 'outbound',
          change: 'update',
          identityId: IDENTITY,
          attributes: { surname: 'Dupont', title: 'Engineer' },
          source: HR,
          at: T2,
        },
      ]);
      expect(snapshot.context.attributes).toEqual({ ...ALICE, surname: 'Dupont', title: 'Engineer' });
      expect(snapshot.context.updatedAt).toBe(T2);
    });

    it('removes an attribute set to null and sends it as null', () => {
      const { snapshot, effects } = stepIdentity(active(), inbound({ at: T2, attributes: { mail: null } }));
      expect(outboundOf(effects, 'update')).toMatchObject({ attributes: { mail: null } });
      expect(snapshot.context.attributes).not.toHaveProperty('mail');
      expect(snapshot.context.attributes).toEqual({
        givenName: 'Alice',
        surname: 'Martin',
        groups: ['staff'],
      });
    });

    it('sends nothing when the same attributes are sent again', () => {
      const before = active();
      const { snapshot, effects } = stepIdentity(
        before,
        inbound({ at: T2, attributes: { ...ALICE, groups: ['staff'], phone: null } }),
      );
      expect(effects).toEqual([]);
      expect(identityState(snapshot)).toBe('active');
      expect(snapshot.context.attributes).toBe(before.context.attributes);
      expect(snapshot.context.updatedAt).toBe(T2);
    });

    it('compares multi-valued attributes by their values, in order', () => {
      const { effects } = stepIdentity(
        active(),
        inbound({ at: T2, attributes: { groups: ['staff', 'admins'] } }),
      );
      expect(outboundOf(effects, 'update')).toMatchObject({ attributes: { groups: ['staff', 'admins'] } });
    });

    it('records each contributing application object once', () => {
      const { snapshot } = after(
        inbound({ at: T1 }),
        inbound({ at: T2, source: AD, attributes: { sAMAccountName: 'amartin' } }),
        inbound({ at: T3, source: { ...HR }, attributes: {} }),
      );
      expect(snapshot.context.sources).toEqual([HR, AD]);
    });

    it('disables an active identity on a disable pulse', () => {
      const { snapshot, effects } = stepIdentity(active(), pulse('pulse.disable', T2));
      expect(identityState(snapshot)).toBe('disabled');
      expect(effects).toEqual([
        { type: 'outbound', change: 'disable', identityId: IDENTITY, source: AD, at: T2 },
        {
          type: 'log',
          identityId: IDENTITY,
          message: 'identity disabled',
          from: 'active',
          to: 'disabled',
          at: T2,
        },
      ]);
      expect(snapshot.context.updatedAt).toBe(T2);
    });

    it('ignores an enable pulse', () => {
      const before = active();
      const step = stepIdentity(before, pulse('pulse.enable', T2));
      expect(step.snapshot).toBe(before);
      expect(step.effects).toEqual([]);
    });

    it('passes a password pulse through with the sealed secret untouched', () => {
      const { snapshot, effects } = stepIdentity(active(), password(T2));
      expect(identityState(snapshot)).toBe('active');
      expect(effects).toEqual([
        { type: 'outbound', change: 'password', identityId: IDENTITY, secret: SECRET, source: AD, at: T2 },
      ]);
      const effect = effects[0];
      expect(effect?.type === 'outbound' ? effect.secret : undefined).toBe(SECRET);
      expect(SECRET).toEqual({ keyId: 'recipient-2026', ciphertext: 'c2VhbGVkIGJ5IHRoZSBhZ2VudA==' });
      expect(JSON.stringify(snapshot.context)).not.toContain(SECRET.ciphertext);
    });

    it('disables an identity its source reports disabled, after updating what changed', () => {
      const { snapshot, effects } = stepIdentity(
        active(),
        inbound({ at: T2, lifecycle: 'disabled', attributes: { title: 'On leave' } }),
      );
      expect(identityState(snapshot)).toBe('disabled');
      expect(kinds(effects)).toEqual(['outbound:update', 'outbound:disable', 'log']);
      expect(outboundOf(effects, 'disable')).toEqual({
        type: 'outbound',
        change: 'disable',
        identityId: IDENTITY,
        source: HR,
        at: T2,
      });
    });

    it('disables a leaver and schedules the deletion after the deletion delay', () => {
      const { snapshot, effects } = stepIdentity(
        active(),
        inbound({ at: T2, lifecycle: 'left', attributes: { title: 'Former employee' } }),
      );
      expect(identityState(snapshot)).toBe('leaver');
      expect(effects).toEqual([
        {
          type: 'outbound',
          change: 'update',
          identityId: IDENTITY,
          attributes: { title: 'Former employee' },
          source: HR,
          at: T2,
        },
        { type: 'outbound', change: 'disable', identityId: IDENTITY, source: HR, at: T2 },
        {
          type: 'timer.schedule',
          timerId: DELETION_TIMER,
          kind: 'deletion',
          identityId: IDENTITY,
          dueAt: '2026-05-31T09:00:00.000Z',
        },
        {
          type: 'log',
          identityId: IDENTITY,
          message: 'identity left, deletion scheduled',
          from: 'active',
          to: 'leaver',
          at: T2,
        },
      ]);
      expect(snapshot.context.deletion).toEqual({
        timerId: DELETION_TIMER,
        dueAt: '2026-05-31T09:00:00.000Z',
      });
    });

    it('schedules the deletion with the delay the identity was created with', () => {
      let step = createIdentity({ tenantId: TENANT, identityId: IDENTITY, deletionDelayDays: 7 });
      step = stepIdentity(step.snapshot, inbound({ at: T1 }));
      step = stepIdentity(step.snapshot, inbound({ at: '2026-12-28T23:30:00Z', lifecycle: 'left' }));
      expect(step.effects.find((effect) => effect.type === 'timer.schedule')).toMatchObject({
        timerId: 'deletion:2026-12-28T23:30:00Z',
        dueAt: '2027-01-04T23:30:00.000Z',
      });
    });
  });

  describe('a disabled identity', () => {
    it('enables a disabled identity on an enable pulse', () => {
      const { snapshot, effects } = stepIdentity(disabled(), pulse('pulse.enable', T3));
      expect(identityState(snapshot)).toBe('active');
      expect(effects).toEqual([
        { type: 'outbound', change: 'enable', identityId: IDENTITY, source: AD, at: T3 },
        {
          type: 'log',
          identityId: IDENTITY,
          message: 'identity enabled',
          from: 'disabled',
          to: 'active',
          at: T3,
        },
      ]);
    });

    it('ignores a disable pulse', () => {
      const before = disabled();
      const step = stepIdentity(before, pulse('pulse.disable', T3));
      expect(step.snapshot).toBe(before);
      expect(step.effects).toEqual([]);
    });

    it('passes a password pulse through and stays disabled', () => {
      const { snapshot, effects } = stepIdentity(disabled(), password(T3));
      expect(identityState(snapshot)).toBe('disabled');
      expect(effects).toEqual([
        { type: 'outbound', change: 'password', identityId: IDENTITY, secret: SECRET, source: AD, at: T3 },
      ]);
    });

    it('updates what changed and stays disabled while its source keeps it disabled', () => {
      const { snapshot, effects } = stepIdentity(
        disabled(),
        inbound({ at: T3, lifecycle: 'disabled', attributes: { title: 'On leave' } }),
      );
      expect(identityState(snapshot)).toBe('disabled');
      expect(kinds(effects)).toEqual(['outbound:update']);
    });

    it('enables an identity its source reports active again, after updating what changed', () => {
      const { snapshot, effects } = stepIdentity(
        disabled(),
        inbound({ at: T3, lifecycle: 'active', attributes: { title: 'Back' } }),
      );
      expect(identityState(snapshot)).toBe('active');
      expect(kinds(effects)).toEqual(['outbound:update', 'outbound:enable', 'log']);
      expect(outboundOf(effects, 'enable')).toMatchObject({ source: HR, at: T3 });
    });

    it('schedules the deletion of a disabled leaver without disabling it twice', () => {
      const { snapshot, effects } = stepIdentity(disabled(), inbound({ at: T3, lifecycle: 'left' }));
      expect(identityState(snapshot)).toBe('leaver');
      expect(kinds(effects)).toEqual(['timer.schedule', 'log']);
      expect(logOf(effects)).toMatchObject({ from: 'disabled', to: 'leaver', at: T3 });
      expect(snapshot.context.deletion).toEqual({
        timerId: `deletion:${T3}`,
        dueAt: '2026-06-01T09:00:00.000Z',
      });
    });
  });

  describe('a leaver', () => {
    it('keeps a leaver whose scheduled deletion an administrator cancelled, and ignores the old timer later', () => {
      const cancel: IdentityEvent = {
        type: 'timer.cancelled',
        at: T3,
        timerId: DELETION_TIMER,
        by: 'service-account:ops',
      };
      const kept = stepIdentity(leaver(), cancel);
      expect(identityState(kept.snapshot)).toBe('leaver');
      expect(kept.effects).toEqual([
        { type: 'timer.cancel', timerId: DELETION_TIMER, identityId: IDENTITY },
        {
          type: 'log',
          identityId: IDENTITY,
          message: 'scheduled deletion cancelled by service-account:ops',
          from: 'leaver',
          to: 'leaver',
          at: T3,
        },
      ]);
      expect(kept.snapshot.context.deletion).toBeUndefined();
      const late = stepIdentity(kept.snapshot, timer(DELETION_TIMER, '2026-05-31T09:00:00.000Z'));
      expect(identityState(late.snapshot)).toBe('leaver');
      expect(late.effects).toEqual([]);
      // A cancellation naming another timer (or none pending) changes nothing.
      const other = stepIdentity(leaver(), { ...cancel, timerId: 'deletion:other' });
      expect(other.effects).toEqual([]);
      expect(identityState(stepIdentity(active(), cancel).snapshot)).toBe('active');
    });

    it('welcomes back a leaver who returns before the deletion, and ignores the old timer later', () => {
      const returned = stepIdentity(
        leaver(),
        inbound({ at: T3, lifecycle: 'active', attributes: { title: 'Rehired' } }),
      );
      expect(identityState(returned.snapshot)).toBe('active');
      expect(returned.effects).toEqual([
        {
          type: 'outbound',
          change: 'update',
          identityId: IDENTITY,
          attributes: { title: 'Rehired' },
          source: HR,
          at: T3,
        },
        { type: 'timer.cancel', timerId: DELETION_TIMER, identityId: IDENTITY },
        { type: 'outbound', change: 'enable', identityId: IDENTITY, source: HR, at: T3 },
        {
          type: 'log',
          identityId: IDENTITY,
          message: 'identity returned, deletion cancelled',
          from: 'leaver',
          to: 'active',
          at: T3,
        },
      ]);
      expect(returned.snapshot.context.deletion).toBeUndefined();

      const late = stepIdentity(returned.snapshot, timer(DELETION_TIMER, '2026-05-31T09:00:00.000Z'));
      expect(late.snapshot).toBe(returned.snapshot);
      expect(late.effects).toEqual([]);
    });

    it('keeps a leaver who returns stated disabled (on leave) disabled, and calls the deletion off', () => {
      const returned = stepIdentity(leaver(), inbound({ at: T3, lifecycle: 'disabled', attributes: {} }));
      expect(identityState(returned.snapshot)).toBe('disabled');
      expect(returned.effects).toEqual([
        { type: 'timer.cancel', timerId: DELETION_TIMER, identityId: IDENTITY },
        {
          type: 'log',
          identityId: IDENTITY,
          message: 'identity returned disabled, deletion cancelled',
          from: 'leaver',
          to: 'disabled',
          at: T3,
        },
      ]);
      expect(returned.snapshot.context.deletion).toBeUndefined();
      const late = stepIdentity(returned.snapshot, timer(DELETION_TIMER, '2026-05-31T09:00:00.000Z'));
      expect(identityState(late.snapshot)).toBe('disabled');
      expect(late.effects).toEqual([]);
    });

    it('deletes a leaver when the deletion timer fires', () => {
      const { snapshot, effects } = stepIdentity(leaver(), timer(DELETION_TIMER, '2026-05-31T09:00:00.000Z'));
      expect(identityState(snapshot)).toBe('deleted');
      expect(snapshot.status).toBe('done');
      expect(effects).toEqual([
        { type: 'outbound', change: 'delete', identityId: IDENTITY, at: '2026-05-31T09:00:00.000Z' },
        {
          type: 'log',
          identityId: IDENTITY,
          message: 'identity deleted',
          from: 'leaver',
          to: 'deleted',
          at: '2026-05-31T09:00:00.000Z',
        },
      ]);
    });

    it('ignores a timer that is not its pending deletion', () => {
      const before = leaver();
      const step = stepIdentity(before, timer(`deletion:${T1}`, T4));
      expect(step.snapshot).toBe(before);
      expect(step.effects).toEqual([]);
    });

    it('ignores the old timer of an earlier departure once it has left again', () => {
      const { snapshot } = after(
        inbound({ at: T1 }),
        inbound({ at: T2, lifecycle: 'left' }),
        inbound({ at: T3, lifecycle: 'active' }),
        inbound({ at: T4, lifecycle: 'left' }),
      );
      expect(snapshot.context.deletion?.timerId).toBe(`deletion:${T4}`);
      expect(stepIdentity(snapshot, timer(DELETION_TIMER, T5)).effects).toEqual([]);
      expect(identityState(stepIdentity(snapshot, timer(`deletion:${T4}`, T5)).snapshot)).toBe('deleted');
    });

    it('ignores pulses', () => {
      const before = leaver();
      for (const event of [pulse('pulse.enable', T3), pulse('pulse.disable', T3), password(T3)]) {
        const step = stepIdentity(before, event);
        expect(step.snapshot).toBe(before);
        expect(step.effects).toEqual([]);
      }
    });

    it('stays a leaver, keeping its deletion, on changes that do not bring it back', () => {
      for (const lifecycle of ['left', undefined] as const) {
        const fields = lifecycle === undefined ? {} : { lifecycle };
        const { snapshot, effects } = stepIdentity(
          leaver(),
          inbound({ at: T3, attributes: { title: 'Alumni' }, ...fields }),
        );
        expect(identityState(snapshot)).toBe('leaver');
        expect(kinds(effects)).toEqual(['outbound:update']);
        expect(snapshot.context.deletion?.timerId).toBe(DELETION_TIMER);
      }
    });
  });

  describe('a deleted identity', () => {
    const deleted = (): IdentitySnapshot => stepIdentity(leaver(), timer(DELETION_TIMER, T5)).snapshot;

    it('ignores a duplicate delivery of the deletion timer', () => {
      const before = deleted();
      const step = stepIdentity(before, timer(DELETION_TIMER, T5));
      expect(step.snapshot).toBe(before);
      expect(identityState(step.snapshot)).toBe('deleted');
      expect(step.effects).toEqual([]);
    });

    it('ignores every event, and XState transition() on it does not throw', () => {
      const before = deleted();
      for (const event of [
        inbound({ at: T5, lifecycle: 'active', attributes: { title: 'Ghost' } }),
        pulse('pulse.enable', T5),
        pulse('pulse.disable', T5),
        password(T5),
        timer(DELETION_TIMER, T5),
      ]) {
        expect(stepIdentity(before, event)).toEqual({ snapshot: before, effects: [] });
        const [next, actions] = transition(identityMachine, before, event);
        expect(next.value).toBe('deleted');
        expect(actions).toEqual([]);
      }
    });
  });

  describe('persistence', () => {
    it('stores plain JSON that survives serialisation', () => {
      const persisted = persistIdentity(leaver());
      const revived = JSON.parse(JSON.stringify(persisted)) as PersistedIdentity;
      expect(revived).toEqual(persisted);
      expect(persisted).toEqual({
        state: 'leaver',
        context: {
          attributes: ALICE,
          sources: [HR],
          provenance: [{ applicationId: HR.applicationId, authority: 0, attributes: Object.keys(ALICE) }],
          deletionDelayDays: 90,
          deletion: { timerId: DELETION_TIMER, dueAt: '2026-05-31T09:00:00.000Z' },
          updatedAt: T2,
        },
      });
    });

    it('stores provenance once per application and authority, and hydrates it per attribute', () => {
      const joined = stepIdentity(
        active(),
        inbound({
          at: T3,
          source: AD,
          attributes: { mail: 'a.martin@example.com' },
          authority: { mail: 50 },
        }),
      ).snapshot;
      const stored = persistIdentity(joined).context.provenance;
      expect(stored).toEqual([
        {
          applicationId: HR.applicationId,
          authority: 0,
          attributes: Object.keys(ALICE).filter((key) => key !== 'mail'),
        },
        { applicationId: AD.applicationId, authority: 50, attributes: ['mail'] },
      ]);
      const hydrated = hydrateIdentity(
        JSON.parse(JSON.stringify(persistIdentity(joined))) as PersistedIdentity,
        ROW,
      );
      expect(hydrated.context.provenance).toEqual(joined.context.provenance);
      expect(hydrated.context.tenantId).toBe(TENANT);
      expect(hydrated.context.identityId).toBe(IDENTITY);
    });

    it('hydrates an identity stored before provenance was grouped (ids in the context, provenance per attribute)', () => {
      const legacy = {
        state: 'active',
        context: {
          tenantId: TENANT,
          identityId: IDENTITY,
          attributes: { givenName: 'Alice' },
          sources: [HR],
          provenance: { givenName: { applicationId: HR.applicationId, authority: 100 } },
          deletionDelayDays: 90,
        },
      } as PersistedIdentity;
      const hydrated = hydrateIdentity(legacy, ROW);
      expect(hydrated.context.provenance).toEqual({
        givenName: { applicationId: HR.applicationId, authority: 100 },
      });
      // A lower authority still cannot overwrite what the legacy provenance protects.
      const step = stepIdentity(hydrated, inbound({ at: T3, source: AD, attributes: { givenName: 'Al' } }));
      expect(step.snapshot.context.attributes.givenName).toBe('Alice');
    });

    it('leaves out a cancelled deletion rather than storing it as undefined', () => {
      const returned = stepIdentity(leaver(), inbound({ at: T3, lifecycle: 'active' })).snapshot;
      expect(Object.keys(persistIdentity(returned).context)).not.toContain('deletion');
    });

    it('continues a hydrated leaver: its deletion timer deletes it', () => {
      const stored = JSON.stringify(persistIdentity(leaver()));
      const snapshot = hydrateIdentity(JSON.parse(stored) as PersistedIdentity, ROW);
      expect(identityState(snapshot)).toBe('leaver');

      const stale = stepIdentity(snapshot, timer(`deletion:${T1}`, T4));
      expect(stale.effects).toEqual([]);

      const { snapshot: next, effects } = stepIdentity(snapshot, timer(DELETION_TIMER, T5));
      expect(identityState(next)).toBe('deleted');
      expect(kinds(effects)).toEqual(['outbound:delete', 'log']);
    });

    it('continues a hydrated identity through later changes as if it had never been stored', () => {
      const events = [
        inbound({ at: T3, attributes: { title: 'Lead' } }),
        pulse('pulse.disable', T4),
        inbound({ at: T5, lifecycle: 'left' }),
      ];
      let live = active();
      let revived = hydrateIdentity(
        JSON.parse(JSON.stringify(persistIdentity(live))) as PersistedIdentity,
        ROW,
      );
      for (const event of events) {
        const a = stepIdentity(live, event);
        const b = stepIdentity(revived, event);
        expect(b.effects).toEqual(a.effects);
        expect(persistIdentity(b.snapshot)).toEqual(persistIdentity(a.snapshot));
        live = a.snapshot;
        revived = hydrateIdentity(
          JSON.parse(JSON.stringify(persistIdentity(b.snapshot))) as PersistedIdentity,
          ROW,
        );
      }
      expect(identityState(revived)).toBe('leaver');
    });

    it('hydrates a deleted identity as final', () => {
      const deleted = stepIdentity(leaver(), timer(DELETION_TIMER, T5)).snapshot;
      const snapshot = hydrateIdentity(
        JSON.parse(JSON.stringify(persistIdentity(deleted))) as PersistedIdentity,
        ROW,
      );
      expect(identityState(snapshot)).toBe('deleted');
      expect(snapshot.status).toBe('done');
      expect(stepIdentity(snapshot, timer(DELETION_TIMER, T5)).effects).toEqual([]);
    });
  });

  describe('purity', () => {
    it('never mutates the snapshot it is given', () => {
      const events = [
        inbound({
          at: T2,
          attributes: { mail: null, title: 'Lead', groups: ['staff', 'leads'] },
          source: AD,
        }),
        pulse('pulse.disable', T2),
        password(T2),
        inbound({ at: T2, lifecycle: 'left' }),
      ];
      for (const event of events) {
        const before = active();
        const copy = structuredClone(before.context);
        deepFreeze(before.context);
        stepIdentity(before, event);
        expect(before.context).toEqual(copy);
        expect(identityState(before)).toBe('active');
      }
      const frozenLeaver = leaver();
      const copy = structuredClone(frozenLeaver.context);
      deepFreeze(frozenLeaver.context);
      stepIdentity(frozenLeaver, inbound({ at: T3, lifecycle: 'active' }));
      stepIdentity(frozenLeaver, timer(DELETION_TIMER, T5));
      expect(frozenLeaver.context).toEqual(copy);
    });

    it('gives the same snapshots and effects for the same events', () => {
      const events = [
        inbound({ at: T1 }),
        password(T2),
        inbound({ at: T3, lifecycle: 'left' }),
        timer(`deletion:${T3}`, T5),
      ];
      const first = events.map((_, i) => after(...events.slice(0, i + 1)));
      const second = events.map((_, i) => after(...events.slice(0, i + 1)));
      expect(second.map((step) => step.effects)).toEqual(first.map((step) => step.effects));
      expect(second.map((step) => persistIdentity(step.snapshot))).toEqual(
        first.map((step) => persistIdentity(step.snapshot)),
      );
    });

    it("steps as XState's public transition() would: the same snapshots, its emit actions as effects", () => {
      const emitted = (actions: { type: string; params?: unknown }[]) =>
        actions.flatMap((action) => (action.type === 'emit' ? [action.params] : []));
      const input = { tenantId: TENANT, identityId: IDENTITY };
      let ours = createIdentity(input);
      let [theirs, actions] = initialTransition(identityMachine, input);
      expect(ours.effects).toEqual(emitted(actions));
      for (const event of [
        inbound({ at: T1 }),
        password(T2),
        pulse('pulse.disable', T2),
        inbound({ at: T3, lifecycle: 'left' }),
        timer(`deletion:${T3}`, T5),
      ]) {
        ours = stepIdentity(ours.snapshot, event);
        [theirs, actions] = transition(identityMachine, theirs, event);
        expect(persistIdentity(ours.snapshot)).toEqual(persistIdentity(theirs));
        expect(ours.effects.length).toBeGreaterThan(0);
        expect(ours.effects).toEqual(emitted(actions));
      }
    });

    it('keeps effects out of the context', () => {
      const { snapshot } = after(inbound({ at: T1 }), password(T2), inbound({ at: T3, lifecycle: 'left' }));
      expect(Object.keys(snapshot.context).sort()).toEqual(
        [
          'attributes',
          'deletion',
          'deletionDelayDays',
          'identityId',
          'provenance',
          'sources',
          'tenantId',
          'updatedAt',
        ].sort(),
      );
    });
  });
});

describe('attribute authority', () => {
  const withAuthority = (
    source: Source,
    attributes: Attributes,
    authority: Record<string, number>,
    at: string,
  ) => {
    const event = inbound({ source, attributes, at });
    if (event.type === 'inbound.changed') event.authority = authority;
    return event;
  };
  const start = (): IdentitySnapshot =>
    stepIdentity(
      createIdentity({ tenantId: TENANT, identityId: IDENTITY }).snapshot,
      withAuthority(HR, { title: 'Engineer', mail: 'hr@example.com' }, { title: 100, mail: 10 }, T1),
    ).snapshot;

  it('keeps a value from a higher authority when a lower one sends another', () => {
    const { snapshot, effects } = stepIdentity(
      start(),
      withAuthority(AD, { title: 'Dev', mail: 'ad@example.com' }, { title: 10, mail: 100 }, T2),
    );
    // Title stays HR's; e-mail is AD's, which has the higher authority for it.
    expect(snapshot.context.attributes).toMatchObject({ title: 'Engineer', mail: 'ad@example.com' });
    expect(effects.filter((e) => e.type === 'outbound')).toEqual([
      expect.objectContaining({ change: 'update', attributes: { mail: 'ad@example.com' } }),
    ]);
    expect(snapshot.context.provenance).toMatchObject({
      title: { applicationId: HR.applicationId, authority: 100 },
      mail: { applicationId: AD.applicationId, authority: 100 },
    });
  });

  it('lets the owning application change its own value whatever the authority', () => {
    const { snapshot } = stepIdentity(start(), withAuthority(HR, { title: 'Lead' }, {}, T2));
    expect(snapshot.context.attributes.title).toBe('Lead');
  });
});

describe('classification', () => {
  const classified = (classification: number, at: string): IdentityEvent => ({
    type: 'classified',
    at,
    classification,
  });

  it('records the classification the plan decided, and a later one replaces it and asks Outbound to look again', () => {
    const active = stepIdentity(
      createIdentity({ tenantId: TENANT, identityId: IDENTITY }).snapshot,
      inbound(),
    ).snapshot;
    const first = stepIdentity(active, classified(1, T2)).snapshot;
    expect(first.context.classification).toBe(1);
    expect(persistIdentity(first).context.classification).toBe(1);
    const second = stepIdentity(first, classified(2, T3));
    expect(second.snapshot.context.classification).toBe(2);
    // The first classification came with the identity's creation; a change may move it between applications.
    expect(stepIdentity(active, classified(1, T2)).effects).toEqual([]);
    expect(second.effects).toEqual([
      { type: 'outbound', change: 'update', identityId: IDENTITY, attributes: {}, at: T3 },
    ]);
    expect(identityState(second.snapshot)).toBe('active');
  });
});

describe('a new plan version', () => {
  const planApplied = (version: number, at: string): IdentityEvent => ({ type: 'plan.applied', at, version });

  it('sends a provisioned identity to Outbound once per version, remembered across persistence', () => {
    for (const snapshot of [active(), disabled(), leaver()]) {
      const step = stepIdentity(snapshot, planApplied(2, T4));
      expect(step.effects).toEqual([
        { type: 'outbound', change: 'update', identityId: IDENTITY, attributes: {}, at: T4 },
      ]);
      expect(identityState(step.snapshot)).toBe(identityState(snapshot));
      expect(step.snapshot.context.attributes).toEqual(snapshot.context.attributes);
      const restored = hydrateIdentity(persistIdentity(step.snapshot), ROW);
      expect(restored.context.planVersion).toBe(2);
      // The same version again (a replayed reconciliation) or an older one: nothing.
      expect(stepIdentity(restored, planApplied(2, T5))).toEqual({ snapshot: restored, effects: [] });
      expect(stepIdentity(restored, planApplied(1, T5))).toEqual({ snapshot: restored, effects: [] });
      expect(kinds(stepIdentity(restored, planApplied(3, T5)).effects)).toEqual(['outbound:update']);
    }
  });

  it('remembers the version for a joiner, with nothing to send out, and is ignored once deleted', () => {
    const joiner = after(inbound({ lifecycle: 'left' })).snapshot;
    const step = stepIdentity(joiner, planApplied(2, T2));
    expect(identityState(step.snapshot)).toBe('joiner');
    expect(step.snapshot.context.planVersion).toBe(2);
    expect(step.effects).toEqual([]);

    const deleted = stepIdentity(leaver(), timer(DELETION_TIMER, T3)).snapshot;
    expect(identityState(deleted)).toBe('deleted');
    expect(stepIdentity(deleted, planApplied(2, T4))).toEqual({ snapshot: deleted, effects: [] });
  });
});

describe('rules', () => {
  it('sets attributes above any application, and sends the change out as an update', () => {
    const active = stepIdentity(
      createIdentity({ tenantId: TENANT, identityId: IDENTITY }).snapshot,
      inbound(),
    ).snapshot;
    const { snapshot, effects } = stepIdentity(active, {
      type: 'rules.applied',
      at: T2,
      attributes: { title: 'Former employee' },
      rules: ['leavers lose their title'],
    });
    expect(snapshot.context.attributes.title).toBe('Former employee');
    expect(snapshot.context.provenance?.title).toEqual({ applicationId: 'rules', authority: 1001 });
    expect(effects).toEqual([
      expect.objectContaining({
        type: 'outbound',
        change: 'update',
        attributes: { title: 'Former employee' },
      }),
    ]);
    // An application cannot take it back.
    const hr = stepIdentity(snapshot, inbound({ at: T3, attributes: { title: 'Engineer' } }));
    expect(hr.snapshot.context.attributes.title).toBe('Former employee');
  });
});

describe('a detached source', () => {
  const AD2: Source = { applicationId: AD.applicationId, externalId: 'objectGUID-78' };
  const detached = (source: Source, at: string): IdentityEvent => ({
    type: 'inbound.detached',
    at,
    source,
    by: 'service-account:admin',
  });
  const withAuthority = (
    source: Source,
    attributes: Attributes,
    authority: Record<string, number>,
    at: string,
  ) => {
    const event = inbound({ source, attributes, at });
    if (event.type === 'inbound.changed') event.authority = authority;
    return event;
  };
  /** Provisioned from HR, then AD joined and won the e-mail with its higher authority. */
  const joinedByAd = (): IdentitySnapshot =>
    after(
      withAuthority(HR, { title: 'Engineer', mail: 'hr@example.com' }, { title: 100, mail: 10 }, T1),
      withAuthority(AD, { mail: 'ad@example.com', phone: '+33 1 23' }, { mail: 100 }, T2),
    ).snapshot;

  it('forgets the source and removes the attributes its application supplied, sending them out as null', () => {
    const { snapshot, effects } = stepIdentity(joinedByAd(), detached(AD, T3));
    expect(snapshot.context.sources).toEqual([HR]);
    expect(snapshot.context.attributes).toEqual({ title: 'Engineer' });
    expect(snapshot.context.provenance).toEqual({
      title: { applicationId: HR.applicationId, authority: 100 },
    });
    expect(effects).toEqual([
      {
        type: 'outbound',
        change: 'update',
        identityId: IDENTITY,
        attributes: { mail: null, phone: null },
        source: AD,
        at: T3,
      },
    ]);
    expect(identityState(snapshot)).toBe('active');
    expect(snapshot.context.updatedAt).toBe(T3);
  });

  it('lets a remaining source supply the removed attribute again, whatever its authority', () => {
    const { snapshot } = stepIdentity(joinedByAd(), detached(AD, T3));
    const back = stepIdentity(
      snapshot,
      withAuthority(HR, { title: 'Engineer', mail: 'hr@example.com' }, { title: 100, mail: 10 }, T4),
    );
    expect(back.snapshot.context.attributes.mail).toBe('hr@example.com');
    expect(back.effects.filter((e) => e.type === 'outbound')).toEqual([
      expect.objectContaining({ change: 'update', attributes: { mail: 'hr@example.com' } }),
    ]);
  });

  it("keeps the application's attributes while another of its objects is still joined", () => {
    const two = stepIdentity(
      joinedByAd(),
      inbound({ source: AD2, attributes: { phone: '+33 1 24' }, at: T3 }),
    );
    const { snapshot, effects } = stepIdentity(two.snapshot, detached(AD, T4));
    expect(snapshot.context.sources).toEqual([HR, AD2]);
    expect(snapshot.context.attributes).toMatchObject({ mail: 'ad@example.com', phone: '+33 1 24' });
    expect(effects).toEqual([]);
  });

  it('changes nothing for a source it does not know, or twice', () => {
    const snapshot = joinedByAd();
    expect(stepIdentity(snapshot, detached(AD2, T3))).toEqual({ snapshot, effects: [] });
    const once = stepIdentity(snapshot, detached(AD, T3)).snapshot;
    expect(stepIdentity(once, detached(AD, T4))).toEqual({ snapshot: once, effects: [] });
  });

  it('sends nothing out for a joiner, and keeps a leaver leaving', () => {
    const joiner = after(
      inbound({ lifecycle: 'left' }),
      inbound({ source: AD, attributes: { phone: '1' }, at: T2, lifecycle: 'left' }),
    );
    expect(identityState(joiner.snapshot)).toBe('joiner');
    const forgotten = stepIdentity(joiner.snapshot, detached(AD, T3));
    expect(forgotten.effects).toEqual([]);
    expect(forgotten.snapshot.context.attributes).not.toHaveProperty('phone');
    expect(forgotten.snapshot.context.sources).toEqual([HR]);

    const leaver = after(
      inbound(),
      inbound({ source: AD, attributes: { phone: '1' }, at: T2 }),
      inbound({ lifecycle: 'left', at: T3 }),
    );
    const step = stepIdentity(leaver.snapshot, detached(AD, T4));
    expect(identityState(step.snapshot)).toBe('leaver');
    expect(step.snapshot.context.deletion).toEqual(leaver.snapshot.context.deletion);
    expect(kinds(step.effects)).toEqual(['outbound:update']);
  });

  it('survives persistence: a hydrated identity no longer lists the source', () => {
    const stored = JSON.parse(
      JSON.stringify(persistIdentity(stepIdentity(joinedByAd(), detached(AD, T3)).snapshot)),
    ) as PersistedIdentity;
    const hydrated = hydrateIdentity(stored, ROW);
    expect(hydrated.context.sources).toEqual([HR]);
    expect(stepIdentity(hydrated, detached(AD, T5)).effects).toEqual([]);
  });
});
