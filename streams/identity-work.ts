// What a chunk's messages ask of the identity actors: an identity event, a fired schedule or a pulse is one
// event for one identity. A pulse naming only an application object is resolved to the identity joined to
// it (one query for the chunk), and rejected when there is none; a message of another kind is rejected.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { IdentityEvent } from '../kernel/contracts/identity-events.ts';
import type { MessageData } from '../kernel/contracts/messages.ts';
import type { IdentityWork } from './identity-host.ts';
import type { ConsumedMessage, DecodedMessage, Rejection } from './partition-batch.ts';

/** Maps decoded messages to identity events; pulses naming only an application object are resolved here. */
export async function toIdentityWork(
  tx: EntityManager,
  messages: DecodedMessage[],
): Promise<{ work: IdentityWork[]; rejected: Rejection[] }> {
  const work: IdentityWork[] = [];
  const rejected: Rejection[] = [];
  const unresolved: { index: number; message: ConsumedMessage; data: MessageData<'joinery.pulse.v1'> }[] = [];
  for (const { message, envelope } of messages) {
    switch (envelope.type) {
      case 'joinery.identity.event.v1': {
        const data = envelope.data as MessageData<'joinery.identity.event.v1'>;
        work.push({
          tenantId: data.tenantId,
          identityId: data.identityId,
          event: data.event,
          origin: message,
          ...(data.deletionDelayDays === undefined ? {} : { deletionDelayDays: data.deletionDelayDays }),
          ...(data.hardJoinRecorded === true ? { hardJoinRecorded: true } : {}),
          ...(data.runId === undefined ? {} : { runId: data.runId }),
        });
        break;
      }
      case 'joinery.schedule.fired.v1': {
        const data = envelope.data as MessageData<'joinery.schedule.fired.v1'>;
        const event: IdentityEvent = {
          type: 'timer.fired',
          at: data.dueAt,
          timerId: data.timerId,
          kind: data.kind,
        };
        work.push({ tenantId: data.tenantId, identityId: data.identityId, event, origin: message });
        break;
      }
      case 'joinery.pulse.v1': {
        const data = envelope.data as MessageData<'joinery.pulse.v1'>;
        if (data.identityId === undefined) {
          unresolved.push({ index: work.length, message, data });
          work.push({ tenantId: data.tenantId, identityId: '', event: data.event, origin: message });
        } else {
          work.push({
            tenantId: data.tenantId,
            identityId: data.identityId,
            event: data.event,
            origin: message,
          });
        }
        break;
      }
      default:
        rejected.push({
          message,
          reason: `${envelope.type} is not an identity message`,
          code: 'JNY_MESSAGE_INVALID',
        });
    }
  }
  if (unresolved.length > 0) {
    const { rows } = await sql<{
      tenant_id: string;
      application_id: string;
      external_id: string;
      identity_id: string;
    }>`
      select s.tenant_id, s.application_id, s.external_id, s.identity_id
      from identity_source s
      join unnest(${unresolved.map((u) => u.data.tenantId)}::uuid[], ${unresolved.map((u) => u.data.event.source.applicationId)}::uuid[],
        ${unresolved.map((u) => u.data.event.source.externalId)}::text[]) as u(tenant_id, application_id, external_id)
      on s.tenant_id = u.tenant_id and s.application_id = u.application_id and s.external_id = u.external_id`.execute(
      tx.getKysely(),
    );
    const joined = new Map(
      rows.map((row) => [`${row.tenant_id}|${row.application_id}|${row.external_id}`, row.identity_id]),
    );
    for (const { index, message, data } of unresolved) {
      const { applicationId, externalId } = data.event.source;
      const identityId = joined.get(`${data.tenantId}|${applicationId}|${externalId}`);
      const item = work[index];
      if (item === undefined) continue;
      if (identityId === undefined) {
        rejected.push({
          message,
          reason: `no identity is joined to object ${externalId} of application ${applicationId}`,
          code: 'JNY_NOT_JOINED',
        });
        item.identityId = '';
      } else {
        item.identityId = identityId;
      }
    }
  }
  return { work: work.filter((item) => item.identityId !== ''), rejected };
}
