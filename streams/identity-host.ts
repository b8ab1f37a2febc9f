// The virtual actor host: for one batch, it hydrates each identity the batch names (from the LRU, else
// from PostgreSQL in one query), runs that identity's events through the pure machine in order, and turns
// the new snapshots and effects into set-based writes inside the batch's transaction. Idle actors fall
// out of the bounded LRU; nothing else is kept in memory.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { LRUCache } from 'lru-cache';
import {
  createIdentity,
  hydrateIdentity,
  identityState,
  persistIdentity,
  stepIdentity,
  type IdentitySnapshot,
  type PersistedIdentity,
} from '../actors/identity.machine.ts';
import type {
  Attributes,
  IdentityEffect,
  IdentityEvent,
  SealedSecret,
  Source,
} from '../kernel/contracts/identity-events.ts';
import { VersionConflictError } from '../kernel/errors.ts';
import type { LogEvent, MessageData } from '../kernel/contracts/messages.ts';
import { outboxMessage, type OutboxRow } from './outbox.ts';
import { attributeChanges, logRow } from './logstream.ts';
import { joinKeyChanges, lockJoinKeys, writeJoinKeyChanges } from './identity-join-keys.ts';
import {
  yieldToEventLoop,
  type ConsumedMessage,
  type HandlerResult,
  type Rejection,
} from './partition-batch.ts';

/** One event for one identity, with the message it came from. */
export interface IdentityWork {
  tenantId: string;
  identityId: string;
  event: IdentityEvent;
  deletionDelayDays?: number;
  /** The event's source is already recorded as the identity's hard join (by the Inbound stage). */
  hardJoinRecorded?: boolean;
  /** The import run whose object caused the event. */
  runId?: string;
  origin: ConsumedMessage;
}

interface HostedIdentity {
  tenantId: string;
  /** The committed version this snapshot was read at or written as; 0 = not in the database yet. */
  version: number;
  snapshot: IdentitySnapshot;
}

/**
 * A big batch is CPU work in one go; giving the event loop back every few hundred identities lets a pulse
 * (handled by the other consumer in this process) go through in between.
 */
const YIELD_EVERY = 250;

/** Classifies identities from their merged attributes (the plan's classifications), per batch. */
export type Classifier = (
  tx: EntityManager,
  tenantIds: string[],
) => Promise<(tenantId: string, attributes: Attributes) => number | undefined>;

/** The plan's rules for a batch's tenants: the attributes they set on an identity, and which rules did. */
export type Rules = (
  tx: EntityManager,
  tenantIds: string[],
) => Promise<
  (tenantId: string, attributes: Attributes) => { attributes: Attributes; rules: string[] } | undefined
>;

/** The Vault attributes each tenant's joining rules compare, for a batch's tenants. */
export type JoinKeys = (
  tx: EntityManager,
  tenantIds: string[],
) => Promise<(tenantId: string) => readonly string[]>;

/** The Vault attributes each tenant's plan marks sensitive (masked in the logstream), for a batch's tenants. */
export type SensitiveAttributes = (
  tx: EntityManager,
  tenantIds: string[],
) => Promise<(tenantId: string) => ReadonlySet<string>>;

/** An identity whose outbound effects this batch produced, as the Outbound stage needs it. */
export interface OutboundSubject {
  tenantId: string;
  identityId: string;
  state: string;
  attributes: Attributes;
  classification: number | undefined;
  /** The application objects joined to it, in the order they joined. */
  sources: readonly Source[];
  /** Password changes, sealed, in order. */
  passwords: SealedSecret[];
  /** The import run of the batch's latest event for it that came from a run: its exports count there. */
  runId?: string;
}

/** The Outbound stage, run in the batch's transaction after the identities are persisted. */
export type OutboundHook = (tx: EntityManager, subjects: OutboundSubject[]) => Promise<void>;

