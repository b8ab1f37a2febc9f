// Manual joins: an administrator decides which identity an application object belongs to (a disconnector,
// an ambiguous join, a join conflict, a wrong join), or that it belongs to none. A join conflict (a second
// object of one application's object class matched to an identity) is resolved by joining the person's
// object here and unjoining the other; joining one leaves any other still held in conflict as it is. A join becomes the object's hard join (its
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

const API_SOURCE = '/joinery/api';

interface LockedObject {
  object_class: string;
  attributes: Attributes;
  deleted: boolean;
  join_state: string | null;
  identity_id: string | null;
}

/** The object, locked for the rest of the transaction so a concurrent import batch waits for the decision. */
async function lockObject(
  tx: EntityManager,
  tenantId: string,
  applicationId: string,
  externalId: string,
): Promise<LockedObject> {
  const { rows } = await sql<LockedObject>`
    select object_class, attributes, deleted, join_state, identity_id from repository_object
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

export const joinRoutes: FastifyPluginAsyncTypebox<{ topicPrefix: string }> = async (app, options) => {
  app.post('/', { config: { scope: 'write' }, schema: { body: JoinBody } }, async (request) => {
    const { tenantId, serviceAccountId } = request.principal;
    const { applicationId, externalId, identityId } = request.body;
    const at = new Date().toISOString();
    const result = await request.em.transactional(async (tx) => {
      const k = tx.getKysely();
      await requireApplication(tx, tenantId, applicationId);
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
          options,
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
        outboxMessage(topicName(options, 'imports'), {
          id: `manual-join/${applicationId}/${externalId}/${at}`,
          type: 'joinery.import.object.v1',
          source: API_SOURCE,
          time: at,
          tenantId,
          data,
        }),
        logRow(options.topicPrefix, `manual-join/log/${applicationId}/${externalId}/${at}`, {
          tenantId,
          at,
          level: 'info',
          category: 'join',
          message: `application object ${externalId} of application ${applicationId} joined by hand (service-account:${serviceAccountId})`,
          identityId,
        }),
      ]);
      return {
        previousIdentityId: left,
        previousJoinState: object.join_state,
        joinProvenance: provenance,
      };
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
    const { tenantId, serviceAccountId } = request.principal;
    const { applicationId, externalId } = request.body;
    const at = new Date().toISOString();
    const result = await request.em.transactional(async (tx) => {
      const k = tx.getKysely();
      await requireApplication(tx, tenantId, applicationId);
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
          options,
          { tenantId, identityId: previousIdentityId, applicationId, externalId },
          `service-account:${serviceAccountId}`,
          at,
        );
      await insertOutbox(tx, [
        logRow(options.topicPrefix, `manual-unjoin/log/${applicationId}/${externalId}/${at}`, {
          tenantId,
          at,
          level: 'info',
          category: 'join',
          message: `application object ${externalId} of application ${applicationId} unjoined and excluded by hand (service-account:${serviceAccountId})`,
          ...(previousIdentityId === null ? {} : { identityId: previousIdentityId }),
        }),
      ]);
      return { previousIdentityId, previousJoinState: object.join_state };
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
};
