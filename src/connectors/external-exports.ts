// Connectors outside Joinery, over Kafka (`connector: external` in the plan; docs/connectors.md, "External
// connectors over Kafka"). A third consumer of the export queue beside the in-engine connector runner and
// the agent gateway:
// - the publisher claims the due exports of external applications under the queue's lease and writes each
//   as a `joinery.export.v1` to the outbox in the claim's own transaction, so an export is leased if and
//   only if it is published (a crash loses or doubles nothing silently); the relay publishes on `exports`
//   in order per object. An export whose lease (the application's export.leaseSeconds, default 5 min) runs
//   out with no result is claimed and published again with the same exportId and the next attempt: the
//   connector must be idempotent on exportId.
// - the result handler takes `joinery.export.result.v1` from `export-results` in the exactly-once batches of
//   its consumer group and records each in the export queue in the batch's transaction (retries, attempts,
//   confirmation, logstream: export-queue.ts); a result that cannot be recorded goes to deadletter with why.
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Attributes } from '../../kernel/contracts/identity-events.ts';
import { isSealedValue, type MessageData } from '../../kernel/contracts/messages.ts';
import { describeError, NotFoundError, type ErrorCode } from '../../kernel/errors.ts';
import type { LogstreamTarget } from '../../streams/logstream.ts';
import { insertOutbox, outboxMessage, type OutboxRow } from '../../streams/outbox.ts';
import type { BatchHandler, Rejection } from '../../streams/partition-batch.ts';
import {
  claimExports,
  recordExportResultIn,
  type ExportInstruction,
  type ExportResult,
} from '../engine/export-queue.ts';

/** How long a published export waits for its result before it is published again, when its plan says nothing. */
export const DEFAULT_EXTERNAL_LEASE_SECONDS = 300;

/** Exports claimed and published in one transaction. */
const CLAIM_BATCH = 500;

export interface ExternalExportPublisherDeps {
  orm: MikroORM;
  logger: Logger;
  /** The broker-side name of the exports topic. */
  exportsTopic: string;
  /** Where an export that cannot be published is told as failed. */
  logstream: LogstreamTarget;
  /** ce_source of the published exports. */
  source: string;
  pollMs?: number;
}

export interface ExternalExportPublisher {
  /** Publishes what is due now (tests, and each poll). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

export function startExternalExportPublisher(deps: ExternalExportPublisherDeps): ExternalExportPublisher {
  const log = deps.logger.child({ component: 'external-exports' });
  let stopped = false;

  /**
   * The claim and publication of one tenant's applications with the same lease, in one transaction; returns
   * how many were claimed.
   */
  const publishSome = async (
    tenantId: string,
    leaseMs: number,
    applications: ExternalApplication[],
  ): Promise<number> =>
    deps.orm.em.fork().transactional(async (tx) => {
      const claimed = await claimExports(tx, {
        tenantId,
        applicationIds: applications.map((application) => application.id),
        limit: CLAIM_BATCH,
        leaseMs,
      });
      const rows: OutboxRow[] = [];
      const now = new Date();
      for (const instruction of claimed) {
        const problem = whyNotPublishable(instruction);
        if (problem === undefined) {
          rows.push(
            outboxMessage(deps.exportsTopic, {
              // Stable per delivery: a relay that publishes twice repeats the id, and consumers deduplicate on it.
              id: `${instruction.exportId}:${String(instruction.attempt ?? 1)}`,
              type: 'joinery.export.v1',
              source: deps.source,
              time: now.toISOString(),
              tenantId,
              data: instruction,
            }),
          );
          continue;
        }
        const application = applications.find((candidate) => candidate.id === instruction.applicationId);
        log.warn({ tenantId, exportId: instruction.exportId, reason: problem }, 'export not published');
        await recordExportResultIn(tx, {
          tenantId,
          exportId: instruction.exportId,
          result: {
            status: 'failed',
            code: 'JNY_EXPORT_NOT_PUBLISHABLE',
            message: problem,
            retriable: false,
          },
          now,
          logstream: { ...deps.logstream, actor: { kind: 'engine', name: application?.name ?? 'exports' } },
        });
      }
      await insertOutbox(tx, rows);
      if (rows.length > 0) log.debug({ tenantId, exports: rows.length }, 'exports published');
      return claimed.length;
    });