export interface IdentityHostOptions {
  /** When given, identities with outbound effects go through the Outbound stage in the same transaction. */
  outbound?: OutboundHook;
  /** When given, every changed identity is (re)classified after its events, in the same transaction. */
  classifier?: Classifier;
  /** When given, the plan's rules run on every changed identity after its events (before classification). */
  rules?: Rules;
  /**
   * The attributes each tenant's joining rules compare: when given, the identities' join keys are kept in
   * step with what a batch writes, and a change of one is noted for the disconnector sweep.
   */
  joinKeys?: JoinKeys;
  /** The attributes whose values the logstream masks; none are masked when absent. */
  sensitive?: SensitiveAttributes;
  cacheSize: number;
  /** Counts lookups of the actor cache (hits: found in the LRU; misses: read from PostgreSQL). */
  cacheStats?: ActorCacheStats;
  /** Broker-side names of the topics effects are published to. */
  topics: { outbound: string; logstream: string };
  /** ce_source of the messages the host emits. */
  source: string;
}

/** How often an identity's actor was found in the LRU rather than read from PostgreSQL. */
export interface ActorCacheStats {
  hits: number;
  misses: number;
}

export interface IdentityHost {
  run(tx: EntityManager, work: readonly IdentityWork[]): Promise<HandlerResult>;
  /** Forgets cached actors, e.g. after a version conflict, so they are read again. */
  evict(identityIds: Iterable<string>): void;
  readonly cachedActors: number;
}

