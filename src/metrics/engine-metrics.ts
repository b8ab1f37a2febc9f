// The Prometheus metrics of a Joinery process (prom-client): consumer lag per group, the actor cache's hit
// rate, the export queue's depth per application and status, pulse latency, import run progress, SIEM
// delivery lag per destination, and the default process metrics. What needs PostgreSQL or the broker is
// read when scraped, under a time limit, and kept for a few seconds so that frequent scrapes cost little.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Admin, Kafka } from 'kafkajs';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { describeError } from '../../kernel/errors.ts';
import type { Engine } from '../runtime/engine-runtime.ts';

export interface MetricsOptions {
  orm: MikroORM;
  logger: Logger;
  /** The engine in this process; without it only the database's figures and process metrics. */
  engine?: Engine;
  /** A kafkajs client, for consumer lag (topic ends and committed offsets); none on the embedded bus. */
  kafka?: Kafka;
  /** The consumer groups whose lag is reported, with their broker-side topics (the SIEM ones are added). */
  groups: { groupId: string; topics: string[] }[];
  /** The group id the engine's exactly-once positions are kept under in PostgreSQL (stream_offset). */
  offsetsGroupId: string;
  /** Broker-side name of the logstream topic (SIEM delivery lag). */
  logstreamTopic: string;
  /** How long one scrape may wait for PostgreSQL and the broker; default 2 s. */
  timeoutMs?: number;
  /** How long a scrape's figures are reused; default 5 s. */
  cacheMs?: number;
}

export interface Metrics {
  registry: Registry;
  /** The exposition text, figures refreshed if older than cacheMs. */
  scrape(): Promise<string>;
  close(): Promise<void>;
}

interface Figures {
  lag: { group: string; topic: string; lag: number }[];
  siemLag: { destinationId: string; tenantId: string; lag: number }[];
  exports: { tenant_id: string; application_id: string; status: string; count: string }[];
  runs: { status: string; count: string }[];
  running: {
    run_id: string;
    tenant_id: string;
    application_id: string;
    kind: string | null;
    seen: number;
    object_count: number | null;
  }[];
}

