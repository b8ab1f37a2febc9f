// kill -9 of engine processes at random points, ten times in a row, on the real Kafka and on the
// embedded bus, with a real PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  newIdentities,
  produceWave,
  startEngineProcess,
  verifyLedger,
  waitUntilConsumed,
  type EngineProcess,
} from '../support/engine-process.ts';
import { createStreamsFixture, type StreamsFixture } from '../support/streams.ts';

describe.each(['kafka', 'embedded'] as const)(
  'engine processes on %s killed with -9 (real PostgreSQL)',
  (busKind) => {
    let fixture: StreamsFixture;
    const running: EngineProcess[] = [];

    beforeAll(async () => {
      fixture = await createStreamsFixture({ partitions: 6, bus: busKind });
    });
    afterAll(async () => {
      for (const engine of running) await engine.kill();
      await fixture.close();
    });

    it('applies every event exactly once after ten kills at random points and a restart', async () => {
      const identities = newIdentities(200);
      const waves = 10;
      const perWave = 5;
      const kills: number[] = [];
      for (let wave = 0; wave < waves; wave++) {
        await produceWave(fixture, identities, wave * perWave + 1, perWave);
        const engine = startEngineProcess(fixture);
        running.push(engine);
        await engine.started;
        // Somewhere in the catch-up of this wave (1,000 events) or the relay's publishing of its effects.
        const delay = Math.floor(Math.random() * 1500);
        kills.push(delay);
        await new Promise((resolve) => setTimeout(resolve, delay));
        await engine.kill('SIGKILL');
      }
      const survivor = startEngineProcess(fixture);
      running.push(survivor);
      await survivor.started;
      await waitUntilConsumed(fixture, 120_000);
      await survivor.kill('SIGTERM');
      expect(await survivor.exited).toBe(0);

      const report = await verifyLedger(fixture, identities, waves * perWave);
      console.log(
        `[crash ${busKind}] kills after ${kills.join(', ')} ms; ${String(report.effects)} effects, ${String(report.redeliveries)} redelivered`,
      );
    }, 600_000);
  },
);
