// The SIEM delivery worker: one consumer of the logstream topic per enabled destination, each in a
// consumer group of its own (`<engine group>.siem.<destination id>`), so a destination that is down holds
// up no other. A batch's events of the destination's tenant are formatted and handed to its transport;
// only once it acknowledged them does the destination's position (siem_delivery, per partition) move on,
// so a destination that was down receives everything, in order, when it returns (at least once: a batch
// cut short is sent again). Failures are retried with backoff (kernel/retry.ts) while the partition waits;
// memory holds one fetched batch per destination. The destinations are looked at again every refreshMs:
// new ones start, changed ones restart, removed or disabled ones stop.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { describeError } from '../../kernel/errors.ts';
import { backoffDelay, type BackoffPolicy } from '../../kernel/retry.ts';
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import type { Bus, BusBatchPayload } from '../../streams/bus.ts';
import { decodeMessage } from '../../streams/cloudevents.ts';
import { startSupervisedConsumer, type SupervisedConsumer } from '../../streams/consumer-supervisor.ts';
import { topicName, type TopicSettings } from '../../streams/topics.ts';
import type { MasterKeyring } from '../agent-gateway/master-key.ts';
import type { SiemDestination } from './destination.schema.ts';
import {
  deliveryPositions,
  loadEnabledDestinations,
  recordDelivered,
  recordFailure,
} from './destinations.ts';
import { createKafkaTransport } from './kafka-transport.ts';
import { formatEvent, type FormattedEvent, type SiemTransport } from './payloads.ts';
import type { SiemProduct } from './siem-event.ts';
import { createSyslogTransport } from './syslog-transport.ts';
import { createWebhookTransport } from './webhook-transport.ts';

/** Full jitter from half a second up to a minute: a SIEM back after an outage is not hit by all at once. */
export const deliveryBackoff: BackoffPolicy = { initialDelayMs: 500, maxDelayMs: 60_000, jitter: 'equal' };

export interface DestinationProgress {
  destinationId: string;
  tenantId: string;
  name: string;
  kind: SiemDestination['kind'];
  /** Events acknowledged since this process started. */
  delivered: number;
  /** Failed attempts since this process started. */
  failures: number;
  /** When the oldest event fetched and not yet acknowledged happened; undefined when caught up. */
  pendingSince: number | undefined;
}

export interface SiemDelivery {
  progress(): DestinationProgress[];
  /** The consumer group of a destination, for lag metrics. */
  groupOf(destinationId: string): string;
  stop(): Promise<void>;
}

export async function startSiemDelivery(deps: {
  bus: Bus;
  orm: MikroORM;
  logger: Logger;
  keyring: MasterKeyring | undefined;
  settings: { groupId: string; topics: TopicSettings };
  product: SiemProduct;
  refreshMs?: number;
  backoff?: BackoffPolicy;
}): Promise<SiemDelivery> {
  const log = deps.logger.child({ component: 'siem' });
  const logstream = topicName(deps.settings.topics, 'logstream');
  const groupOf = (destinationId: string) => `${deps.settings.groupId}.siem.${destinationId}`;
  const running = new Map<string, { version: number; runner: Promise<Runner> }>();
  const progress = new Map<string, DestinationProgress>();
  let stopping = false;

  const transportOf = (destination: SiemDestination): SiemTransport => {
    switch (destination.kind) {
      case 'syslog':
        return createSyslogTransport({ settings: destination.settings, tlsKey: destination.secret });
      case 'webhook':
        return createWebhookTransport({
          settings: destination.settings,
          format: destination.format,
          secret: destination.secret,
          destinationId: destination.id,
        });
      case 'kafka':
        return createKafkaTransport({
          bus: deps.bus,
          topic: destination.settings.topic ?? `${deps.settings.topics.topicPrefix}siem`,
          format: destination.format,
          partitions: deps.settings.topics.partitions,
          replicationFactor: deps.settings.topics.replicationFactor,
        });
    }
  };

  const start = async (destination: SiemDestination): Promise<Runner> => {
    const state: DestinationProgress = {
      destinationId: destination.id,
      tenantId: destination.tenantId,
      name: destination.name,
      kind: destination.kind,
      delivered: progress.get(destination.id)?.delivered ?? 0,
      failures: progress.get(destination.id)?.failures ?? 0,
      pendingSince: undefined,
    };
    progress.set(destination.id, state);
    const runner = createRunner({
      destination,
      transport: transportOf(destination),
      state,
      deps: { ...deps, log: log.child({ destinationId: destination.id, tenantId: destination.tenantId }) },
      backoff: deps.backoff ?? deliveryBackoff,
    });
    try {
      runner.consumer = await startSupervisedConsumer({
        bus: deps.bus,
        log: log.child({ destinationId: destination.id, group: groupOf(destination.id) }),
        groupId: groupOf(destination.id),
        topics: [logstream],
        sessionTimeoutMs: 30_000,
        concurrency: 1,
        eachBatch: runner.eachBatch,
      });
    } catch (error) {
      await runner.transport.close().catch(() => undefined);
      throw error;
    }
    log.info(
      { destinationId: destination.id, kind: destination.kind, format: destination.format },
      'SIEM destination started',
    );
    return runner;
  };

  const stopRunner = async (id: string): Promise<void> => {
    const entry = running.get(id);
    running.delete(id);
    const runner = await entry?.runner.catch(() => undefined);
    if (runner === undefined) return;
    await runner.consumer?.stop();
    await runner.transport.close().catch((error: unknown) => {
      log.warn({ destinationId: id, err: error }, 'closing a SIEM destination failed');
    });
  };

  const refresh = async (): Promise<void> => {
    const { usable, unusable } = await loadEnabledDestinations(deps.orm.em.fork(), deps.keyring);
    for (const problem of unusable)
      if (!warned.has(problem.id)) {
        warned.add(problem.id);
        log.error(
          { destinationId: problem.id, tenantId: problem.tenantId },
          `SIEM destination not delivered to: ${problem.reason}`,
        );
      }
    const wanted = new Map(usable.map((destination) => [destination.id, destination]));
    for (const id of [...running.keys()]) {
      const destination = wanted.get(id);
      if (destination === undefined || destination.updatedAt.getTime() !== running.get(id)?.version) {
        await stopRunner(id);
        if (destination === undefined) progress.delete(id);
      }
    }
    for (const destination of usable) {
      if (stopping || running.has(destination.id)) continue;
      const runner = start(destination);
      running.set(destination.id, { version: destination.updatedAt.getTime(), runner });
      await runner.catch((error: unknown) => {
        // Looked at again at the next refresh.
        running.delete(destination.id);
        log.error(
          { destinationId: destination.id, err: error },
          `SIEM destination could not start: ${describeError(error)}`,
        );
      });
    }
  };
  const warned = new Set<string>();

  await refresh();
  let refreshing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    refreshing = refreshing.then(refresh).catch((error: unknown) => {
      log.warn({ err: error }, `could not read the SIEM destinations: ${describeError(error)}`);
    });
  }, deps.refreshMs ?? 5_000);

  return {
    progress: () => [...progress.values()].map((state) => ({ ...state })),
    groupOf,
    async stop() {
      stopping = true;
      clearInterval(timer);
      await refreshing;
      await Promise.all([...running.keys()].map((id) => stopRunner(id)));
    },
  };
}

