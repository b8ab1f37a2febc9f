// What an administrator did, told on the logstream: the service account behind the request is the actor,
// the action its own (plan applied, a join by hand, exports approved, a run released). Written in the
// action's transaction where there is one, so the event exists exactly when the action happened.
import type { EntityManager } from '@mikro-orm/postgresql';
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import { logRow, type LogstreamTarget } from '../../streams/logstream.ts';
import { insertOutbox, type OutboxRow } from '../../streams/outbox.ts';
import { topicName } from '../../streams/topics.ts';
import type { Principal } from '../tenancy/tenants.ts';

export const API_SOURCE = '/joinery/api';

/** The fields an admin action's event adds to what the action says about itself. */
export type AdminAction = Omit<LogEvent, 'tenantId' | 'at' | 'stage' | 'actor' | 'level' | 'category'> &
  Partial<Pick<LogEvent, 'level' | 'category'>>;

export function logstreamOf(topicPrefix: string): LogstreamTarget {
  return { topic: topicName({ topicPrefix }, 'logstream'), source: API_SOURCE };
}

/** The admin action's event as an outbox row (`id` deterministic for the action). */
export function adminRow(
  target: LogstreamTarget,
  principal: Pick<Principal, 'tenantId' | 'serviceAccountId'>,
  id: string,
  at: string,
  action: AdminAction,
): OutboxRow {
  return logRow(target, id, {
    level: 'info',
    category: 'admin',
    ...action,
    tenantId: principal.tenantId,
    at,
    stage: 'admin',
    actor: { kind: 'service-account', id: principal.serviceAccountId },
  });
}

/** Writes admin actions' events in the caller's transaction. */
export async function tellAdminActions(tx: EntityManager, rows: OutboxRow[]): Promise<void> {
  await insertOutbox(tx, rows);
}
