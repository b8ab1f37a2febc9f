// The in-engine connector runner: for the applications whose connector runs inside the engine (a cloud
// connector, src/connectors/connector-registry.ts) it claims requested runs (schedules, the API, the CLI)
// and executes them — the objects read go to the `imports` topic as an import run, exactly as a file import
// sends them (started marker, objects under the run id, completed marker with their count) — and it claims
// the due exports from the export queue under the same lease as the agent's, calls the connector, and
// records each result (retries with backoff, attempts, confirmation on the next import: export-queue.ts).
//
// Every engine process runs one. A run or an export is claimed by one of them only (the queue's claims
// lock rows, skip locked); an export whose process vanished comes back when its lease runs out.
import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { describeError } from '../../kernel/errors.ts';
import type { Bus } from '../../streams/bus.ts';
import { encodeMessage } from '../../streams/cloudevents.ts';
import { createOrderedProducer } from '../../streams/ordered-producer.ts';
import { topicName } from '../../streams/topics.ts';
import { claimExports, releaseExports, type ExportInstruction } from '../engine/export-queue.ts';
import { claimRequestedRuns, renewRunLease } from '../engine/orchestrator.ts';
import type { ApplicationPlan } from '../plan/plan.schema.ts';
import { inEngineConnectors, type ConnectorRegistry } from './connector-registry.ts';
import { createExportResultBatches } from './export-result-batches.ts';
import { createObjectChunker, topicPartitions } from './import-chunks.ts';
import { logstreamOf, recordOutcome } from './file-import.ts';
import type { SecretResolver } from './connector-secrets.ts';
import type { ConnectorContext, InEngineConnector } from './in-engine-connector.ts';
import type { SensitiveValues } from '../secrets/sensitive-values.ts';

export interface ConnectorRunnerDeps {
  orm: MikroORM;
  bus: Bus;
  topicPrefix: string;
  logger: Logger;
  /** ce_source of the messages sent. */
  source: string;
  secrets: SecretResolver;
  /** Which application types have an in-engine connector (tests give their own). */
  registry?: ConnectorRegistry;
  fetch?: typeof fetch;
  /** How often requested runs and due exports are looked for (default 1 s). */
  pollMs?: number;
  /** How long a claimed export is this process's before another may claim it again (default 2 min). */
  exportLeaseMs?: number;
  /**
   * How long a run being read stays this process's without word from it (default 1 min; renewed every third
   * of it): past it, another runner aborts the run, saying why, and requests it again.
   */
  runLeaseMs?: number;
  /** Opens sensitive attribute values (sealed at rest) for the connector alone; none: sent as stored. */
  sensitiveValues?: SensitiveValues;
}

export interface ConnectorRunner {
  /** Looks once for requested runs and due exports and starts what it finds (tests). */
  tick(): Promise<void>;
  /**
   * Stops claiming, aborts the runs under way (their runs `aborted`), lets the requests in flight finish and
   * gives the exports claimed but not started back to the queue (due at once for the next process).
   */
  stop(): Promise<void>;
}

/** An application whose connector runs here, with its plan in force. */
interface EngineApplication {
  id: string;
  tenantId: string;
  name: string;
  planVersion: number;
  plan: ApplicationPlan;
}

/**
 * Exports claimed ahead, in operations per worker: the next claim starts while this many are left, so a
 * claim slowed by a busy database never leaves the workers idle (each claim takes twice as many).
 */
const CLAIM_AHEAD = 4;

