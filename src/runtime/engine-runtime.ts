// The engine runtime on Kafka: two consumer groups feed the identity actors — `identity` (bulk) in one,
// `pulses` and `schedules` (real time) in another, in a worker thread of its own so that a
// million-object load never delays a pulse — and an outbox relay and a timer scheduler run beside them.
// The Import stage (imports → Application Repository → identity events) is a consumer group of its own,
// in a worker thread of its own too, so that it and the identity actors use both cores of a bulk load;
// the Outbound stage (changed identities → export queue) runs inside the actors' transactions.
// The csv applications' watched folders are looked at here too, beside the orchestrator: like it, every
// engine process runs the watcher, and a lock per application lets one of them import a given file.
// Processes with the same group id share the partitions; PostgreSQL holds every actor, so any of them
// can take over any partition.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Bus } from '../../streams/bus.ts';
import type { Logger } from 'pino';
import {
  startPartitionConsumer,
  type ConsumerCounters,
  type EngineSettings,
} from '../../streams/partition-consumer.ts';
import { createIdentityBatchHandler } from '../../streams/identity-batch-handler.ts';
import type { LatencySummary } from '../../streams/latency.ts';
import { startOutboxRelay } from '../../streams/outbox.ts';
import { startStatisticsKeeper } from '../../streams/table-statistics.ts';
import { createEngineImportStage } from '../engine/import-stage.ts';
import { createJoinKeyLookup, createPlanCache, createSensitiveLookup } from '../engine/plan-cache.ts';
import { noPlugins, type PluginSet } from '../plan/plugins.ts';
import type { MasterKeyring } from '../agent-gateway/master-key.ts';
import { createSensitiveValues } from '../secrets/sensitive-values.ts';
import { createOutboundStage } from '../engine/outbound-stage.ts';
import { startOrchestrator } from '../engine/orchestrator.ts';
import { createClassifier, createRules } from '../engine/classify.ts';
import { startEngineThread, type ThreadConnection } from './engine-threads.ts';
import { startTimerScheduler, type TimerScheduler } from '../../streams/timers.ts';
import { startCsvWatcher, type CsvWatcher } from '../connectors/csv/csv-watch.ts';
import { startConnectorRunner, type ConnectorRunner } from '../connectors/connector-runner.ts';
import {
  createExportResultHandler,
  startExternalExportPublisher,
  type ExternalExportPublisher,
} from '../connectors/external-exports.ts';
import type { SecretResolver } from '../connectors/connector-secrets.ts';
import { ensureTopics, topicName } from '../../streams/topics.ts';
import { createAuditBatchHandler } from '../audit/audit-consumer.ts';
import { startAuditRetention } from '../audit/audit-retention.ts';
import type { TopicId } from '../../kernel/contracts/messages.ts';
import { startSiemDelivery, type SiemDelivery } from '../siem/siem-delivery.ts';
import type { SiemProduct } from '../siem/siem-event.ts';
import type { BackoffPolicy } from '../../kernel/retry.ts';

export type { EngineSettings } from '../../streams/partition-consumer.ts';

export interface Engine {
  /** Bulk and real-time consumers together. */
  counters(): ConsumerCounters;
  /** From a pulse's ce_time (when its producer sent it) to the commit of its effects. */
  pulseLatency(): LatencySummary;
  readonly timers: TimerScheduler;
  /** The csv applications' watched folders (src/connectors/csv/csv-watch.ts). */
  readonly csvWatcher: CsvWatcher;
  /** The SIEM delivery worker (src/siem/siem-delivery.ts), when started. */
  readonly siem: SiemDelivery | undefined;
  /** The in-engine connectors' runs and exports (src/connectors/connector-runner.ts). */
  readonly connectors: ConnectorRunner;
  /** External connectors' exports published on `exports` (src/connectors/external-exports.ts). */
  readonly externalExports: ExternalExportPublisher;
  stop(): Promise<void>;
}

/** What the real-time consumer needs to run in its own worker thread (its own connections). */
export type { ThreadConnection } from './engine-threads.ts';