export function createIdentityHost(options: IdentityHostOptions): IdentityHost {
  const cache = new LRUCache<string, HostedIdentity>({ max: Math.max(1, options.cacheSize) });

  const load = async (tx: EntityManager, ids: string[]): Promise<Map<string, HostedIdentity>> => {
    const found = new Map<string, HostedIdentity>();
    const missing: string[] = [];
    for (const id of ids) {
      const cached = cache.get(id);
      if (cached === undefined) missing.push(id);
      else found.set(id, cached);
    }
    if (options.cacheStats !== undefined) {
      options.cacheStats.hits += ids.length - missing.length;
      options.cacheStats.misses += missing.length;
    }
    if (missing.length > 0) {
      const { rows } = await sql<{
        id: string;
        tenant_id: string;
        version: number;
        snapshot: PersistedIdentity;
      }>`
        select id, tenant_id, version, snapshot from identity where id = any(${missing}::uuid[])`.execute(
        tx.getKysely(),
      );
      for (const row of rows) {
        found.set(row.id, {
          tenantId: row.tenant_id,
          version: row.version,
          snapshot: hydrateIdentity(row.snapshot, { tenantId: row.tenant_id, identityId: row.id }),
        });
      }
    }
    return found;
  };

  return {
    get cachedActors() {
      return cache.size;
    },
    evict(identityIds) {
      for (const id of identityIds) cache.delete(id);
    },
    async run(tx, work) {
      const ids = [...new Set(work.map((item) => item.identityId))];
      // Before anything of the tenants is read: a plan apply changing their join keys waits for this batch,
      // or this batch for it (streams/identity-join-keys.ts).
      if (options.joinKeys !== undefined)
        await lockJoinKeys(tx, [...new Set(work.map((item) => item.tenantId))], 'shared');
      const current = await load(tx, ids);
      const tenantIds = [...new Set(work.map((item) => item.tenantId))];
      const sensitiveOf =
        options.sensitive === undefined ? () => noneSensitive : await options.sensitive(tx, tenantIds);
      const logstream = { topic: options.topics.logstream, source: options.source };
      const changed = new Map<string, HostedIdentity>();
      const rejected: Rejection[] = [];
      const outbox: OutboxRow[] = [];
      const sources: { tenantId: string; identityId: string; source: Source }[] = [];
      const timersAdded: Extract<IdentityEffect, { type: 'timer.schedule' }>[] = [];
      const timersCancelled: Extract<IdentityEffect, { type: 'timer.cancel' }>[] = [];
      const tenantOf = new Map<string, string>();
      const outboundOf = new Map<string, SealedSecret[]>();
      const runOf = new Map<string, string>();
      const noteOutbound = (effect: IdentityEffect): void => {
        if (effect.type !== 'outbound') return;
        const passwords = outboundOf.get(effect.identityId) ?? [];
        if (effect.secret !== undefined) passwords.push(effect.secret);
        outboundOf.set(effect.identityId, passwords);
      };

      let sinceYield = 0;
      for (const item of work) {
        if (++sinceYield === YIELD_EVERY) {
          sinceYield = 0;
          await yieldToEventLoop();
        }
        const existing = changed.get(item.identityId) ?? current.get(item.identityId);
        if (existing !== undefined && existing.tenantId !== item.tenantId) {
          // Never let one tenant's message touch another tenant's identity.
          rejected.push({
            message: item.origin,
            reason: `identity ${item.identityId} does not belong to tenant ${item.tenantId}`,
            code: 'JNY_TENANT_MISMATCH',
          });
          continue;
        }
        const before =
          existing ??
          ({
            tenantId: item.tenantId,
            version: 0,
            snapshot: createIdentity({
              tenantId: item.tenantId,
              identityId: item.identityId,
              ...(item.deletionDelayDays === undefined ? {} : { deletionDelayDays: item.deletionDelayDays }),
            }).snapshot,
          } satisfies HostedIdentity);
        let step;
        try {
          step = stepIdentity(before.snapshot, item.event);
        } catch (error) {
          rejected.push({
            message: item.origin,
            reason: `identity ${item.identityId} could not process ${item.event.type}: ${(error as Error).message}`,
            code: 'JNY_ACTOR_FAILED',
          });
          continue;
        }
        if (step.snapshot === before.snapshot && step.effects.length === 0) continue;
        changed.set(item.identityId, { ...before, snapshot: step.snapshot });
        tenantOf.set(item.identityId, item.tenantId);
        if (item.runId !== undefined) runOf.set(item.identityId, item.runId);
        // A source the identity did not know yet becomes its hard join; a known one was recorded then.
        if (
          item.event.type === 'inbound.changed' &&
          item.hardJoinRecorded !== true &&
          step.snapshot.context.sources !== before.snapshot.context.sources
        ) {
          sources.push({ tenantId: item.tenantId, identityId: item.identityId, source: item.event.source });
        }
        const origin = `${item.origin.topicName}/${item.origin.partition}/${item.origin.offset}`;
        const received = receivedEvent(
          item,
          before.snapshot.context.attributes,
          step.snapshot.context.attributes,
          sensitiveOf(item.tenantId),
        );
        if (received !== undefined) outbox.push(logRow(logstream, `${origin}/log`, received));
        step.effects.forEach((effect, index) => {
          const id = `${origin}/${index}`;
          if (effect.type === 'timer.schedule') timersAdded.push(effect);
          else if (effect.type === 'timer.cancel') timersCancelled.push(effect);
          else {
            noteOutbound(effect);
            outbox.push(effectMessage(effect, item.tenantId, id, options));
          }
        });
      }

      if (options.rules !== undefined && changed.size > 0) {
        const apply = await options.rules(tx, [...new Set([...changed.values()].map((h) => h.tenantId))]);
        for (const [id, hosted] of changed) {
          const derived = apply(hosted.tenantId, hosted.snapshot.context.attributes);
          if (derived === undefined) continue;
          const at = hosted.snapshot.context.updatedAt ?? new Date().toISOString();
          const step = stepIdentity(hosted.snapshot, { type: 'rules.applied', at, ...derived });
          if (step.snapshot === hosted.snapshot) continue;
          changed.set(id, { ...hosted, snapshot: step.snapshot });
          const tenantId = hosted.tenantId;
          const changes = attributeChanges(
            hosted.snapshot.context.attributes,
            step.snapshot.context.attributes,
            sensitiveOf(tenantId),
          );
          if (changes.length > 0)
            outbox.push(
              logRow(logstream, `rules/${id}/${at}/log`, {
                tenantId,
                at,
                level: 'info',
                category: 'inbound',
                stage: 'inbound',
                outcome: 'succeeded',
                message: `rules ${derived.rules.join(', ')} set ${String(changes.length)} attribute(s)`,
                identityId: id,
                decidedBy: { kind: 'rule', name: derived.rules.join(', ').slice(0, 256) },
                changes,
              }),
            );
          step.effects.forEach((effect, index) => {
            if (effect.type === 'outbound' || effect.type === 'log') {
              noteOutbound(effect);
              outbox.push(effectMessage(effect, tenantId, `rules/${id}/${at}/${String(index)}`, options));
            }
          });
        }
      }
      if (options.classifier !== undefined && changed.size > 0) {
        const classify = await options.classifier(tx, [
          ...new Set([...changed.values()].map((h) => h.tenantId)),
        ]);
        for (const [id, hosted] of changed) {
          const value = classify(hosted.tenantId, hosted.snapshot.context.attributes);
          if (value === undefined || value === hosted.snapshot.context.classification) continue;
          const at = hosted.snapshot.context.updatedAt ?? new Date().toISOString();
          const step = stepIdentity(hosted.snapshot, { type: 'classified', at, classification: value });
          changed.set(id, { ...hosted, snapshot: step.snapshot });
          step.effects.forEach((effect, index) => {
            if (effect.type !== 'outbound') return;
            noteOutbound(effect);
            outbox.push(
              effectMessage(effect, hosted.tenantId, `classified/${id}/${at}/${String(index)}`, options),
            );
          });
        }
      }
      try {
        await persist(tx, changed);
      } catch (error) {
        // Read again next time: another writer holds a newer version of some of them.
        for (const id of changed.keys()) cache.delete(id);
        throw error;
      }
      await recordSources(tx, sources);
      await saveTimers(tx, timersAdded, timersCancelled, tenantOf);
      if (options.outbound !== undefined && outboundOf.size > 0) {
        await options.outbound(
          tx,
          [...outboundOf].flatMap(([identityId, passwords]) => {
            const hosted = changed.get(identityId);
            if (hosted === undefined) return [];
            const runId = runOf.get(identityId);
            return [
              {
                tenantId: hosted.tenantId,
                identityId,
                state: identityState(hosted.snapshot),
                attributes: hosted.snapshot.context.attributes,
                classification: hosted.snapshot.context.classification,
                sources: hosted.snapshot.context.sources,
                passwords,
                ...(runId === undefined ? {} : { runId }),
              },
            ];
          }),
        );
      }
      // Last: the tenant's row stays locked until the commit, which is near.
      if (options.joinKeys !== undefined) await updateJoinKeys(tx, options.joinKeys, current, changed);
      return {
        outbox,
        rejected,
        afterCommit: () => {
          for (const [id, hosted] of changed) cache.set(id, { ...hosted, version: hosted.version + 1 });
        },
      };
    },
  };
}

