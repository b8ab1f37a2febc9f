// One consumer of the logstream topic per process, fanned out to every live stream socket of the process:
// a socket is a subscriber with a filter and a bounded queue (socket-queue.ts), so a slow client costs a
// bounded amount of memory and never holds the consumer. Recent events stay in a ring for reconnects.
// A run's counters come from the database (run-progress.ts), read for all watched runs at once and sent
// only when they changed: at most every 250 ms, coalesced, whatever the event rate.
import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { describeError } from '../../kernel/errors.ts';
import type { Bus, BusBatchPayload, BusMessage } from '../../streams/bus.ts';
import { startSupervisedConsumer, type SupervisedConsumer } from '../../streams/consumer-supervisor.ts';
import { settleWithin } from '../../streams/settle.ts';
import { topicName } from '../../streams/topics.ts';
import { createEventRing, parseEventId, type RingEntry } from './event-ring.ts';
import {
  exportsUnsettled,
  finalRunStatuses,
  readExportCounts,
  readJoinCounts,
  readRuns,
  type ExportCounts,
  type JoinCounts,
} from './run-progress.ts';
import { createSocketQueue, type SocketQueue, type SocketQueueLimits } from './socket-queue.ts';
import { eventFrame, readStreamEvent } from './stream-events.ts';
import { matchesFilter } from './stream-filter.ts';
import type { RunProgress, StreamFilter, StreamFrame } from './stream-messages.ts';

export interface HubLimits extends SocketQueueLimits {
  /** Events kept for reconnects, and their bytes. */
  ringEvents: number;
  ringBytes: number;
  socketsPerTenant: number;
  socketsPerAddress: number;
  /** The largest frame a client may send (it has nothing to say beyond a ping). */
  maxInboundFrameBytes: number;
  /** How often watched runs' counters are read. */
  progressIntervalMs: number;
  /** How often a running run's join counts are read (they scan the application's objects). */
  joinCountsIntervalMs: number;
  /**
   * Events read back into the ring when the process starts (the topic's last ones, shared between its
   * partitions), so that a client reconnecting after a restart resumes from its lastEventId.
   */
  replayEvents: number;
  /** How long a reconnecting client waits for that read-back before it is answered with what there is. */
  replayWaitMs: number;
}

export const defaultHubLimits: HubLimits = {
  maxEvents: 2000,
  maxBytes: 1024 * 1024,
  highWaterBytes: 256 * 1024,
  ringEvents: 20_000,
  ringBytes: 32 * 1024 * 1024,
  socketsPerTenant: 64,
  socketsPerAddress: 32,
  maxInboundFrameBytes: 1024,
  progressIntervalMs: 250,
  joinCountsIntervalMs: 2000,
  replayEvents: 20_000,
  replayWaitMs: 10_000,
};

interface Subscriber {
  tenantId: string;
  address: string;
  filter: StreamFilter;
  socket: WebSocket;
  /** The socket's connection, when known: corked while frames are handed over, so they leave in one write. */
  connection: Connection | undefined;
  queue: SocketQueue;
  /** False until the snapshot is sent: events queue behind it. */
  open: boolean;
}

interface WatchedRun {
  tenantId: string;
  applicationId: string;
  subscribers: Set<Subscriber>;
  lastFrame: string | undefined;
  join: JoinCounts | null;
  exports: ExportCounts | null;
  joinReadAt: number;
  final: boolean;
}

/** The TCP connection under a WebSocket (node:net Socket): its writes held back and let go as one. */
export interface Connection {
  cork(): void;
  uncork(): void;
}

const FLUSH_INTERVAL_MS = 50;
/** How long setting up the read-back on start may take before the hub starts without it. */
const READ_BACK_SETUP_MS = 15_000;
/** How long a closing hub waits for its consumer group to be deleted. */
const FORGET_GROUP_MS = 5_000;

/**
 * How many of each partition's last events to read back, `budget` in all: shared evenly, what a partition
 * does not hold going to the others (a tenant's events are all on one partition, so with few tenants most
 * partitions are empty, and theirs gets the rest).
 */
export function shareReplay(available: readonly number[], budget: number): number[] {
  const shares = available.map(() => 0);
  let left = budget;
  // Smallest first: each takes what it has, up to an even share of what is left.
  const order = available.map((_, index) => index).sort((a, b) => (available[a] ?? 0) - (available[b] ?? 0));
  order.forEach((index, position) => {
    const share = Math.min(available[index] ?? 0, Math.floor(left / (order.length - position)));
    shares[index] = share;
    left -= share;
  });
  return shares;
}

