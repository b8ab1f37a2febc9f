// A sync run's counters as the engine's own transactions left them: the import_run row (the Import stage
// counts in the transaction that stores the objects), the run's repository objects by join state, and the
// exports it caused by status (the Outbound stage writes each export with the run of the object that
// caused it, in the identity's transaction; the export queue moves its status).
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
export type ExportCounts = NonNullable<RunProgress['stages']['export']>;

/** The run's exports by status (a partial index on export_item's run_id holds only those with a run). */
export async function readExportCounts(
  em: EntityManager,
  run: { tenantId: string; runId: string },
): Promise<ExportCounts> {
  const { rows } = await sql<Record<'queued' | 'held' | 'delivered' | 'failed' | 'sandbox', string>>`
    select count(*) filter (where status in ('pending', 'delivering')) as queued,
      count(*) filter (where status = 'held') as held,
      count(*) filter (where status in ('succeeded', 'confirmed')) as delivered,
      count(*) filter (where status = 'failed') as failed,
      count(*) filter (where status = 'sandbox') as sandbox
    from export_item where run_id = ${run.runId} and tenant_id = ${run.tenantId}`.execute(em.getKysely());
  const row = rows[0];
  return {
    queued: Number(row?.queued ?? 0),
    held: Number(row?.held ?? 0),
    delivered: Number(row?.delivered ?? 0),
    failed: Number(row?.failed ?? 0),
    sandbox: Number(row?.sandbox ?? 0),
    at: new Date().toISOString(),
  };
}

/** Whether a run's exports may still change status (queued ones will be delivered, held ones released). */
export function exportsUnsettled(counts: ExportCounts | null): boolean {
  return counts === null || counts.queued + counts.held > 0;
}

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