const noneSensitive: ReadonlySet<string> = new Set();

/**
 * What an identity received, for the logstream: an application object's attributes (old → new, as the
 * actor merged them: a lower authority's value that did not win is no change) or a pulse. Undefined for
 * events that are no news of their own (timers, classification, a change that changed nothing).
 */
function receivedEvent(
  item: IdentityWork,
  before: Attributes,
  after: Attributes,
  sensitive: ReadonlySet<string>,
): LogEvent | undefined {
  const { event, tenantId, identityId } = item;
  if (event.type === 'inbound.changed') {
    const changes = attributeChanges(before, after, sensitive);
    if (changes.length === 0) return undefined;
    return {
      tenantId,
      at: event.at,
      level: 'info',
      category: 'inbound',
      stage: 'inbound',
      outcome: 'succeeded',
      message: `${String(changes.length)} attribute(s) changed by application object ${event.source.externalId}`,
      identityId,
      ...(item.runId === undefined ? {} : { runId: item.runId }),
      applicationId: event.source.applicationId,
      externalId: event.source.externalId,
      decidedBy: { kind: 'mapper', name: `inbound mappers of application ${event.source.applicationId}` },
      changes,
    };
  }
  if (event.type === 'pulse.enable' || event.type === 'pulse.disable' || event.type === 'pulse.password') {
    const what = {
      'pulse.enable': 'enable',
      'pulse.disable': 'disable',
      'pulse.password': 'password change',
    }[event.type];
    return {
      tenantId,
      at: event.at,
      level: 'info',
      category: 'pulse',
      stage: 'pulse',
      outcome: 'succeeded',
      message: `real-time ${what} from application object ${event.source.externalId}`,
      identityId,
      applicationId: event.source.applicationId,
      externalId: event.source.externalId,
    };
  }
  return undefined;
}