  const tick = async (): Promise<void> => {
    const byLease = Map.groupBy(
      await externalApplications(deps.orm),
      (application) => `${application.tenantId}:${String(application.leaseSeconds)}`,
    );
    for (const applications of byLease.values()) {
      const [{ tenantId, leaseSeconds }] = applications as [ExternalApplication];
      while (!stopped && (await publishSome(tenantId, leaseSeconds * 1000, applications)) === CLAIM_BATCH);
    }
  };

  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    running = tick()
      .catch((error: unknown) => {
        log.warn({ error: describeError(error) }, 'publishing exports failed; retrying at the next look');
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, deps.pollMs ?? 1_000);
      });
  };
  timer = setTimeout(loop, 0);
  return {
    tick: async () => {
      await running;
      await tick();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

interface ExternalApplication {
  id: string;
  tenantId: string;
  name: string;
  /** export.leaseSeconds of its plan in force. */
  leaseSeconds: number;
}

async function externalApplications(orm: MikroORM): Promise<ExternalApplication[]> {
  const { rows } = await sql<{ id: string; tenant_id: string; name: string; lease_seconds: number | null }>`
    select a.id, a.tenant_id, a.name, (
      select (e.application->'export'->>'leaseSeconds')::int
      from jsonb_array_elements(p.document->'applications') as e(application)
      where e.application->>'name' = a.name) as lease_seconds
    from application a
    join lateral (select document from plan_version where tenant_id = a.tenant_id
      order by version desc limit 1) p on true
    where a.connector = 'external'`.execute(orm.em.fork().getKysely());
  return rows.map((row) => ({
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    leaseSeconds: row.lease_seconds ?? DEFAULT_EXTERNAL_LEASE_SECONDS,
  }));
}

const holdsSealed = (attributes: Attributes | undefined): boolean =>
  Object.values(attributes ?? {}).some(
    (value) => isSealedValue(value) || (Array.isArray(value) && value.some((item) => isSealedValue(item))),
  );

/** Passwords and sensitive values stay inside Joinery: a topic is readable by whoever may read it, for days. */
function whyNotPublishable(instruction: ExportInstruction): string | undefined {
  if (instruction.secret !== undefined)
    return 'a password is never published on Kafka: an external connector cannot write passwords (remove export.passwords)';
  if (holdsSealed(instruction.attributes))
    return 'the export carries an attribute the plan marks sensitive, which is never published on Kafka: map no sensitive attribute to an application with an external connector';
  return undefined;
}

export interface ExportResultCounters {
  /** Results that changed their export. */
  recorded: number;
  /** Results that changed nothing: a duplicate, or a result for an earlier attempt. */
  unchanged: number;
}

/** What a result says, as the export queue records it; or why it cannot be recorded. */
function resultOf(data: MessageData<'joinery.export.result.v1'>): ExportResult | string {
  if (data.status === 'succeeded') {
    if (data.externalId === undefined)
      return 'a succeeded result needs externalId: the anchor of the object in the application';
    return { status: 'succeeded', externalId: data.externalId };
  }
  const missing = (['code', 'message', 'retriable'] as const).filter((field) => data[field] === undefined);
  if (data.code === undefined || data.message === undefined || data.retriable === undefined)
    return `a failed result needs ${missing.join(', ')}`;
  return { status: 'failed', code: data.code, message: data.message, retriable: data.retriable };
}

interface AnsweredExport {
  tenant_id: string;
  export_id: string;
  application_id: string;
  name: string;
  connector: string | null;
  max_attempts: number | null;
}

/**
 * The consumer of `export-results`: each result recorded in the batch's transaction (exactly once with the
 * offset); a duplicate changes nothing. A result that names no export of its tenant (another tenant's
 * export included), another application, or an export whose connector is not external, or that lacks what
 * its status needs, is refused to deadletter with the reason; its neighbours are recorded.
 */
export function createExportResultHandler(options: {
  logstream: LogstreamTarget;
  now?: () => Date;
}): BatchHandler & { readonly counters: ExportResultCounters } {
  const counters: ExportResultCounters = { recorded: 0, unchanged: 0 };
  const handler: BatchHandler = async (tx, messages) => {
    const rejected: Rejection[] = [];
    const reject = (message: (typeof messages)[number]['message'], reason: string, code: ErrorCode) =>
      rejected.push({ message, reason, code });
    const results = messages.flatMap(({ message, envelope }) => {
      if (envelope.type !== 'joinery.export.result.v1') {
        reject(
          message,
          `export-results carries joinery.export.result.v1, not ${envelope.type}`,
          'JNY_MESSAGE_INVALID',
        );
        return [];
      }
      const data = envelope.data as MessageData<'joinery.export.result.v1'>;
      return [{ message, data }];
    });
    // The answered exports of the batch with their application and its maxAttempts in force: one query.
    const { rows } = await sql<AnsweredExport>`
      select e.tenant_id, e.export_id, e.application_id, a.name, a.connector, (
        select (app.value->'export'->>'maxAttempts')::int
        from plan_version p, jsonb_array_elements(p.document->'applications') as app(value)
        where p.tenant_id = e.tenant_id and app.value->>'name' = a.name
          and p.version = (select max(version) from plan_version where tenant_id = e.tenant_id)) as max_attempts
      from jsonb_to_recordset(${JSON.stringify(
        results.map(({ data }) => ({ tenant_id: data.tenantId, export_id: data.exportId })),
      )}::jsonb) as u(tenant_id uuid, export_id uuid)
      join export_item e on e.tenant_id = u.tenant_id and e.export_id = u.export_id
      join application a on a.id = e.application_id`.execute(tx.getKysely());
    const answered = new Map(rows.map((row) => [`${row.tenant_id}:${row.export_id}`, row]));
    let recorded = 0;
    let unchanged = 0;
    const now = options.now?.() ?? new Date();
    for (const { message, data } of results) {
      const item = answered.get(`${data.tenantId}:${data.exportId}`);
      if (item === undefined) {
        reject(message, `export ${data.exportId} not found in tenant ${data.tenantId}`, 'JNY_NOT_FOUND');
        continue;
      }
      if (item.application_id !== data.applicationId) {
        reject(
          message,
          `export ${data.exportId} belongs to application ${item.application_id}, not ${data.applicationId}`,
          'JNY_MESSAGE_INVALID',
        );
        continue;
      }
      if (item.connector !== 'external') {
        reject(
          message,
          `export ${data.exportId} is for application ${item.name}, whose connector is not external: only its own connector reports its results`,
          'JNY_FORBIDDEN',
        );
        continue;
      }
      const result = resultOf(data);
      if (typeof result === 'string') {
        reject(message, result, 'JNY_MESSAGE_INVALID');
        continue;
      }
      try {
        const changed = await recordExportResultIn(tx, {
          tenantId: data.tenantId,
          exportId: data.exportId,
          result,
          now,
          ...(data.attempt === undefined ? {} : { attempt: data.attempt }),
          ...(item.max_attempts === null ? {} : { maxAttempts: item.max_attempts }),
          logstream: {
            ...options.logstream,
            actor: { kind: 'connector', id: item.application_id, name: `external connector of ${item.name}` },
          },
        });
        if (changed) recorded++;
        else unchanged++;
      } catch (error) {
        // Removed between the look-up and the record (a tenant's exports deleted): nothing left to record.
        if (!(error instanceof NotFoundError)) throw error;
        reject(message, error.message, 'JNY_NOT_FOUND');
      }
    }
    return {
      outbox: [],
      rejected,
      afterCommit: () => {
        counters.recorded += recorded;
        counters.unchanged += unchanged;
      },
    };
  };
  return Object.assign(handler, { counters });
}