export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const log = options.logger.child({ component: 'metrics' });
  const timeoutMs = options.timeoutMs ?? 2_000;
  const cacheMs = options.cacheMs ?? 5_000;

  const consumerLag = new Gauge({
    name: 'joinery_consumer_lag_messages',
    help: 'Messages on the topic not yet processed by the consumer group (topic end minus the group position).',
    labelNames: ['group', 'topic'],
    registers: [registry],
  });
  const cacheLookups = new Counter({
    name: 'joinery_actor_cache_lookups_total',
    help: 'Identity actors looked up in the actor cache (LRU): result="hit" found, "miss" read from PostgreSQL.',
    labelNames: ['result'],
    registers: [registry],
  });
  const cacheHitRatio = new Gauge({
    name: 'joinery_actor_cache_hit_ratio',
    help: 'Share of actor lookups found in the actor cache since the process started.',
    registers: [registry],
  });
  const exportQueue = new Gauge({
    name: 'joinery_export_queue_items',
    help: 'Export queue items per tenant, application and status.',
    labelNames: ['tenant_id', 'application_id', 'status'],
    registers: [registry],
  });
  const pulseLatency = new Gauge({
    name: 'joinery_pulse_latency_seconds',
    help: "From a pulse's ce_time to the commit of its effects, over the recent pulses (quantile 0.5, 0.99, 1).",
    labelNames: ['quantile'],
    registers: [registry],
  });
  const pulses = new Gauge({
    name: 'joinery_pulses_processed',
    help: 'Pulses whose latency was recorded since the process started.',
    registers: [registry],
  });
  const processed = new Gauge({
    name: 'joinery_engine_messages_processed',
    help: 'Messages the identity consumers of this process processed since it started.',
    registers: [registry],
  });
  const runs = new Gauge({
    name: 'joinery_import_runs',
    help: 'Import runs per status.',
    labelNames: ['status'],
    registers: [registry],
  });
  const runSeen = new Gauge({
    name: 'joinery_import_run_objects_seen',
    help: 'Objects an unfinished import run has read so far.',
    labelNames: ['run_id', 'tenant_id', 'application_id', 'kind'],
    registers: [registry],
  });
  const runExpected = new Gauge({
    name: 'joinery_import_run_objects_expected',
    help: 'Objects an unfinished import run announced (its object count), when it did.',
    labelNames: ['run_id', 'tenant_id', 'application_id', 'kind'],
    registers: [registry],
  });
  const siemLag = new Gauge({
    name: 'joinery_siem_delivery_lag_messages',
    help: "Logstream messages past a SIEM destination's position (all tenants' messages on its partitions).",
    labelNames: ['destination_id', 'tenant_id'],
    registers: [registry],
  });
  const siemLagSeconds = new Gauge({
    name: 'joinery_siem_delivery_lag_seconds',
    help: 'Age of the oldest event fetched for a SIEM destination and not yet acknowledged by it; 0 when caught up.',
    labelNames: ['destination_id', 'tenant_id'],
    registers: [registry],
  });
  const siemDelivered = new Gauge({
    name: 'joinery_siem_delivered_events',
    help: 'Events a SIEM destination acknowledged since this process started.',
    labelNames: ['destination_id', 'tenant_id', 'kind'],
    registers: [registry],
  });
  const siemFailures = new Gauge({
    name: 'joinery_siem_delivery_failures',
    help: 'Failed delivery attempts to a SIEM destination since this process started.',
    labelNames: ['destination_id', 'tenant_id', 'kind'],
    registers: [registry],
  });

  let admin: Admin | undefined;
  let cached: { at: number; figures: Figures } | undefined;
  let reading: Promise<Figures> | undefined;

  const read = async (): Promise<Figures> => {
    const db = options.orm.em.fork().getKysely();
    const [exports, runRows, running] = await Promise.all([
      sql<Figures['exports'][number]>`
        select tenant_id, application_id, status, count(*)::text as count from export_item
        group by tenant_id, application_id, status`.execute(db),
      sql<
        Figures['runs'][number]
      >`select status, count(*)::text as count from import_run group by status`.execute(db),
      sql<Figures['running'][number]>`
        select run_id, tenant_id, application_id, kind, seen, object_count from import_run
        where finished_at is null order by started_at desc limit 100`.execute(db),
    ]);
    const siem = options.engine?.siem;
    const destinations = siem?.progress() ?? [];
    const figures: Figures = {
      lag: [],
      siemLag: [],
      exports: exports.rows,
      runs: runRows.rows,
      running: running.rows,
    };
    if (options.kafka === undefined) return figures;
    admin ??= options.kafka.admin();
    await admin.connect();
    const topics = new Set([...options.groups.flatMap((group) => group.topics), options.logstreamTopic]);
    const ends = new Map<string, Map<number, { low: bigint; high: bigint }>>();
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsets(topic);
      ends.set(
        topic,
        new Map(offsets.map((o) => [o.partition, { low: BigInt(o.low), high: BigInt(o.high) }])),
      );
    }
    const stored = await sql<{ group_id: string; topic: string; partition: number; next_offset: string }>`
      select group_id, topic, partition, next_offset from stream_offset
      where group_id = ${options.offsetsGroupId}`.execute(db);
    for (const group of options.groups) {
      const committed = await admin.fetchOffsets({ groupId: group.groupId, topics: group.topics });
      for (const { topic, partitions } of committed) {
        let lag = 0n;
        for (const [partition, end] of ends.get(topic) ?? new Map<number, { low: bigint; high: bigint }>()) {
          const inKafka = BigInt(partitions.find((p) => p.partition === partition)?.offset ?? '-1');
          const inPostgres = BigInt(
            stored.rows.find((row) => row.topic === topic && row.partition === partition)?.next_offset ??
              '-1',
          );
          const position = [inKafka, inPostgres, end.low].reduce((a, b) => (a > b ? a : b));
          if (end.high > position) lag += end.high - position;
        }
        figures.lag.push({ group: group.groupId, topic, lag: Number(lag) });
      }
    }
    if (destinations.length > 0) {
      const positions = await sql<{ destination_id: string; partition: number; next_offset: string }>`
        select destination_id, partition, next_offset from siem_delivery
        where destination_id = any(${destinations.map((d) => d.destinationId)}::uuid[])`.execute(db);
      const logstreamEnds =
        ends.get(options.logstreamTopic) ?? new Map<number, { low: bigint; high: bigint }>();
      for (const destination of destinations) {
        let lag = 0n;
        for (const [partition, end] of logstreamEnds) {
          const position = BigInt(
            positions.rows.find(
              (row) => row.destination_id === destination.destinationId && row.partition === partition,
            )?.next_offset ?? end.low.toString(),
          );
          if (end.high > position) lag += end.high - position;
        }
        figures.siemLag.push({
          destinationId: destination.destinationId,
          tenantId: destination.tenantId,
          lag: Number(lag),
        });
      }
    }
    return figures;
  };

  /** The figures, read again when older than cacheMs, within timeoutMs (else the last ones, logged). */
  const figures = async (): Promise<Figures | undefined> => {
    if (cached !== undefined && Date.now() - cached.at < cacheMs) return cached.figures;
    reading ??= read().finally(() => {
      reading = undefined;
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        resolve(undefined);
      }, timeoutMs);
    });
    try {
      const fresh = await Promise.race([reading, timeout]);
      if (fresh === undefined) {
        log.warn(
          { timeoutMs },
          'metrics: PostgreSQL or Kafka did not answer in time; the last figures are shown',
        );
        return cached?.figures;
      }
      cached = { at: Date.now(), figures: fresh };
      return fresh;
    } catch (error) {
      log.warn({ err: error }, `metrics: could not read the figures: ${describeError(error)}`);
      return cached?.figures;
    } finally {
      clearTimeout(timer);
    }
  };

  const update = async (): Promise<void> => {
    const { engine } = options;
    if (engine !== undefined) {
      const counters = engine.counters();
      cacheLookups.reset();
      cacheLookups.inc({ result: 'hit' }, counters.actorCacheHits);
      cacheLookups.inc({ result: 'miss' }, counters.actorCacheMisses);
      const lookups = counters.actorCacheHits + counters.actorCacheMisses;
      cacheHitRatio.set(lookups === 0 ? 0 : counters.actorCacheHits / lookups);
      processed.set(counters.processed);
      const latency = engine.pulseLatency();
      pulseLatency.set({ quantile: '0.5' }, latency.p50 / 1000);
      pulseLatency.set({ quantile: '0.99' }, latency.p99 / 1000);
      pulseLatency.set({ quantile: '1' }, latency.max / 1000);
      pulses.set(latency.count);
      siemDelivered.reset();
      siemFailures.reset();
      siemLagSeconds.reset();
      for (const destination of engine.siem?.progress() ?? []) {
        const labels = { destination_id: destination.destinationId, tenant_id: destination.tenantId };
        siemDelivered.set({ ...labels, kind: destination.kind }, destination.delivered);
        siemFailures.set({ ...labels, kind: destination.kind }, destination.failures);
        siemLagSeconds.set(
          labels,
          destination.pendingSince === undefined
            ? 0
            : Math.max(0, (Date.now() - destination.pendingSince) / 1000),
        );
      }
    }
    const current = await figures();
    if (current === undefined) return;
    consumerLag.reset();
    for (const { group, topic, lag } of current.lag) consumerLag.set({ group, topic }, lag);
    siemLag.reset();
    for (const { destinationId, tenantId, lag } of current.siemLag)
      siemLag.set({ destination_id: destinationId, tenant_id: tenantId }, lag);
    exportQueue.reset();
    for (const row of current.exports)
      exportQueue.set(
        { tenant_id: row.tenant_id, application_id: row.application_id, status: row.status },
        Number(row.count),
      );
    runs.reset();
    for (const row of current.runs) runs.set({ status: row.status }, Number(row.count));
    runSeen.reset();
    runExpected.reset();
    for (const run of current.running) {
      const labels = {
        run_id: run.run_id,
        tenant_id: run.tenant_id,
        application_id: run.application_id,
        kind: run.kind ?? '',
      };
      runSeen.set(labels, run.seen);
      if (run.object_count !== null) runExpected.set(labels, run.object_count);
    }
  };

  return {
    registry,
    async scrape() {
      await update();
      return registry.metrics();
    },
    async close() {
      await reading?.catch(() => undefined);
      await admin?.disconnect();
    },
  };
}