function effectMessage(
  effect: Exclude<IdentityEffect, { type: 'timer.schedule' | 'timer.cancel' }>,
  tenantId: string,
  id: string,
  options: IdentityHostOptions,
): OutboxRow {
  if (effect.type === 'log') {
    const data: MessageData<'joinery.log.v1'> = {
      tenantId,
      at: effect.at,
      level: 'info',
      category: 'lifecycle',
      stage: 'inbound',
      outcome: 'succeeded',
      message: effect.message,
      identityId: effect.identityId,
      lifecycle: { from: effect.from, to: effect.to },
    };
    return outboxMessage(options.topics.logstream, {
      id,
      type: 'joinery.log.v1',
      source: options.source,
      time: effect.at,
      tenantId,
      data,
    });
  }
  const data: MessageData<'joinery.outbound.v1'> = {
    tenantId,
    identityId: effect.identityId,
    change: effect.change,
    at: effect.at,
    ...(effect.attributes === undefined ? {} : { attributes: effect.attributes }),
    ...(effect.secret === undefined ? {} : { secret: effect.secret }),
    ...(effect.source === undefined ? {} : { source: effect.source }),
  };
  return outboxMessage(options.topics.outbound, {
    id,
    type: 'joinery.outbound.v1',
    source: options.source,
    time: effect.at,
    tenantId,
    data,
  });
}

/**
 * New identities are inserted, known ones updated only at the version they were read at. Fewer rows
 * than expected means another writer got there first: the whole batch is retried on fresh state.
 */
async function persist(tx: EntityManager, changed: Map<string, HostedIdentity>): Promise<void> {
  const inserts: [string, HostedIdentity][] = [];
  const updates: [string, HostedIdentity][] = [];
  for (const entry of changed) (entry[1].version === 0 ? inserts : updates).push(entry);
  const k = tx.getKysely();
  // One JSON document per statement: PostgreSQL parses it in C, and each snapshot stays a JSON object
  // (no per-element array escaping on our side, no JSON inside a string).
  const document = (rows: [string, HostedIdentity][]) =>
    JSON.stringify(
      rows.map(([id, hosted]) => ({
        id,
        tenant_id: hosted.tenantId,
        version: hosted.version,
        state: identityState(hosted.snapshot),
        snapshot: persistIdentity(hosted.snapshot),
      })),
    );
  if (inserts.length > 0) {
    const result = await sql`
      insert into identity (id, tenant_id, version, state, snapshot, created_at, updated_at)
      select id, tenant_id, 1, state, snapshot, now(), now()
      from jsonb_to_recordset(${document(inserts)}::jsonb) as u(id uuid, tenant_id uuid, state text, snapshot jsonb)
      on conflict (id) do nothing`.execute(k);
    if (Number(result.numAffectedRows ?? 0n) !== inserts.length) {
      throw new VersionConflictError('an identity was created concurrently by another consumer', {
        details: { identities: inserts.length },
      });
    }
  }
  if (updates.length > 0) {
    const result = await sql`
      update identity set version = identity.version + 1, state = u.state, snapshot = u.snapshot, updated_at = now()
      from jsonb_to_recordset(${document(updates)}::jsonb) as u(id uuid, version int, state text, snapshot jsonb)
      where identity.id = u.id and identity.version = u.version`.execute(k);
    if (Number(result.numAffectedRows ?? 0n) !== updates.length) {
      throw new VersionConflictError('an identity was changed concurrently by another consumer', {
        details: { identities: updates.length },
      });
    }
  }
}