export function startConnectorRunner(deps: ConnectorRunnerDeps): ConnectorRunner {
  const log = deps.logger.child({ component: 'connector-runner' });
  const registry = deps.registry ?? inEngineConnectors;
  const types = Object.keys(registry);
  const context: ConnectorContext = {
    secrets: deps.secrets,
    ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }),
  };
  const leaseMs = deps.exportLeaseMs ?? 120_000;
  const runLeaseMs = deps.runLeaseMs ?? 60_000;
  // Built once per application and plan version: a connector keeps its OAuth token and connections.
  const built = new Map<
    string,
    { version: number; connector: InEngineConnector } | { version: number; problem: string }
  >();
  const warned = new Map<string, string>();
  const stopping = new AbortController();
  /** Per application: its runs, one after the other; and whether its exports are being delivered. */
  const runChains = new Map<string, Promise<void>>();
  const delivering = new Map<string, Promise<void>>();

  const connectorOf = (application: EngineApplication) => {
    const cached = built.get(application.id);
    if (cached?.version === application.planVersion) return cached;
    const factory = registry[application.plan.type];
    if (cached !== undefined && 'connector' in cached) release(application.id, cached.connector);
    let entry: { version: number; connector: InEngineConnector } | { version: number; problem: string };
    try {
      if (factory === undefined) throw new Error(`no in-engine connector for type ${application.plan.type}`);
      entry = { version: application.planVersion, connector: factory(application.plan, context) };
    } catch (error) {
      entry = { version: application.planVersion, problem: describeError(error) };
    }
    built.set(application.id, entry);
    return entry;
  };

  /** A connector replaced (a new plan version) is closed once its runs and exports are done with it. */
  const release = (applicationId: string, connector: InEngineConnector) => {
    void Promise.allSettled([runChains.get(applicationId), delivering.get(applicationId)])
      .then(() => connector.close?.())
      .catch((error: unknown) => {
        log.warn({ applicationId, error: describeError(error) }, 'a replaced connector did not close');
      });
  };

  const tick = async (): Promise<void> => {
    if (stopping.signal.aborted) return;
    const applications = await engineApplications(deps.orm, types);
    const byTenant = Map.groupBy(applications, (application) => application.tenantId);
    for (const [tenantId, tenantApplications] of byTenant) {
      const claimed = await claimRequestedRuns(deps.orm.em, {
        tenantId,
        applicationIds: tenantApplications.map((application) => application.id),
        leaseMs: runLeaseMs,
      });
      for (const run of claimed) {
        const application = tenantApplications.find((candidate) => candidate.id === run.applicationId);
        if (application === undefined) continue;
        const previous = runChains.get(application.id) ?? Promise.resolve();
        const next = previous.then(() => executeRun(application, run));
        runChains.set(application.id, next);
        void next.finally(() => {
          if (runChains.get(application.id) === next) runChains.delete(application.id);
        });
      }
    }
    for (const application of applications) {
      if (delivering.has(application.id)) continue;
      const entry = connectorOf(application);
      if ('problem' in entry) {
        if (warned.get(application.id) !== entry.problem) {
          warned.set(application.id, entry.problem);
          log.warn(
            { tenantId: application.tenantId, applicationId: application.id, reason: entry.problem },
            'connector cannot be built: its exports wait',
          );
        }
        continue;
      }
      warned.delete(application.id);
      const task = deliverExports(application, entry.connector).catch((error: unknown) => {
        log.warn(
          { tenantId: application.tenantId, applicationId: application.id, error: describeError(error) },
          'export delivery failed; retrying at the next look',
        );
      });
      delivering.set(application.id, task);
      void task.finally(() => delivering.delete(application.id));
    }
  };

  /** Executes one claimed run; it always ends failed, aborted or sent (the engine completes it). */
  const executeRun = async (
    application: EngineApplication,
    run: { runId: string; kind: 'full' | 'delta' },
  ): Promise<void> => {
    const { tenantId } = application;
    const runLog = log.child({ tenantId, applicationId: application.id, runId: run.runId });
    const entry = connectorOf(application);
    if ('problem' in entry) {
      await failRun(deps.orm, run.runId, `application ${application.name}: ${entry.problem}`);
      runLog.warn({ reason: entry.problem }, 'sync run failed: its connector cannot be built');
      return;
    }
    const { connector } = entry;
    let reading;
    try {
      const cursor =
        run.kind === 'delta' && connector.capabilities.imports.delta
          ? await lastCursor(deps.orm, application.id)
          : null;
      reading = await connector.import({
        mode: cursor === null ? 'full' : 'delta',
        cursor,
        signal: stopping.signal,
      });
    } catch (error) {
      const reason = `application ${application.name}: the import could not start: ${describeError(error)}`;
      await failRun(deps.orm, run.runId, reason);
      runLog.warn({ reason }, 'sync run failed');
      return;
    }
    const topic = topicName({ topicPrefix: deps.topicPrefix }, 'imports');
    const producer = createOrderedProducer(deps.bus);
    const message = <T extends 'joinery.import.objects.v1' | 'joinery.import.run.v1'>(
      type: T,
      data: MessageData<T>,
      json?: string,
    ) =>
      encodeMessage(
        { id: randomUUID(), type, source: deps.source, time: new Date().toISOString(), tenantId, data },
        json,
      );
    const marker = (
      phase: 'started' | 'completed' | 'aborted',
      objectCount?: number,
      kind: 'full' | 'delta' = reading.mode,
    ) =>
      message('joinery.import.run.v1', {
        tenantId,
        applicationId: application.id,
        runId: run.runId,
        kind,
        phase,
        at: new Date().toISOString(),
        ...(objectCount === undefined ? {} : { objectCount }),
      });
    let sent = 0;
    // The lease is renewed while the connector reads, however slow its pages are.
    const heartbeat = setInterval(() => {
      renewRunLease(deps.orm.em.fork(), run.runId, runLeaseMs).catch((error: unknown) => {
        runLog.warn({ error: describeError(error) }, "the run's lease could not be renewed");
      });
    }, runLeaseMs / 3);
    try {
      // Many objects to a message, grouped by their keys' partition (src/connectors/import-chunks.ts).
      const chunker = createObjectChunker({
        partitions: await topicPartitions(deps.bus, topic),
        common: { tenantId, applicationId: application.id, runId: run.runId },
      });
      const flush = async () => {
        if (chunker.waiting === 0) return;
        const chunks = chunker.take();
        await producer.send([
          {
            topic,
            messages: chunks.map(({ data, json }) => message('joinery.import.objects.v1', data, json)),
          },
        ]);
        sent += chunks.reduce((sum, { data }) => sum + data.objects.length, 0);
      };
      await producer.send([{ topic, messages: [marker('started')] }]);
      for await (const page of reading.pages) {
        if (stopping.signal.aborted) throw new Error('the engine is stopping');
        for (const object of page) {
          const due = chunker.add({
            objectClass: object.objectClass,
            externalId: object.externalId,
            operation: 'upsert',
            attributes: object.attributes,
          });
          if (due) await flush();
        }
        await sql`update import_run set sent = ${sent} where run_id = ${run.runId}`.execute(
          deps.orm.em.fork().getKysely(),
        );
      }
      await flush();
      // Objects left out (rows without a key...): what is not read is never a deletion, so the run completes as
      // a delta, with them listed on it.
      const rejected = reading.rejected?.() ?? { count: 0, first: [] };
      const kind = rejected.count > 0 ? 'delta' : reading.mode;
      if (rejected.count > 0)
        await recordOutcome(
          deps.orm.em,
          run.runId,
          sent,
          rejected.count,
          rejected.first,
          undefined,
          logstreamOf(deps, tenantId, application.id, run.runId),
          (line) => (line === 0 ? 'rows' : `row ${String(line)} of the read`),
        );
      await producer.send([{ topic, messages: [marker('completed', sent, kind)] }]);
      clearInterval(heartbeat);
      await sql`update import_run set sent = ${sent}, cursor = ${reading.cursor()}, lease_until = null
        where run_id = ${run.runId}`.execute(deps.orm.em.fork().getKysely());
      if (rejected.count > 0)
        runLog.warn(
          { kind, objects: sent, rejected: rejected.count },
          'sync run read with rejected objects: completed as a delta, nothing deleted',
        );
      else runLog.info({ kind, objects: sent }, 'sync run read: the engine completes it');
    } catch (error) {
      const reason = `application ${application.name}: the import stopped after ${String(sent)} objects: ${describeError(error)}`;
      await producer.send([{ topic, messages: [marker('aborted')] }]).catch((cause: unknown) => {
        runLog.warn({ error: describeError(cause) }, 'the aborted marker could not be sent');
      });
      await abortRun(deps.orm, run.runId, sent, reason).catch((cause: unknown) => {
        runLog.warn({ error: describeError(cause) }, 'the run could not record why it stopped');
      });
      runLog.warn({ reason }, 'sync run aborted: nothing deleted');
    } finally {
      clearInterval(heartbeat);
      await producer.close();
    }
  };

  /**
   * Claims and delivers the application's due exports until none is due: `concurrency` workers, each taking
   * the next claimed operation as soon as it is done with one. Claims are made ahead, a few at a time (a
   * worker waits for one only when none is left), and results are recorded in batches off the workers' path
   * (export-result-batches.ts), so requests stay in flight up to the concurrency while claims and results
   * commit. An operation queued after another of the same object is claimable only once the earlier one's
   * result is recorded, so the order per object holds.
   */
  const deliverExports = async (
    application: EngineApplication,
    connector: InEngineConnector,
  ): Promise<void> => {
    const { tenantId } = application;
    const maxAttempts = application.plan.export?.maxAttempts;
    const claimed: ExportInstruction[] = [];
    let exhausted = false;
    let claiming: Promise<void> | null = null;
    const claimAhead = () => {
      if (claiming !== null || exhausted || stopping.signal.aborted) return;
      claiming = claimExports(deps.orm.em.fork(), {
        tenantId,
        applicationIds: [application.id],
        limit: connector.concurrency * CLAIM_AHEAD * 2,
        leaseMs,
      })
        .then(
          (rows) => {
            claimed.push(...rows);
            if (rows.length === 0) exhausted = true;
          },
          (error: unknown) => {
            // Nothing more is claimed this round; what is claimed is delivered, the next look claims again.
            exhausted = true;
            log.warn(
              { tenantId, applicationId: application.id, error: describeError(error) },
              'exports could not be claimed; retrying at the next look',
            );
          },
        )
        .finally(() => {
          claiming = null;
        });
    };
    const nextOperation = async (): Promise<ExportInstruction | undefined> => {
      for (;;) {
        // Stopping: the requests in flight finish; what is claimed and not started is given back (below).
        if (stopping.signal.aborted) return undefined;
        if (claimed.length <= connector.concurrency * CLAIM_AHEAD) claimAhead();
        const next = claimed.shift();
        if (next !== undefined) return next;
        if (claiming === null) return undefined;
        await claiming;
      }
    };
    /** Stopping: the exports claimed and not started go back to the queue, due at once. */
    const giveBack = async () => {
      if (claiming !== null) await claiming;
      const released = await releaseExports(deps.orm.em.fork(), claimed.splice(0)).catch((error: unknown) => {
        log.warn(
          { tenantId, applicationId: application.id, error: describeError(error) },
          'claimed exports could not be given back: they are due again when their lease runs out',
        );
        return 0;
      });
      if (released > 0)
        log.info(
          { tenantId, applicationId: application.id, released },
          'stopping: claimed exports not started were given back to the queue',
        );
    };
    const results = createExportResultBatches({
      orm: deps.orm,
      logger: log,
      tenantId,
      applicationId: application.id,
      ...(maxAttempts === undefined ? {} : { maxAttempts }),
      backlogLimit: connector.concurrency * 4,
    });
    const worker = async () => {
      for (
        let operation = await nextOperation();
        operation !== undefined;
        operation = await nextOperation()
      ) {
        const result = await exportOne(connector, await opened(deps.sensitiveValues, tenantId, operation));
        await results.add(operation, result);
      }
    };
    try {
      await Promise.all(Array.from({ length: connector.concurrency }, worker));
    } finally {
      await results.drained();
      if (stopping.signal.aborted) await giveBack();
    }
  };

  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    running = tick()
      .catch((error: unknown) => {
        log.warn({ error: describeError(error) }, 'connector runner look failed; retrying');
      })
      .finally(() => {
        if (!stopping.signal.aborted) timer = setTimeout(loop, deps.pollMs ?? 1_000);
      });
  };
  timer = setTimeout(loop, 0);
  return {
    tick: async () => {
      await running;
      await tick();
    },
    async stop() {
      stopping.abort();
      clearTimeout(timer);
      await running;
      await Promise.allSettled([...runChains.values(), ...delivering.values()]);
      await Promise.allSettled(
        [...built.values()].map(async (entry) => {
          if ('connector' in entry) await entry.connector.close?.();
        }),
      );
      built.clear();
    },
  };
}

