// Manual joins: an administrator decides which identity an application object belongs to (a disconnector,
// an ambiguous join, a join conflict, a wrong join), or that it belongs to none. A join conflict (a second
// object of one application's object class matched to an identity) is resolved in one step with
// POST /v1/joins/resolve (the person's object joined, the others of its class excluded), or by joining one
// here and unjoining the other; joining one leaves any other still held in conflict as it is. A join becomes the object's hard join (its
// provenance manual:<service account>) and the object is fed to the engine again through the transactional
// outbox, so its attributes reach the identity; an unjoin excludes the object, which the inbound stage
// then leaves alone until joined by hand. The identity an object leaves (unjoined, or re-joined elsewhere)
// hears an inbound.detached event and forgets it, and its remaining objects are re-fed so the best
// remaining values take the place of those it forgot.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { Attributes } from '../../kernel/contracts/identity-events.ts';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { insertOutbox, outboxMessage, type OutboxRow } from '../../streams/outbox.ts';
import { topicName } from '../../streams/topics.ts';
import { ConflictError, NotFoundError } from '../../kernel/errors.ts';
import { joinProvenance } from '../engine/join-provenance.ts';
import { refeedRemainingSources } from '../engine/rejoin.ts';
import { requireApplication, requireIdentity } from './tenant-resources.ts';

const ObjectRef = {
  applicationId: Type.String({ format: 'uuid' }),
  externalId: Type.String({ minLength: 1, maxLength: 1024 }),
};
const JoinBody = Type.Object(
  { ...ObjectRef, identityId: Type.String({ format: 'uuid' }) },
  { additionalProperties: false },
);
const UnjoinBody = Type.Object(ObjectRef, { additionalProperties: false });
const ResolveBody = Type.Object(
  { ...ObjectRef, identityId: Type.Optional(Type.String({ format: 'uuid' })) },
  { additionalProperties: false },
);

const API_SOURCE = '/joinery/api';

interface LockedObject {
  object_class: string;
  attributes: Attributes;
  deleted: boolean;
  join_state: string | null;
  identity_id: string | null;
  join_candidates: { identityIds: string[] } | null;
}

/** The object, locked for the rest of the transaction so a concurrent import batch waits for the decision. */
async function lockObject(
  tx: EntityManager,
  tenantId: string,
  applicationId: string,
  externalId: string,
): Promise<LockedObject> {
  const { rows } = await sql<LockedObject>`
    select object_class, attributes, deleted, join_state, identity_id, join_candidates from repository_object
    where tenant_id = ${tenantId} and application_id = ${applicationId} and external_id = ${externalId}
    for update`.execute(tx.getKysely());
  const object = rows[0];
  if (object === undefined)
    throw new NotFoundError(`application object ${externalId} not found in application ${applicationId}`, {
      details: { applicationId, externalId },
    });
  return object;
}

function logRow(topicPrefix: string, id: string, data: MessageData<'joinery.log.v1'>): OutboxRow {
  return outboxMessage(topicName({ topicPrefix }, 'logstream'), {
    id,
    type: 'joinery.log.v1',
    source: API_SOURCE,
    time: data.at,
    tenantId: data.tenantId,
    data,
  });
}

/**
 * The identity an object left forgets it (an event on its topic, decided by its actor in order with its
 * other events), and its remaining objects are re-fed so they supply their values again.
 */
async function detachFromIdentity(
  tx: EntityManager,
  options: { topicPrefix: string },
  detached: { tenantId: string; identityId: string; applicationId: string; externalId: string },
  by: string,
  at: string,
): Promise<number> {
  const { tenantId, identityId, applicationId, externalId } = detached;
  const data: MessageData<'joinery.identity.event.v1'> = {
    tenantId,
    identityId,
    event: { type: 'inbound.detached', at, source: { applicationId, externalId }, by },
  };
  await insertOutbox(tx, [
    outboxMessage(topicName(options, 'identity'), {
      id: `detach/${identityId}/${applicationId}/${externalId}/${at}`,
      type: 'joinery.identity.event.v1',
      source: API_SOURCE,
      time: at,
      tenantId,
      data,
    }),
  ]);
  return refeedRemainingSources(tx, {
    tenantId,
    identityId,
    except: { applicationId, externalId },
    importsTopic: topicName(options, 'imports'),
    source: API_SOURCE,
    at: new Date(at),
  });
}

interface ByHand {
  tenantId: string;
  serviceAccountId: string;
  topicPrefix: string;
  at: string;
}

/**
 * Joins the object to the identity by hand, in the caller's transaction: its hard join (provenance
 * manual:<service account>), the identity it leaves detached, and the object fed to the engine again.
 */
