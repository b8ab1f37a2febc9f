// The live hub's read-back on start, driven record by record through a bus whose records the test hands
// over (what a real broker cannot be made to do on cue: a read-back cut short, a partition reset to its end).
// The whole path on the real Kafka and embedded bus is in test/integration/live-streams.test.ts.
import type { MikroORM } from '@mikro-orm/postgresql';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { createLogstreamHub, type LogstreamHub } from '../../src/live/logstream-hub.ts';
import type { Bus, BusBatchPayload } from '../../streams/bus.ts';
import { silentLogger } from '../support/factories.ts';

const TENANT = '0b6c1d1e-5f3a-4c55-9a43-3f0f2d1c9e71';

/** A logstream of one partition whose end is `high` when the hub starts; `deliver` hands it records. */
function handFedBus(high: number) {
  let eachBatch: ((payload: BusBatchPayload) => Promise<void>) | undefined;
  const bus = {
    admin: () => ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      fetchTopicOffsets: async () => [{ partition: 0, low: '0', high: String(high) }],
      deleteGroups: async () => undefined,
    }),
    consumer: () => ({
      connect: async () => undefined,
      subscribe: async () => undefined,
      disconnect: async () => undefined,
      seek: () => undefined,
      run: async (options: { eachBatch: (payload: BusBatchPayload) => Promise<void> }) => {
        eachBatch = options.eachBatch;
      },
    }),
  } as unknown as Bus;
  const deliver = async (offsets: number[]) => {
    if (eachBatch === undefined) throw new Error('the hub has not started its consumer');
    await eachBatch({
      batch: {
        topic: 'test.logstream',
        partition: 0,
        messages: offsets.map((offset) => ({
          offset: String(offset),
          key: Buffer.from(TENANT),
          value: Buffer.from(
            JSON.stringify({
              tenantId: TENANT,
              at: '2026-12-07T00:00:00.000Z',
              level: 'info',
              category: 'test',
              message: String(offset),
            }),
          ),
          headers: { ce_type: 'joinery.log.v1', ce_tenantid: TENANT },
        })),
      },
      resolveOffset: () => undefined,
      commitOffsetsIfNecessary: async () => undefined,
      heartbeat: async () => undefined,
      isRunning: () => true,
      isStale: () => false,
    });
  };
  return { bus, deliver };
}

function socketRecording() {
  const frames: { type: string; id?: string; retainedFrom?: string | null }[] = [];
  const socket = {
    OPEN: 1,
    readyState: 1,
    bufferedAmount: 0,
    send: (frame: string) => frames.push(JSON.parse(frame) as (typeof frames)[number]),
    on: () => undefined,
  } as unknown as WebSocket;
  /** What the socket got after its hello: event ids, and the other frames by type. */
  const seen = () => frames.filter((frame) => frame.type !== 'hello').map((frame) => frame.id ?? frame.type);
  return { frames, socket, seen };
}

describe("the live hub's read-back on start", () => {
  let hub: LogstreamHub | undefined;
  afterEach(async () => {
    await hub?.close();
  });
  const start = async (high: number, limits: Parameters<typeof createLogstreamHub>[0]['limits']) => {
    const fed = handFedBus(high);
    hub = createLogstreamHub({
      bus: fed.bus,
      orm: {} as MikroORM,
      logger: silentLogger,
      topicPrefix: 'test.',
      ...(limits === undefined ? {} : { limits }),
    });
    await hub.start();
    return { hub, deliver: fed.deliver };
  };

  it('tells a resume that gave up waiting what it may miss, instead of leaving it out silently', async () => {
    const { hub, deliver } = await start(10, { replayWaitMs: 50 });
    await deliver([0, 1, 2, 3, 4]);
    const client = socketRecording();
    await hub.attach({
      socket: client.socket,
      tenantId: TENANT,
      address: 'a',
      filter: {},
      lastEventId: '0-2',
    });
    await deliver([5, 6, 7, 8, 9, 10]);
    expect(client.seen()).toEqual(['missed', '0-3', '0-4', 'resumed', '0-10']);
    expect(client.frames.find((frame) => frame.type === 'missed')?.retainedFrom).toBe('0-10');
  });

  it('sends a record past the read-back as news, even when the read-back never saw its last record', async () => {
    const { hub, deliver } = await start(10, {});
    const client = socketRecording();
    await hub.attach({ socket: client.socket, tenantId: TENANT, address: 'a', filter: {} });
    // The consumer went to the end (an offset out of range, the last record deleted by retention).
    await deliver([10, 11]);
    expect(client.seen()).toEqual(['0-10', '0-11']);
  });

  it('checks the socket caps again after a resume waited for the read-back', async () => {
    const { hub, deliver } = await start(10, { socketsPerAddress: 2 });
    const attached: Promise<string | undefined>[] = [];
    for (let index = 0; index < 5; index++) {
      // As the route does: refused before the wait only once the cap is reached.
      expect(hub.refusal(TENANT, 'a')).toBeUndefined();
      attached.push(
        hub.attach({
          socket: socketRecording().socket,
          tenantId: TENANT,
          address: 'a',
          filter: {},
          lastEventId: '0-2',
        }),
      );
    }
    await deliver([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const refusals = (await Promise.all(attached)).filter((reason) => reason !== undefined);
    expect(refusals).toHaveLength(3);
    expect(hub.stats().sockets).toBe(2);
  });
});
