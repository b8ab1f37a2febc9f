// Reading the audit history: one tenant's events, filtered, newest first, a page at a time (keyset on
// `at` and the event id, so a page deep in the history costs what the first one does). Each filter has an
// index of its own (migrations/Migration20261206130000_audit_history.ts); the others are checked on the rows
// that index finds.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { LogEvent } from '../../kernel/contracts/messages.ts';

export interface AuditFilter {
  tenantId: string;
  identityId?: string;
  groupId?: string;
  applicationId?: string;
  externalId?: string;
  runId?: string;
  /** The actor's id: a service account, an agent's connector. */
  actor?: string;
  stage?: string;
  outcome?: string;
  /** From this instant (inclusive). */
  from?: string;
  /** Until this instant (exclusive). */
  to?: string;
}

/** Where a page ends: the last event's time (microseconds, as text) and id. */
export interface AuditPosition {
  at: string;
  eventId: string;
}

export interface AuditRecord {
  id: string;
  event: LogEvent;
  /** The position just after this record, for the next page. */
  position: AuditPosition;
}

/** A page of `limit` events after `after` (newest first); fetches one more to know whether more follow. */
export async function readAuditPage(
  em: EntityManager,
  filter: AuditFilter,
  limit: number,
  after?: AuditPosition,
): Promise<{ records: AuditRecord[]; more: boolean }> {
  const { rows } = await sql<{ event_id: string; at_text: string; event: LogEvent }>`
    select event_id, to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at_text, event
    from audit_event
    where tenant_id = ${filter.tenantId}
      ${filter.identityId === undefined ? sql`` : sql`and identity_id = ${filter.identityId}`}
      ${filter.groupId === undefined ? sql`` : sql`and group_id = ${filter.groupId}`}
      ${filter.applicationId === undefined ? sql`` : sql`and application_id = ${filter.applicationId}`}
      ${filter.externalId === undefined ? sql`` : sql`and external_id = ${filter.externalId}`}
      ${filter.runId === undefined ? sql`` : sql`and run_id = ${filter.runId}`}
      ${filter.actor === undefined ? sql`` : sql`and actor_id = ${filter.actor}`}
      ${filter.stage === undefined ? sql`` : sql`and stage = ${filter.stage}`}
      ${filter.outcome === undefined ? sql`` : sql`and outcome = ${filter.outcome}`}
      ${filter.from === undefined ? sql`` : sql`and at >= ${filter.from}::timestamptz`}
      ${filter.to === undefined ? sql`` : sql`and at < ${filter.to}::timestamptz`}
      ${after === undefined ? sql`` : sql`and (at, event_id) < (${after.at}::timestamptz, ${after.eventId})`}
    order by at desc, event_id desc
    limit ${limit + 1}`.execute(em.getKysely());
  return {
    records: rows.slice(0, limit).map((row) => ({
      id: row.event_id,
      event: row.event,
      position: { at: row.at_text, eventId: row.event_id },
    })),
    more: rows.length > limit,
  };
}

/** Every matching event, newest first, read a page at a time (for exports), at most `max`. */
export async function* readAuditEvents(
  em: EntityManager,
  filter: AuditFilter,
  max: number,
  after?: AuditPosition,
): AsyncGenerator<AuditRecord> {
  let position = after;
  let left = max;
  while (left > 0) {
    const { records, more } = await readAuditPage(em, filter, Math.min(1000, left), position);
    for (const record of records) yield record;
    left -= records.length;
    const last = records.at(-1);
    if (!more || last === undefined) return;
    position = last.position;
  }
}