async function joinByHand(
  tx: EntityManager,
  by: ByHand,
  target: { applicationId: string; externalId: string; identityId: string },
): Promise<{ previousIdentityId: string | null; previousJoinState: string | null; joinProvenance: string }> {
  const { tenantId, serviceAccountId, at } = by;
  const { applicationId, externalId, identityId } = target;
  const k = tx.getKysely();
  const object = await lockObject(tx, tenantId, applicationId, externalId);
  const identity = await requireIdentity(tx, tenantId, identityId);
  if (identity.state === 'deleted')
    throw new ConflictError(`identity ${identityId} is deleted; join the object to a live identity`, {
      details: { identityId },
    });
  if (object.deleted)
    throw new ConflictError(
      `application object ${externalId} was deleted in application ${applicationId}; it cannot be joined`,
      { details: { applicationId, externalId } },
    );
  // The hard join; a manual join replaces whatever join the object had.
  const { rows: previous } = await sql<{ identity_id: string }>`
    select identity_id from identity_source
    where tenant_id = ${tenantId} and application_id = ${applicationId} and external_id = ${externalId}`.execute(
    k,
  );
  const provenance = joinProvenance.manual(serviceAccountId);
  await sql`
    insert into identity_source (tenant_id, application_id, external_id, identity_id, provenance, created_at)
    values (${tenantId}, ${applicationId}, ${externalId}, ${identityId}, ${provenance}, ${at})
    on conflict (tenant_id, application_id, external_id)
    do update set identity_id = excluded.identity_id, provenance = excluded.provenance,
      created_at = excluded.created_at`.execute(k);
  const left = previous[0]?.identity_id ?? object.identity_id;
  if (left !== null && left !== identityId)
    await detachFromIdentity(
      tx,
      { topicPrefix: by.topicPrefix },
      { tenantId, identityId: left, applicationId, externalId },
      `service-account:${serviceAccountId}`,
      at,
    );
  // An empty content hash differs from any real one: the re-fed object is processed, not skipped.
  await sql`
    update repository_object set join_state = 'joined', identity_id = ${identityId}, join_candidates = null,
      content_hash = '', updated_at = now()
    where tenant_id = ${tenantId} and application_id = ${applicationId} and external_id = ${externalId}`.execute(
    k,
  );
  const data: MessageData<'joinery.import.object.v1'> = {
    tenantId,
    applicationId,
    objectClass: object.object_class,
    externalId,
    operation: 'upsert',
    attributes: object.attributes,
    observedAt: at,
    refeed: true,
  };
  await insertOutbox(tx, [
    outboxMessage(topicName({ topicPrefix: by.topicPrefix }, 'imports'), {
      id: `manual-join/${applicationId}/${externalId}/${at}`,
      type: 'joinery.import.object.v1',
      source: API_SOURCE,
      time: at,
      tenantId,
      data,
    }),
    logRow(by.topicPrefix, `manual-join/log/${applicationId}/${externalId}/${at}`, {
      tenantId,
      at,
      level: 'info',
      category: 'join',
      stage: 'admin',
      outcome: 'succeeded',
      message: `application object ${externalId} of application ${applicationId} joined by hand (service-account:${serviceAccountId})`,
      identityId,
      applicationId,
      objectClass: object.object_class,
      externalId,
      actor: { kind: 'service-account', id: serviceAccountId },
      decidedBy: { kind: 'manual', name: `service-account:${serviceAccountId}` },
    }),
  ]);
  return { previousIdentityId: left, previousJoinState: object.join_state, joinProvenance: provenance };
}

/** Unjoins and excludes the object by hand, in the caller's transaction; the identity it leaves forgets it. */
async function unjoinByHand(
  tx: EntityManager,
  by: ByHand,
  target: { applicationId: string; externalId: string },
): Promise<{ previousIdentityId: string | null; previousJoinState: string | null }> {
  const { tenantId, serviceAccountId, at } = by;
  const { applicationId, externalId } = target;
  const k = tx.getKysely();
  const object = await lockObject(tx, tenantId, applicationId, externalId);
  const { rows: removed } = await sql<{ identity_id: string }>`
    delete from identity_source
    where tenant_id = ${tenantId} and application_id = ${applicationId} and external_id = ${externalId}
    returning identity_id`.execute(k);
  await sql`
    update repository_object set join_state = 'excluded', identity_id = null, join_candidates = null, updated_at = now()
    where tenant_id = ${tenantId} and application_id = ${applicationId} and external_id = ${externalId}`.execute(
    k,
  );
  const previousIdentityId = removed[0]?.identity_id ?? object.identity_id;
  if (previousIdentityId !== null)
    await detachFromIdentity(
      tx,
      { topicPrefix: by.topicPrefix },
      { tenantId, identityId: previousIdentityId, applicationId, externalId },
      `service-account:${serviceAccountId}`,
      at,
    );
  await insertOutbox(tx, [
    logRow(by.topicPrefix, `manual-unjoin/log/${applicationId}/${externalId}/${at}`, {
      tenantId,
      at,
      level: 'info',
      category: 'join',
      stage: 'admin',
      outcome: 'succeeded',
      message: `application object ${externalId} of application ${applicationId} unjoined and excluded by hand (service-account:${serviceAccountId})`,
      ...(previousIdentityId === null ? {} : { identityId: previousIdentityId }),
      applicationId,
      objectClass: object.object_class,
      externalId,
      actor: { kind: 'service-account', id: serviceAccountId },
      decidedBy: { kind: 'manual', name: `service-account:${serviceAccountId}` },
    }),
  ]);
  return { previousIdentityId, previousJoinState: object.join_state };
}