interface Runner {
  transport: SiemTransport;
  consumer: SupervisedConsumer | undefined;
  eachBatch: (payload: BusBatchPayload) => Promise<void>;
}

function createRunner(options: {
  destination: SiemDestination;
  transport: SiemTransport;
  state: DestinationProgress;
  deps: { orm: MikroORM; log: Logger; product: SiemProduct };
  backoff: BackoffPolicy;
}): Runner {
  const { destination, transport, state } = options;
  const { orm, log, product } = options.deps;
  const startAt = destination.createdAt.getTime();

  /** Waits `ms` while heartbeating; false when the consumer stops or loses the partition meanwhile. */
  const pause = async (ms: number, payload: BusBatchPayload): Promise<boolean> => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (!payload.isRunning() || payload.isStale()) return false;
      await new Promise((resolve) => setTimeout(resolve, Math.min(250, until - Date.now())));
      await payload.heartbeat().catch(() => undefined);
    }
    return payload.isRunning() && !payload.isStale();
  };

  const eachBatch = async (payload: BusBatchPayload): Promise<void> => {
    const { batch } = payload;
    const last = batch.messages.at(-1);
    if (last === undefined) return;
    const em = orm.em.fork();
    const from = (await deliveryPositions(em, destination.id)).get(batch.partition) ?? 0n;
    const events: FormattedEvent[] = [];
    for (const message of batch.messages) {
      if (BigInt(message.offset) < from) continue;
      const decoded = decodeMessage('logstream', message);
      // A message the logstream's contract refuses is nobody's audit event: the engine dead-letters its own.
      if (!decoded.ok) continue;
      const { envelope } = decoded;
      if (envelope.tenantId !== destination.tenantId) continue;
      const event = envelope.data as LogEvent;
      if (Date.parse(event.at) < startAt) continue;
      const siem = { id: envelope.id, event };
      events.push({ ...siem, payload: formatEvent(destination.format, siem, product) });
    }
    const nextOffset = BigInt(last.offset) + 1n;
    if (events.length > 0) {
      state.pendingSince ??= Date.parse(events[0]?.event.at ?? '');
      for (let attempt = 1; ; attempt++) {
        try {
          await transport.deliver(events);
          if (attempt > 1) log.info({ attempts: attempt }, 'SIEM destination takes events again');
          break;
        } catch (error) {
          state.failures++;
          const reason = describeError(error);
          if (attempt === 1)
            log.warn({ err: error }, `SIEM delivery failed, retrying with backoff: ${reason}`);
          await recordFailure(em, {
            destinationId: destination.id,
            partition: batch.partition,
            nextOffset: from,
            error: reason,
          }).catch(() => undefined);
          if (!(await pause(backoffDelay(options.backoff, attempt), payload))) return;
        }
      }
    }
    await recordDelivered(em, {
      destinationId: destination.id,
      partition: batch.partition,
      nextOffset,
      count: events.length,
      lastEventAt: events.at(-1)?.event.at,
    });
    state.delivered += events.length;
    state.pendingSince = undefined;
    payload.resolveOffset(last.offset);
    await payload.commitOffsetsIfNecessary();
  };
  return { transport, consumer: undefined, eachBatch };
}