export async function startEngine(deps: {
  /** Kafka (a kafkajs client) or the embedded bus. */
  bus: Bus;
  orm: MikroORM;
  logger: Logger;
  settings: EngineSettings;
  /** The plugins plans are compiled with, loaded once by the composition root; none when absent. */
  plugins?: PluginSet;
  /** Run the real-time consumer, the Import stage and the outbox relay in worker threads with these connections; omitted: all in this thread. */
  threads?: ThreadConnection;
  /** The timer scheduler's clock (tests move it forward). */
  now?: () => Date;
  /** The master keyring: the Import stage seals sensitive attributes with the tenants' data keys; none: withheld. */
  masterKeys?: MasterKeyring;
  timerIntervalMs?: number;
  /** Look at every watched folder this often instead of its csv.watch.pollSeconds (tests). */
  csvWatchPollMs?: number;
  /**
   * The audit history's default retention (audit.retentionDays; 90 days when absent) and whether this
   * process runs its consumer (audit.consumer; true when absent).
   */
  audit?: { retentionDays: number; consumer?: boolean };
  /**
   * Deliver the logstream to the tenants' SIEM destinations (docs/siem.md): the master key that opens their
   * secrets (none: destinations with a secret are not delivered to) and the product the formats name.
   */
  siem?: {
    keyring: MasterKeyring | undefined;
    product: SiemProduct;
    refreshMs?: number;
    backoff?: BackoffPolicy;
  };
  /** Where in-engine connectors read the secrets their plans name (env:NAME); none resolve without it. */
  connectorSecrets?: SecretResolver;
  /** Look for requested runs and due exports of in-engine and external connectors this often (default 1 s). */
  connectorPollMs?: number;
}): Promise<Engine> {
  const { bus, orm, settings } = deps;
  const log = deps.logger.child({ component: 'engine' });
  const name = (id: TopicId) => topicName(settings.topics, id);

  const admin = bus.admin();
  await admin.connect();
  try {
    const created = await ensureTopics(admin, settings.topics);
    if (created.length > 0) log.info({ topics: created }, 'created missing topics');
  } finally {
    await admin.disconnect();
  }

  // The outbox relay runs in a thread of its own when threads are used, else here.
  const startRelay = async (): Promise<{ stop(): Promise<void> }> => {
    if (deps.threads !== undefined)
      return startEngineThread({
        connection: deps.threads,
        settings,
        groupId: settings.groupId,
        topics: [],
        concurrency: 1,
        cacheSize: 0,
        relay: true,
        role: 'relay',
        logger: deps.logger,
      });
    return startOutboxRelay({ em: orm.em, bus, logger: deps.logger });
  };
  const timers = startTimerScheduler({
    em: orm.em,
    schedulesTopic: name('schedules'),
    logger: deps.logger,
    source: `/joinery/engine/${settings.groupId}`,
    ...(deps.now === undefined ? {} : { now: deps.now }),
    ...(deps.timerIntervalMs === undefined ? {} : { intervalMs: deps.timerIntervalMs }),
  });
  // Bulk loads outgrow the planner's statistics long before autovacuum (if it is on) looks again.
  const statistics = startStatisticsKeeper({ em: orm.em, logger: deps.logger });
  const plans = createPlanCache(deps.plugins ?? noPlugins);
  // The Outbound stage runs inside the actors' transactions: changed identities → the export queue.
  const outboundStage = createOutboundStage({
    plans,
    logstream: { topic: name('logstream'), source: `/joinery/engine/${settings.groupId}/outbound` },
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });
  const realtimeOptions = {
    groupId: `${settings.groupId}.realtime`,
    topics: ['pulses', 'schedules'] satisfies TopicId[],
    concurrency: 2,
    cacheSize: Math.min(settings.actorCacheSize, 10_000),
  };
  const startRealtime = async (): Promise<{
    counters: ConsumerCounters;
    pulseLatency(): LatencySummary;
    stop(): Promise<void>;
  }> => {
    if (deps.threads !== undefined)
      return startEngineThread({
        connection: deps.threads,
        settings,
        ...realtimeOptions,
        relay: false,
        outbound: true,
        role: 'realtime',
        logger: deps.logger,
      });
    const actorCache = { hits: 0, misses: 0 };
    const consumer = await startPartitionConsumer({
      bus,
      orm,
      logger: deps.logger,
      settings,
      groupId: realtimeOptions.groupId,
      topics: realtimeOptions.topics,
      concurrency: realtimeOptions.concurrency,
      handle: createIdentityBatchHandler({
        settings,
        cacheSize: realtimeOptions.cacheSize,
        sensitive: createSensitiveLookup(plans),
        cacheStats: actorCache,
        outbound: outboundStage.decide,
      }),
      latencyOf: ['pulses'],
      actorCache,
    });
    return {
      counters: consumer.counters,
      pulseLatency: () => consumer.latency(),
      stop: () => consumer.stop(),
    };
  };
  const bulkActorCache = { hits: 0, misses: 0 };
  const startBulk = () =>
    startPartitionConsumer({
      bus,
      orm,
      logger: deps.logger,
      settings,
      groupId: settings.groupId,
      topics: ['identity'],
      concurrency: 3,
      handle: createIdentityBatchHandler({
        settings,
        cacheSize: settings.actorCacheSize,
        cacheStats: bulkActorCache,
        classifier: createClassifier(plans),
        rules: createRules(plans),
        joinKeys: createJoinKeyLookup(plans),
        sensitive: createSensitiveLookup(plans),
        outbound: outboundStage.decide,
      }),
      actorCache: bulkActorCache,
    });
  // The Import stage: application objects into the Application Repository, in worker threads of its own
  // when threads are used, else here. A bulk load keeps it as busy as the identity actors, and a full
  // re-import is its work alone: `engine.importThreads` (two by default) share the imports topic's
  // partitions (1M re-import: 59-62 s with one, 48 s with two).
  const importOptions = {
    groupId: `${settings.groupId}.import`,
    topics: ['imports'] satisfies TopicId[],
    concurrency: 2,
    cacheSize: 1,
  };
  const importStage = {
    identityTopic: name('identity'),
    logstreamTopic: name('logstream'),
    source: `/joinery/engine/${settings.groupId}/import`,
  };
  const { threads } = deps;
  const startImports = (): Promise<{ stop(): Promise<void> }> =>
    threads === undefined
      ? startPartitionConsumer({
          bus,
          orm,
          logger: deps.logger,
          settings,
          groupId: importOptions.groupId,
          topics: importOptions.topics,
          concurrency: importOptions.concurrency,
          handle: createEngineImportStage({
            plans,
            ...importStage,
            ...(deps.masterKeys === undefined
              ? {}
              : { sensitiveValues: createSensitiveValues({ keyring: deps.masterKeys, em: orm.em }) }),
            logger: deps.logger,
            ...(deps.now === undefined ? {} : { now: deps.now }),
          }),
        })
      : startThreads(settings.importThreads ?? 2, (index) =>
          startEngineThread({
            connection:
              deps.masterKeys === undefined
                ? threads
                : {
                    ...threads,
                    masterKeys: {
                      current: deps.masterKeys.current.toString('base64'),
                      previous: deps.masterKeys.previous.map((key) => key.toString('base64')),
                    },
                  },
            settings,
            ...importOptions,
            relay: false,
            importStage,
            role: `import-${String(index + 1)}`,
            logger: deps.logger,
          }),
        );
  // The audit history: the logstream persisted into audit_event by a group of its own, whose offsets are
  // kept under its own name too (other logstream consumers keep theirs), in a thread of its own when
  // threads are used.
  const auditGroup = `${settings.groupId}.audit`;
  const auditOptions = { groupId: auditGroup, topics: ['logstream'] satisfies TopicId[], concurrency: 2 };
  const startAudit = (): Promise<{ stop(): Promise<void> }> =>
    deps.audit?.consumer === false
      ? Promise.resolve({ stop: () => Promise.resolve() })
      : threads === undefined
        ? startPartitionConsumer({
            bus,
            orm,
            logger: deps.logger,
            settings: { ...settings, groupId: auditGroup },
            ...auditOptions,
            handle: createAuditBatchHandler(deps.now === undefined ? {} : { now: deps.now }),
          })
        : startEngineThread({
            connection: threads,
            settings: { ...settings, groupId: auditGroup },
            ...auditOptions,
            cacheSize: 0,
            relay: false,
            audit: true,
            role: 'audit',
            logger: deps.logger,
          });
  // External connectors' results (export-results → the export queue), exactly once like the other groups:
  // few messages, so in this thread.
  const startExportResults = () =>
    startPartitionConsumer({
      bus,
      orm,
      logger: deps.logger,
      settings,
      groupId: `${settings.groupId}.export-results`,
      topics: ['export-results'],
      concurrency: 1,
      handle: createExportResultHandler({
        logstream: { topic: name('logstream'), source: `/joinery/engine/${settings.groupId}/export-results` },
        ...(deps.now === undefined ? {} : { now: deps.now }),
      }),
    });
  const retention = startAuditRetention({
    em: orm.em,
    logger: deps.logger,
    retentionDays: deps.audit?.retentionDays ?? 90,
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });
  // Side by side: each joins its consumer group (or boots its thread) on its own, so a start or a restart
  // takes as long as the slowest of them, not their sum.
  const [relay, realtime, bulk, imports, audit, exportResults] = await startAll([
    startRelay,
    startRealtime,
    startBulk,
    startImports,
    startAudit,
    startExportResults,
  ] as const).catch(async (error: unknown) => {
    await timers.stop();
    await statistics.stop();
    await retention.stop();
    throw error;
  });
  const orchestrator = startOrchestrator({
    em: orm.em,
    logger: deps.logger,
    rejoin: { importsTopic: name('imports'), source: `/joinery/engine/${settings.groupId}/rejoin` },
    reconcile: {
      identityTopic: name('identity'),
      source: `/joinery/engine/${settings.groupId}/reconcile`,
      plans,
    },
    logstream: { topic: name('logstream'), source: `/joinery/engine/${settings.groupId}/orchestrator` },
    ...(deps.now === undefined ? {} : { now: deps.now }),
    ...(deps.timerIntervalMs === undefined ? {} : { intervalMs: deps.timerIntervalMs }),
  });
  const csvWatcher = startCsvWatcher({
    orm,
    bus,
    topicPrefix: settings.topics.topicPrefix,
    logger: deps.logger,
    source: `/joinery/engine/${settings.groupId}/csv-watch`,
    ...(deps.csvWatchPollMs === undefined ? {} : { pollMs: deps.csvWatchPollMs }),
  });
  const siemOptions = deps.siem;
  const siem =
    siemOptions === undefined
      ? undefined
      : await startSiemDelivery({
          bus,
          orm,
          logger: deps.logger,
          keyring: siemOptions.keyring,
          settings,
          product: siemOptions.product,
          ...(siemOptions.refreshMs === undefined ? {} : { refreshMs: siemOptions.refreshMs }),
          ...(siemOptions.backoff === undefined ? {} : { backoff: siemOptions.backoff }),
        }).catch(async (error: unknown) => {
          await csvWatcher.stop();
          await orchestrator.stop();
          await Promise.all([imports.stop(), bulk.stop(), realtime.stop(), exportResults.stop()]);
          await timers.stop();
          await statistics.stop();
          await relay.stop();
          throw error;
        });
  const connectors = startConnectorRunner({
    orm,
    bus,
    topicPrefix: settings.topics.topicPrefix,
    logger: deps.logger,
    source: `/joinery/engine/${settings.groupId}/connectors`,
    secrets:
      deps.connectorSecrets ??
      ((reference) => {
        throw new Error(`secret ${reference}: this engine was started without connector secrets`);
      }),
    ...(deps.connectorPollMs === undefined ? {} : { pollMs: deps.connectorPollMs }),
    ...(deps.masterKeys === undefined
      ? {}
      : { sensitiveValues: createSensitiveValues({ keyring: deps.masterKeys, em: orm.em }) }),
  });
  const externalExports = startExternalExportPublisher({
    orm,
    logger: deps.logger,
    exportsTopic: name('exports'),
    logstream: { topic: name('logstream'), source: `/joinery/engine/${settings.groupId}/external-exports` },
    source: `/joinery/engine/${settings.groupId}/external-exports`,
    ...(deps.connectorPollMs === undefined ? {} : { pollMs: deps.connectorPollMs }),
  });
  log.info(
    {
      groupId: settings.groupId,
      realtime: deps.threads === undefined ? 'inline' : 'worker thread',
      audit: deps.audit?.consumer === false ? 'not stored by this process (audit.consumer off)' : 'stored',
    },
    'engine started',
  );

  const counters = (): ConsumerCounters => {
    const sum = { ...bulk.counters };
    for (const key of Object.keys(sum) as (keyof ConsumerCounters)[]) sum[key] += realtime.counters[key];
    return sum;
  };
  return {
    counters,
    pulseLatency: () => realtime.pulseLatency(),
    timers,
    csvWatcher,
    siem,
    connectors,
    externalExports,
    async stop() {
      // SIEM delivery first: it only reads the logstream, and a destination waiting out a backoff stops at once.
      await siem?.stop();
      // The file being imported is sent whole (its run completed or aborted) before the consumers stop; a
      // connector's run under way is aborted, its exports in flight are recorded.
      await csvWatcher.stop();
      await connectors.stop();
      await externalExports.stop();
      // Consumers first: their in-flight batches finish and commit; then the relay publishes what they left.
      await imports.stop();
      await bulk.stop();
      await realtime.stop();
      await audit.stop();
      await exportResults.stop();
      await retention.stop();
      await timers.stop();
      await statistics.stop();
      await orchestrator.stop();
      await relay.stop();
      log.info({ ...counters(), pulseLatencyMs: realtime.pulseLatency() }, 'engine stopped');
    },
  };
}

/** `count` threads as one part: started side by side (all or none), stopped together. */
async function startThreads(
  count: number,
  start: (index: number) => Promise<{ stop(): Promise<void> }>,
): Promise<{ stop(): Promise<void> }> {
  const threads = await startAll(Array.from({ length: count }, (_, index) => () => start(index)));
  return {
    async stop() {
      await Promise.all(threads.map((thread) => thread.stop()));
    },
  };
}

/**
 * Starts every part at once and waits for all of them; when one fails, those that started are stopped
 * again before its error is thrown (nothing is left consuming or relaying behind a failed start).
 */
async function startAll<T extends readonly (() => Promise<{ stop(): Promise<void> }>)[]>(
  starters: T,
): Promise<{ -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> }> {
  const settled = await Promise.allSettled(starters.map((start) => start()));
  const failure = settled.find((outcome) => outcome.status === 'rejected');
  if (failure !== undefined) {
    await Promise.allSettled(
      settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value.stop()] : [])),
    );
    throw failure.reason;
  }
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<ReturnType<T[K]>>;
  };
}