/** The operation with its sensitive values opened: they are sealed at rest, and only the connector sees them. */
async function opened(
  sensitiveValues: SensitiveValues | undefined,
  tenantId: string,
  operation: ExportInstruction,
): Promise<ExportInstruction> {
  if (sensitiveValues === undefined || operation.attributes === undefined) return operation;
  return {
    ...operation,
    attributes: (await sensitiveValues.forTenant(tenantId)).openAttributes(operation.attributes),
  };
}

/** A connector's export never throws past here: an unexpected error is a retriable failure. */
async function exportOne(connector: InEngineConnector, operation: ExportInstruction) {
  try {
    return await connector.export(operation);
  } catch (error) {
    return {
      status: 'failed' as const,
      code: 'JNY_INTERNAL',
      message: describeError(error),
      retriable: true,
    };
  }
}

/**
 * The applications of these types served by Joinery's own connector (not an external one), each with its
 * plan in force (the latest version of its tenant).
 */
async function engineApplications(orm: MikroORM, types: string[]): Promise<EngineApplication[]> {
  if (types.length === 0) return [];
  const { rows } = await sql<{
    id: string;
    tenant_id: string;
    name: string;
    version: number;
    plan: ApplicationPlan | null;
  }>`
    select a.id, a.tenant_id, a.name, p.version, (
      select e.application from jsonb_array_elements(p.document->'applications') as e(application)
      where e.application->>'name' = a.name) as plan
    from application a
    join lateral (select version, document from plan_version where tenant_id = a.tenant_id
      order by version desc limit 1) p on true
    where a.type = any(${types}::text[]) and a.connector is null`.execute(orm.em.fork().getKysely());
  return rows.flatMap((row) =>
    row.plan === null
      ? []
      : [{ id: row.id, tenantId: row.tenant_id, name: row.name, planVersion: row.version, plan: row.plan }],
  );
}

/** Where the application's next delta import starts: the cursor of its latest run that recorded one. */
async function lastCursor(orm: MikroORM, applicationId: string): Promise<string | null> {
  const { rows } = await sql<{ cursor: string }>`
    select cursor from import_run
    where application_id = ${applicationId} and cursor is not null and status not in ('aborted', 'failed')
    order by started_at desc limit 1`.execute(orm.em.fork().getKysely());
  return rows[0]?.cursor ?? null;
}

/** A claimed run that could not start: failed, with why. */
async function failRun(orm: MikroORM, runId: string, reason: string): Promise<void> {
  await sql`update import_run set status = 'failed', reason = ${reason}, finished_at = now(), lease_until = null
    where run_id = ${runId} and status in ('requested', 'running')`.execute(orm.em.fork().getKysely());
}

/** A run that stopped part way: aborted at once (whether or not its aborted marker got through), nothing deleted. */
async function abortRun(orm: MikroORM, runId: string, sent: number, reason: string): Promise<void> {
  await sql`update import_run set status = 'aborted', reason = ${reason}, sent = ${sent}, finished_at = now(), lease_until = null
    where run_id = ${runId} and status in ('requested', 'running')`.execute(orm.em.fork().getKysely());
}
