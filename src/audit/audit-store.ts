// Writing the audit history: logstream events as audit_event rows, a batch in one statement. The event is
// kept whole (its JSON, as it came off the topic when the caller has that text: not serialised again); the
// columns the API filters on are copied out beside it.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import { dayOf, ensurePartitions } from './audit-partitions.ts';

/** One logstream event and its CloudEvents id (the same on every redelivery). */
export interface AuditEntry {
  eventId: string;
  event: LogEvent;
  /** The event's JSON text `event` was parsed (and validated) from, stored as it is. */
  json?: string;
}

interface AuditColumns {
  tenant_id: string;
  at: string;
  event_id: string;
  stage: string | null;
  outcome: string | null;
  level: string;
  category: string;
  run_id: string | null;
  identity_id: string | null;
  group_id: string | null;
  application_id: string | null;
  external_id: string | null;
  actor_id: string | null;
}

/** The columns copied out of an event, its JSON beside them. */
export function auditColumns({ eventId, event }: AuditEntry): AuditColumns {
  return {
    tenant_id: event.tenantId,
    at: event.at,
    event_id: eventId,
    stage: event.stage ?? null,
    outcome: event.outcome ?? null,
    level: event.level,
    category: event.category,
    run_id: event.runId ?? null,
    identity_id: event.identityId ?? null,
    group_id: event.groupId ?? null,
    application_id: event.applicationId ?? null,
    external_id: event.externalId ?? null,
    actor_id: event.actor?.id ?? null,
  };
}

/**
 * The batch as one JSON array of rows, each the copied-out columns and `event`: the event's own text spliced
 * in (most of a row's bytes, serialised once by the stage that wrote it), or `event` serialised without it.
 */
export function auditDocument(entries: readonly AuditEntry[]): string {
  const rows = entries.map((entry) => {
    const columns = JSON.stringify(auditColumns(entry));
    return `${columns.slice(0, -1)},"event":${entry.json ?? JSON.stringify(entry.event)}}`;
  });
  return `[${rows.join(',')}]`;
}

/**
 * Stores the events in one statement, in the caller's transaction, creating the partitions of days not
 * seen before. An event stored already (a redelivery: same id, same time) is left as it is. Returns how
 * many were new, and the days whose partitions this transaction made sure of (for the caller to remember
 * once it commits: a rollback takes a created partition with it).
 */
export async function insertAuditEvents(
  tx: EntityManager,
  entries: readonly AuditEntry[],
  knownDays: ReadonlySet<string>,
): Promise<{ inserted: number; days: string[] }> {
  if (entries.length === 0) return { inserted: 0, days: [] };
  const missing = [...new Set(entries.map(({ event }) => dayOf(event.at)))].filter(
    (day) => !knownDays.has(day),
  );
  if (missing.length > 0) await ensurePartitions(tx, missing);
  const document = auditDocument(entries);
  const result = await sql`
    insert into audit_event (tenant_id, at, event_id, stage, outcome, level, category, run_id, identity_id,
      group_id, application_id, external_id, actor_id, event)
    select tenant_id, at, event_id, stage, outcome, level, category, run_id, identity_id, group_id,
      application_id, external_id, actor_id, event
    from jsonb_to_recordset(${document}::jsonb) as u(tenant_id uuid, at timestamptz, event_id text, stage text,
      outcome text, level text, category text, run_id uuid, identity_id uuid, group_id uuid, application_id uuid,
      external_id text, actor_id text, event jsonb)
    on conflict do nothing`.execute(tx.getKysely());
  return { inserted: Number(result.numAffectedRows ?? 0n), days: missing };
}