/**
 * The other objects of the object's application and class that hold the identity (joined) or claim it
 * (held in conflict over it): what a conflict's resolution excludes.
 */
async function rivals(
  tx: EntityManager,
  tenantId: string,
  target: { applicationId: string; externalId: string; identityId: string; objectClass: string },
): Promise<string[]> {
  const { rows } = await sql<{ external_id: string }>`
    select r.external_id from identity_source s
    join repository_object r on r.tenant_id = s.tenant_id and r.application_id = s.application_id
      and r.external_id = s.external_id
    where s.tenant_id = ${tenantId} and s.application_id = ${target.applicationId}
      and s.identity_id = ${target.identityId} and r.object_class = ${target.objectClass} and not r.deleted
      and r.external_id <> ${target.externalId}
    union
    select r.external_id from repository_object r
    where r.tenant_id = ${tenantId} and r.application_id = ${target.applicationId}
      and r.join_state = 'conflict' and (r.join_candidates->'identityIds'->>0) = ${target.identityId}
      and r.object_class = ${target.objectClass} and not r.deleted and r.external_id <> ${target.externalId}
    order by 1`.execute(tx.getKysely());
  return rows.map((row) => row.external_id);
}

export const joinRoutes: FastifyPluginAsyncTypebox<{ topicPrefix: string }> = async (app, options) => {
  const byHand = (principal: { tenantId: string; serviceAccountId: string }, at: string): ByHand => ({
    tenantId: principal.tenantId,
    serviceAccountId: principal.serviceAccountId,
    topicPrefix: options.topicPrefix,
    at,
  });

  app.post('/', { config: { scope: 'write' }, schema: { body: JoinBody } }, async (request) => {
    const { applicationId, externalId, identityId } = request.body;
    const at = new Date().toISOString();
    const result = await request.em.transactional(async (tx) => {
      await requireApplication(tx, request.principal.tenantId, applicationId);
      return joinByHand(tx, byHand(request.principal, at), { applicationId, externalId, identityId });
    });
    request.log.info({ applicationId, externalId, identityId }, 'manual join');
    return {
      applicationId,
      externalId,
      identityId,
      joinState: 'joined',
      provenance: 'manual',
      joinProvenance: result.joinProvenance,
      joinedAt: at,
      previousJoinState: result.previousJoinState,
      previousIdentityId: result.previousIdentityId,
      reimportQueued: true,
    };
  });

  app.post('/unjoin', { config: { scope: 'write' }, schema: { body: UnjoinBody } }, async (request) => {
    const { applicationId, externalId } = request.body;
    const at = new Date().toISOString();
    const result = await request.em.transactional(async (tx) => {
      await requireApplication(tx, request.principal.tenantId, applicationId);
      return unjoinByHand(tx, byHand(request.principal, at), { applicationId, externalId });
    });
    request.log.info({ applicationId, externalId }, 'manual unjoin');
    return {
      applicationId,
      externalId,
      joinState: 'excluded',
      previousJoinState: result.previousJoinState,
      previousIdentityId: result.previousIdentityId,
    };
  });

  // A join conflict resolved in one step: the object is the person's — joined to the identity it conflicts
  // over (or the one given) — and every other object of its class that holds or claims that identity is
  // unjoined and excluded, all in one transaction.
  app.post('/resolve', { config: { scope: 'write' }, schema: { body: ResolveBody } }, async (request) => {
    const { tenantId } = request.principal;
    const { applicationId, externalId } = request.body;
    const at = new Date().toISOString();
    const result = await request.em.transactional(async (tx) => {
      await requireApplication(tx, tenantId, applicationId);
      const object = await lockObject(tx, tenantId, applicationId, externalId);
      const claimed = object.join_state === 'conflict' ? object.join_candidates?.identityIds[0] : undefined;
      const identityId = request.body.identityId ?? claimed ?? object.identity_id ?? undefined;
      if (identityId === undefined)
        throw new ConflictError(
          `application object ${externalId} is ${object.join_state ?? 'not looked at yet'}, not in a join conflict: name the identity (identityId) or use POST /v1/joins`,
          { details: { applicationId, externalId, joinState: object.join_state } },
        );
      const excluded = await rivals(tx, tenantId, {
        applicationId,
        externalId,
        identityId,
        objectClass: object.object_class,
      });
      const by = byHand(request.principal, at);
      for (const other of excluded) await unjoinByHand(tx, by, { applicationId, externalId: other });
      const joined = await joinByHand(tx, by, { applicationId, externalId, identityId });
      return { identityId, excluded, previousJoinState: joined.previousJoinState };
    });
    request.log.info({ applicationId, externalId, ...result }, 'join conflict resolved');
    return {
      applicationId,
      externalId,
      identityId: result.identityId,
      joinState: 'joined',
      previousJoinState: result.previousJoinState,
      excluded: result.excluded,
      reimportQueued: true,
    };
  });
};
