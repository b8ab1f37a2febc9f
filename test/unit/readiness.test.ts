import { describe, expect, it } from 'vitest';
import { createReadiness } from '../../src/health/readiness.ts';

describe('readiness', () => {
  it('is ready when every probe answers and skipped ones say why', async () => {
    const readiness = createReadiness({ postgres: async () => {}, kafka: { skipped: 'embedded bus' } });
    expect(await readiness.report()).toEqual({
      ready: true,
      checks: { postgres: { status: 'ok' }, kafka: { status: 'skipped', reason: 'embedded bus' } },
    });
  });

  it('is not ready with the reason of the failing probe', async () => {
    const readiness = createReadiness({
      postgres: async () => {},
      kafka: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:19092')),
    });
    const report = await readiness.report();
    expect(report.ready).toBe(false);
    expect(report.checks.kafka).toEqual({ status: 'failed', reason: 'connect ECONNREFUSED 127.0.0.1:19092' });
  });

  it('fails a probe that does not answer in time', async () => {
    const readiness = createReadiness({ postgres: () => new Promise(() => {}) }, { timeoutMs: 20 });
    expect((await readiness.report()).checks.postgres).toEqual({
      status: 'failed',
      reason: 'no answer within 20 ms',
    });
  });

  it('probes at most once per cache period, and again after it', async () => {
    let calls = 0;
    let clock = 0;
    const readiness = createReadiness(
      {
        db: () => {
          calls++;
          return Promise.resolve();
        },
      },
      { cacheMs: 1000, now: () => clock },
    );
    await Promise.all([readiness.report(), readiness.report()]);
    expect(calls).toBe(1);
    clock = 1000;
    await readiness.report();
    expect(calls).toBe(2);
  });
});
