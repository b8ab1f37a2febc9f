// Two engine processes in one consumer group: they split the partitions, and one survives the other.
import { AssignerProtocol } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  newIdentities,
  produceWave,
  startEngineProcess,
  verifyLedger,
  waitUntilConsumed,
  type EngineProcess,
} from '../support/engine-process.ts';
import { createStreamsFixture, waitFor, type StreamsFixture } from '../support/streams.ts';

describe('engine scale-out (two processes, real Kafka and PostgreSQL)', () => {
  let fixture: StreamsFixture;
  const running: EngineProcess[] = [];

  beforeAll(async () => {
    fixture = await createStreamsFixture({ partitions: 6 });
  });
  afterAll(async () => {
    for (const engine of running) await engine.kill();
    await fixture.close();
  });

  const assignments = async (): Promise<number[] | undefined> => {
    const admin = fixture.kafka.admin();
    await admin.connect();
    try {
      const { groups } = await admin.describeGroups([fixture.groupId]);
      const group = groups[0];
      if (group?.state !== 'Stable') return undefined;
      return group.members.map((member) => {
        const assignment = AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
        return Object.values(assignment?.assignment ?? {}).reduce(
          (sum, partitions) => sum + partitions.length,
          0,
        );
      });
    } finally {
      await admin.disconnect();
    }
  };

  it('splits the partitions between two processes, and the survivor takes over when one is killed', async () => {
    const identities = newIdentities(100);
    const first = startEngineProcess(fixture);
    const second = startEngineProcess(fixture);
    running.push(first, second);
    await Promise.all([first.started, second.started]);
    const split = await waitFor('both processes to hold partitions', async () => {
      const counts = await assignments();
      return counts?.length === 2 && counts.every((count) => count > 0) ? counts : undefined;
    });
    expect(split.reduce((a, b) => a + b, 0)).toBe(6);

    await produceWave(fixture, identities, 1, 10);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await first.kill('SIGKILL');
    await produceWave(fixture, identities, 11, 10);

    const survivorHoldsAll = await waitFor(
      'the survivor to take over every partition',
      async () => {
        const counts = await assignments();
        return counts?.length === 1 && counts[0] === 6 ? true : undefined;
      },
      60_000,
    );
    expect(survivorHoldsAll).toBe(true);
    await waitUntilConsumed(fixture, 60_000);
    await verifyLedger(fixture, identities, 20);
  }, 180_000);
});