/** A function, not an inline test, so that a check after an await is not taken as already known. */
const isOpen = (socket: WebSocket): boolean => socket.readyState === socket.OPEN;
/** Events of a consumed batch handed to a corked connection before it writes them (well under highWaterBytes). */
const EVENTS_PER_WRITE = 64;

export function createLogstreamHub(options: {
  bus: Bus;
  orm: MikroORM;
  logger: Logger;
  topicPrefix: string;
  limits?: Partial<HubLimits>;
}) {
  const limits: HubLimits = { ...defaultHubLimits, ...options.limits };
  const log = options.logger.child({ component: 'logstream-hub' });
  const topic = topicName({ topicPrefix: options.topicPrefix }, 'logstream');
  const ring = createEventRing({ maxEvents: limits.ringEvents, maxBytes: limits.ringBytes });
  const byTenant = new Map<string, Set<Subscriber>>();
  const byAddress = new Map<string, number>();
  const pending = new Set<Subscriber>();
  const runs = new Map<string, WatchedRun>();
  let consumer: SupervisedConsumer | undefined;
  /** This process's group (set when the hub starts), forgotten when it closes. */
  let groupId: string | undefined;
  let starting: Promise<void> | undefined;
  let markRunning: () => void = () => undefined;
  const running = new Promise<void>((resolve) => {
    markRunning = resolve;
  });
  let closed = false;
  let polling = false;
  let consumed = 0;
  /** Per partition being read back on start, the offset where the read-back ends (its end at start). */
  const replaying = new Map<number, bigint>();
  let markReplayed: () => void = () => undefined;
  const replayed = new Promise<void>((resolve) => {
    markReplayed = resolve;
  });

  const flush = (subscriber: Subscriber): void => {
    if (!subscriber.open || subscriber.socket.readyState !== subscriber.socket.OPEN) return;
    subscriber.connection?.cork();
    let left: boolean;
    try {
      left = subscriber.queue.flush();
    } finally {
      subscriber.connection?.uncork();
    }
    if (left) pending.add(subscriber);
    else pending.delete(subscriber);
  };

  /** Subscribers whose connection is corked while a consumed batch is delivered. */
  const corked = new Set<Subscriber>();
  const uncorkAll = (): void => {
    for (const subscriber of corked) subscriber.connection?.uncork();
    corked.clear();
  };

  const deliver = (entry: RingEntry): void => {
    const subscribers = byTenant.get(entry.event.tenantId);
    if (subscribers === undefined) return;
    for (const subscriber of subscribers) {
      if (!matchesFilter(subscriber.tenantId, subscriber.filter, entry.event)) continue;
      subscriber.queue.push(entry.id, entry.frame);
      if (subscriber.connection !== undefined && !corked.has(subscriber)) {
        subscriber.connection.cork();
        corked.add(subscriber);
      }
      flush(subscriber);
    }
  };

  /** One record of the logstream: into the ring, and to the sockets of its tenant that want it. */
  const receive = (partition: number, message: BusMessage): void => {
    // Read back on start (for reconnects, not news: no socket open now asked for it) up to the partition's
    // end then; the last of them, even one skipped below, ends the read-back of its partition.
    const replayEnd = replaying.get(partition);
    const offset = BigInt(message.offset);
    // A record at or past the end (the one before it never came: retention, a reset) is news.
    const readBack = replayEnd !== undefined && offset < replayEnd;
    if (replayEnd !== undefined && offset + 1n >= replayEnd) {
      replaying.delete(partition);
      if (replaying.size === 0) markReplayed();
    }
    const read = readStreamEvent(message);
    if ('skipped' in read) {
      log.debug({ partition, offset: message.offset, reason: read.skipped }, 'logstream message skipped');
      return;
    }
    const id = `${String(partition)}-${message.offset}`;
    const entry: RingEntry = {
      id,
      partition,
      offset,
      event: read.keys,
      frame: eventFrame(id, read.json),
    };
    ring.add(entry);
    consumed++;
    if (!readBack) deliver(entry);
  };

  /**
   * Where this process's new group starts: each partition's last events (replayEvents between them), which
   * receive() puts in the ring without sending them to sockets. Without them (a topic that cannot be read),
   * the hub starts at the end, as a new group does.
   */
  const tailPositions = async (): Promise<{ topic: string; partition: number; offset: string }[]> => {
    const admin = options.bus.admin();
    const work = (async () => {
      await admin.connect();
      const offsets = await admin.fetchTopicOffsets(topic);
      const tails = shareReplay(
        offsets.map(({ low, high }) => Number(BigInt(high) - BigInt(low))),
        Math.min(limits.replayEvents, limits.ringEvents),
      );
      return offsets.map(({ partition, high }, index) => {
        const end = BigInt(high);
        return { partition, first: end - BigInt(tails[index] ?? 0), end };
      });
    })();
    try {
      // Bounded, so a start never hangs on it.
      if (await settleWithin(work, READ_BACK_SETUP_MS))
        throw new Error(`no answer in ${String(READ_BACK_SETUP_MS)} ms`);
      const starts = await work;
      for (const { partition, first, end } of starts) {
        ring.retainFrom(partition, first);
        if (end > first) replaying.set(partition, end);
      }
      return starts
        .filter(({ first, end }) => end > first)
        .map(({ partition, first }) => ({ topic, partition, offset: first.toString() }));
    } catch (error) {
      replaying.clear();
      log.warn(
        { err: error },
        `reading the logstream's last events back failed; reconnects resume from this start: ${describeError(error)}`,
      );
      return [];
    } finally {
      void work.catch(() => undefined).finally(() => admin.disconnect().catch(() => undefined));
      if (replaying.size === 0) markReplayed();
    }
  };

  // A new process's group starts at the topic's last events (tailPositions), read into the ring, and goes on
  // from there; what it commits is of use to no one else (the group is deleted when the hub closes). The
  // connections that get events are corked for EVENTS_PER_WRITE records at a time: one write for them all.
  const eachBatch = async ({ batch, resolveOffset }: BusBatchPayload): Promise<void> => {
    try {
      for (const [index, message] of batch.messages.entries()) {
        if (index % EVENTS_PER_WRITE === 0) uncorkAll();
        resolveOffset(message.offset);
        receive(batch.partition, message);
      }
    } finally {
      uncorkAll();
    }
  };

  const progressFrame = (
    run: WatchedRun,
    progress: Omit<RunProgress, 'stages'> & { import: RunProgress['stages']['import'] },
    type: 'snapshot' | 'progress',
  ) => {
    const { import: imported, ...rest } = progress;
    return JSON.stringify({
      type,
      run: { ...rest, stages: { import: imported, join: run.join, export: run.exports } },
    } satisfies StreamFrame);
  };

  /** Reads every watched run's counters and sends those that changed. */
  const pollRuns = async (): Promise<void> => {
    if (polling || runs.size === 0) return;
    polling = true;
    try {
      const em = options.orm.em.fork();
      const read = await readRuns(em, [...runs.keys()]);
      for (const [runId, run] of runs) {
        const current = read.get(runId);
        if (current === undefined) continue;
        const final = finalRunStatuses.includes(current.progress.status);
        const due = Date.now() - run.joinReadAt >= limits.joinCountsIntervalMs;
        const ending = final && !run.final;
        if ((!run.final && due) || ending)
          run.join = await readJoinCounts(em, {
            tenantId: run.tenantId,
            applicationId: run.applicationId,
            runId,
          });
        // Exports go on after the run ends: read while some are queued or held.
        if ((due && (!run.final || exportsUnsettled(run.exports))) || ending)
          run.exports = await readExportCounts(em, { tenantId: run.tenantId, runId });
        if (due || ending) run.joinReadAt = Date.now();
        run.final = final;
        // Compared without the time read, so an unchanged run sends nothing.
        const frame = progressFrame(run, { ...current.progress, at: '' }, 'progress');
        if (frame === run.lastFrame) continue;
        run.lastFrame = frame;
        const sent = progressFrame(run, current.progress, 'progress');
        for (const subscriber of run.subscribers) {
          subscriber.queue.setProgress(sent);
          flush(subscriber);
        }
      }
    } catch (error) {
      log.warn({ err: error }, `reading sync run counters failed: ${describeError(error)}`);
    } finally {
      polling = false;
    }
  };

  const progressTimer = setInterval(() => void pollRuns(), limits.progressIntervalMs);
  const flushTimer = setInterval(() => {
    for (const subscriber of pending) flush(subscriber);
  }, FLUSH_INTERVAL_MS);
  progressTimer.unref();
  flushTimer.unref();

  /**
   * Deletes this process's group once its consumer stopped: the offsets it committed are of use to no one
   * else. Best effort: Kafka expires an empty group's offsets anyway.
   */
  const forgetGroup = async (id: string): Promise<void> => {
    const admin = options.bus.admin();
    try {
      const forgetting = (async () => {
        await admin.connect();
        await admin.deleteGroups([id]);
      })();
      // Shutting down waits for it only so long (a broker that is gone would be retried for long).
      if (await settleWithin(forgetting, FORGET_GROUP_MS))
        throw new Error(`no answer in ${String(FORGET_GROUP_MS)} ms`);
      await forgetting;
    } catch (error) {
      log.debug(
        { err: error, groupId: id },
        `the live stream's consumer group was not deleted: ${describeError(error)}`,
      );
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  };

  /**
   * Resolves once the read-back is done, or after replayWaitMs: then no later resume waits any more (a
   * partition that does not catch up is told as missed, see attach).
   */
  let stopWaiting = false;
  const waitForReplay = (): Promise<void> =>
    stopWaiting || replaying.size === 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            stopWaiting = true;
            resolve();
          }, limits.replayWaitMs);
          timer.unref();
          void replayed.then(() => {
            clearTimeout(timer);
            resolve();
          });
        });

  const detach = (subscriber: Subscriber): void => {
    byTenant.get(subscriber.tenantId)?.delete(subscriber);
    if (byTenant.get(subscriber.tenantId)?.size === 0) byTenant.delete(subscriber.tenantId);
    const count = (byAddress.get(subscriber.address) ?? 1) - 1;
    if (count <= 0) byAddress.delete(subscriber.address);
    else byAddress.set(subscriber.address, count);
    pending.delete(subscriber);
    if (subscriber.filter.run !== undefined) {
      const run = runs.get(subscriber.filter.run);
      run?.subscribers.delete(subscriber);
      if (run?.subscribers.size === 0) runs.delete(subscriber.filter.run);
    }
  };

  return {
    limits,

    /**
     * Starts the consumer (its ring read back from the topic's last events, then live from the end); see
     * ready() for when it has its partitions.
     */
    start(): Promise<void> {
      starting ??= (async () => {
        // A group of its own: every process sees every event.
        groupId = `joinery-live-${randomUUID()}`;
        const seekOnStart = await tailPositions();
        consumer = await startSupervisedConsumer({
          seekOnStart,
          bus: options.bus,
          log,
          groupId,
          topics: [topic],
          sessionTimeoutMs: 30_000,
          concurrency: 6,
          fromBeginning: false,
          eachBatch,
          onRunning: () => {
            markRunning();
          },
        });
        // Closed while it started: stop what just started.
        if (closed) await consumer.stop();
      })();
      return starting;
    },

    /** Resolves once the consumer has its partitions (Kafka: joined its group). */
    async ready(): Promise<void> {
      await this.start();
      await running;
    },

    /** Why this socket may not open (caps), or undefined. */
    refusal(tenantId: string, address: string): string | undefined {
      if ((byTenant.get(tenantId)?.size ?? 0) >= limits.socketsPerTenant)
        return `too many live streams for this tenant (limit ${String(limits.socketsPerTenant)})`;
      if ((byAddress.get(address) ?? 0) >= limits.socketsPerAddress)
        return `too many live streams from this address (limit ${String(limits.socketsPerAddress)})`;
      return undefined;
    },

    /**
     * Subscribes a socket. With a run, its snapshot goes first; with lastEventId, the retained events after
     * it (or a `missed` notice), in the same tick as the subscription, so nothing falls between. A resume
     * first waits for the read-back on start; the caps are checked again after that wait, and a socket over
     * them is not attached: the reason is returned, for the caller to close it with.
     */
    async attach(request: {
      socket: WebSocket;
      connection?: Connection;
      tenantId: string;
      address: string;
      filter: StreamFilter;
      lastEventId?: string;
      run?: { applicationId: string };
    }): Promise<string | undefined> {
      const { socket, tenantId, filter } = request;
      // A reconnect after a restart resumes from the events read back on start: once they are in the ring.
      if (request.lastEventId !== undefined) {
        await waitForReplay();
        // Closed while it waited: nothing to attach (its close event has been and gone).
        if (!isOpen(socket)) return undefined;
        // The caps were checked before the wait; others may have been let in meanwhile.
        const refused = this.refusal(tenantId, request.address);
        if (refused !== undefined) return refused;
      }
      const subscriber: Subscriber = {
        tenantId,
        address: request.address,
        filter,
        socket,
        connection: request.connection,
        open: false,
        queue: createSocketQueue(limits, {
          send: (frame) => {
            socket.send(frame);
          },
          bufferedAmount: () => socket.bufferedAmount,
        }),
      };
      let subscribers = byTenant.get(tenantId);
      if (subscribers === undefined) byTenant.set(tenantId, (subscribers = new Set()));
      subscribers.add(subscriber);
      byAddress.set(request.address, (byAddress.get(request.address) ?? 0) + 1);
      socket.on('close', () => {
        detach(subscriber);
      });
      socket.send(
        JSON.stringify({
          type: 'hello',
          filter,
          limits: {
            maxEvents: limits.maxEvents,
            maxBytes: limits.maxBytes,
            progressIntervalMs: limits.progressIntervalMs,
          },
        } satisfies StreamFrame),
      );
      if (request.lastEventId !== undefined) {
        const { entries, gap: ringGap } = ring.after(request.lastEventId, (entry) =>
          matchesFilter(tenantId, filter, entry.event),
        );
        // Its partition still being read back (the wait gave up): what the ring does not hold yet, up to the
        // read-back's end, is not coming to this socket.
        const resumedIn = parseEventId(request.lastEventId);
        const readBackEnd = resumedIn === undefined ? undefined : replaying.get(resumedIn.partition);
        const gap =
          ringGap ??
          (resumedIn === undefined || readBackEnd === undefined
            ? undefined
            : {
                retainedFrom: `${String(resumedIn.partition)}-${readBackEnd.toString()}`,
                readingBack: true,
              });
        if (gap !== undefined)
          socket.send(
            JSON.stringify({
              type: 'missed',
              after: request.lastEventId,
              retainedFrom: gap.retainedFrom,
              message:
                gap.retainedFrom === null
                  ? 'this server holds no events of that stream since it started: events after lastEventId may be missing (see the audit history)'
                  : 'readingBack' in gap
                    ? `this server is still reading back the events before ${gap.retainedFrom}, which it started with: those after ${request.lastEventId} may be missing (see the audit history)`
                    : `events after ${request.lastEventId} and before ${gap.retainedFrom} are no longer retained (see the audit history)`,
            } satisfies StreamFrame),
          );
        for (const entry of entries) subscriber.queue.push(entry.id, entry.frame);
        subscriber.queue.pushNotice(
          JSON.stringify({
            type: 'resumed',
            after: request.lastEventId,
            replayed: entries.length,
          } satisfies StreamFrame),
        );
      }
      if (filter.run !== undefined && request.run !== undefined) {
        let run = runs.get(filter.run);
        if (run === undefined) {
          run = {
            tenantId,
            applicationId: request.run.applicationId,
            subscribers: new Set(),
            lastFrame: undefined,
            join: null,
            exports: null,
            joinReadAt: 0,
            final: false,
          };
          runs.set(filter.run, run);
        }
        run.subscribers.add(subscriber);
        const em = options.orm.em.fork();
        const read = (await readRuns(em, [filter.run])).get(filter.run);
        run.join ??= await readJoinCounts(em, {
          tenantId,
          applicationId: run.applicationId,
          runId: filter.run,
        });
        run.exports ??= await readExportCounts(em, { tenantId, runId: filter.run });
        if (read !== undefined && socket.readyState === socket.OPEN)
          socket.send(progressFrame(run, read.progress, 'snapshot'));
      }
      subscriber.open = true;
      flush(subscriber);
      return undefined;
    },

    /** What the hub holds: events consumed, the ring, and per socket its queue and what ws buffers. */
    stats() {
      return {
        consumed,
        sockets: [...byTenant.values()].reduce((sum, set) => sum + set.size, 0),
        ring: ring.size(),
        queues: [...byTenant.values()].flatMap((set) =>
          [...set].map((subscriber) => ({
            ...subscriber.queue.stats(),
            buffered: subscriber.socket.bufferedAmount,
          })),
        ),
      };
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(progressTimer);
      clearInterval(flushTimer);
      // A start under way finishes first (and stops itself, seeing closed); a failed one has nothing to stop.
      const started = await starting?.then(
        () => true,
        () => false,
      );
      if (started !== true) return;
      await consumer?.stop();
      if (groupId !== undefined) await forgetGroup(groupId);
    },
  };
}
export type LogstreamHub = ReturnType<typeof createLogstreamHub>;
