// A sync run's counters as the engine's own transactions left them: the import_run row (the Import stage
// counts in the transaction that stores the objects) and the run's repository objects by join state.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { RunProgress } from './stream-messages.ts';

interface RunRow {
  run_id: string;
  tenant_id: string;
  application_id: string;
  kind: string | null;
  status: string;
  reason: string | null;
  object_count: number | null;
  seen: number;
  deletions: number;
  rejected: number;
  started_at: Date;
  finished_at: Date | null;
}

/** Statuses after which a run's counters no longer move. */
export const finalRunStatuses: readonly string[] = [
  'completed',
  'aborted',
  'failed',
  'incomplete',
  'discarded',
];

export type JoinCounts = NonNullable<RunProgress['stages']['join']>;

/** The runs' import counters (primary-key lookups: cheap enough to read every 250 ms). */
export async function readRuns(
  em: EntityManager,
  runIds: readonly string[],
): Promise<
  Map<
    string,
    { tenantId: string; progress: Omit<RunProgress, 'stages'> & Pick<RunProgress['stages'], 'import'> }
  >
> {
  if (runIds.length === 0) return new Map();
  const { rows } = await sql<RunRow>`
    select run_id, tenant_id, application_id, kind, status, reason, object_count, seen, deletions, rejected,
      started_at, finished_at
    from import_run where run_id = any(${runIds}::uuid[])`.execute(em.getKysely());
  const at = new Date().toISOString();
  return new Map(
    rows.map((row) => [
      row.run_id,
      {
        tenantId: row.tenant_id,
        progress: {
          id: row.run_id,
          applicationId: row.application_id,
          kind: row.kind,
          status: row.status,
          reason: row.reason,
          startedAt: new Date(row.started_at).toISOString(),
          finishedAt: row.finished_at === null ? null : new Date(row.finished_at).toISOString(),
          at,
          import: {
            seen: row.seen,
            total: row.object_count,
            rejected: row.rejected,
            deletions: row.deletions,
          },
        },
      },
    ]),
  );
}

/**
 * The run's repository objects by join state. It reads the application's objects (no index by run), so it
 * is read every few seconds, not every 250 ms.
 */
export async function readJoinCounts(
  em: EntityManager,
  run: { tenantId: string; applicationId: string; runId: string },
): Promise<JoinCounts> {
  const { rows } = await sql<{ joined: string; conflicts: string; unjoined: string }>`
    select count(*) filter (where identity_id is not null) as joined,
      count(*) filter (where join_state = 'conflict') as conflicts,
      count(*) filter (where identity_id is null and join_state is distinct from 'conflict') as unjoined
    from repository_object
    where tenant_id = ${run.tenantId} and application_id = ${run.applicationId}
      and last_run_id = ${run.runId} and not deleted`.execute(em.getKysely());
  const row = rows[0];
  return {
    joined: Number(row?.joined ?? 0),
    conflicts: Number(row?.conflicts ?? 0),
    unjoined: Number(row?.unjoined ?? 0),
    at: new Date().toISOString(),
  };
}