async function recordSources(
  tx: EntityManager,
  sources: { tenantId: string; identityId: string; source: Source }[],
): Promise<void> {
  if (sources.length === 0) return;
  await sql`
    insert into identity_source (tenant_id, application_id, external_id, identity_id, created_at)
    select distinct on (tenant_id, application_id, external_id) tenant_id, application_id, external_id, identity_id, now()
    from unnest(${sources.map((s) => s.tenantId)}::uuid[], ${sources.map((s) => s.source.applicationId)}::uuid[],
      ${sources.map((s) => s.source.externalId)}::text[], ${sources.map((s) => s.identityId)}::uuid[])
      as u(tenant_id, application_id, external_id, identity_id)
    on conflict do nothing`.execute(tx.getKysely());
}

async function saveTimers(
  tx: EntityManager,
  added: Extract<IdentityEffect, { type: 'timer.schedule' }>[],
  cancelled: Extract<IdentityEffect, { type: 'timer.cancel' }>[],
  tenantOf: Map<string, string>,
): Promise<void> {
  const k = tx.getKysely();
  const tenant = (identityId: string) => tenantOf.get(identityId) ?? '';
  if (added.length > 0) {
    await sql`
      insert into identity_timer (tenant_id, identity_id, timer_id, kind, due_at, created_at)
      select *, now() from unnest(${added.map((t) => tenant(t.identityId))}::uuid[], ${added.map((t) => t.identityId)}::uuid[],
        ${added.map((t) => t.timerId)}::text[], ${added.map((t) => t.kind)}::text[], ${added.map((t) => t.dueAt)}::timestamptz[])
      on conflict do nothing`.execute(k);
  }
  if (cancelled.length > 0) {
    await sql`
      delete from identity_timer t
      using unnest(${cancelled.map((c) => c.identityId)}::uuid[], ${cancelled.map((c) => c.timerId)}::text[]) as u(identity_id, timer_id)
      where t.identity_id = u.identity_id and t.timer_id = u.timer_id`.execute(k);
  }
}

/**
 * Keeps the identities' join keys (streams/identity-join-keys.ts) in step with what this batch wrote, and
 * notes the tenants some of whose existing identities changed a value their joining rules compare (an
 * employee id filled in or corrected): a disconnector may match now, and the disconnector sweep re-feeds
 * the tenant's disconnectors (src/engine/rejoin.ts). New identities need no note: the sweep sees them.
 */
async function updateJoinKeys(
  tx: EntityManager,
  joinKeys: JoinKeys,
  before: ReadonlyMap<string, HostedIdentity>,
  after: ReadonlyMap<string, HostedIdentity>,
): Promise<void> {
  if (after.size === 0) return;
  const compared = await joinKeys(tx, [...new Set([...after.values()].map((hosted) => hosted.tenantId))]);
  const changes = joinKeyChanges(
    [...after].map(([identityId, hosted]) => ({
      tenantId: hosted.tenantId,
      identityId,
      before: before.get(identityId)?.snapshot.context.attributes,
      after: hosted.snapshot.context.attributes,
    })),
    compared,
  );
  await writeJoinKeyChanges(tx, changes);
  const tenants = new Set(
    [...changes.deleted, ...changes.inserted]
      .filter((row) => before.has(row.identity_id))
      .map((row) => row.tenant_id),
  );
  if (tenants.size === 0) return;
  // A counter: writers of one tenant take its row in turn, so a note that commits after the sweep read the
  // count makes it larger than what the sweep saw. The row stays locked until this batch commits.
  await sql`update tenant set join_key_changes = join_key_changes + 1 where id = any(${[...tenants]}::uuid[])`.execute(
    tx.getKysely(),
  );
}
