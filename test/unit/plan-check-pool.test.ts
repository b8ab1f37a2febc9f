import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { PlanInvalidError } from '../../kernel/errors.ts';
import { createPlanCheckPool, type PlanCheckPool } from '../../src/plan/plan-check-pool.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import { planDiff } from '../../src/plan/plan-diff.ts';
import { heavyYamlPlan, planOf, slowPlan } from '../support/slow-plans.ts';

const example = readFileSync(new URL('../../docs/examples/sync-plan.yaml', import.meta.url), 'utf8');

async function refusal(pool: PlanCheckPool, text: string): Promise<PlanInvalidError> {
  const error = await pool.check(text, 'plan.yaml').then(
    () => new Error('the plan was accepted'),
    (reason: unknown) => reason,
  );
  if (error instanceof PlanInvalidError) return error;
  throw error;
}

describe('the plan check pool (worker processes)', () => {
  let pool: PlanCheckPool | undefined;
  afterEach(async () => {
    await pool?.close();
  });

  it('returns the document loadPlan gives, an invalid plan with every problem located, and diffs', async () => {
    pool = createPlanCheckPool({ timeoutMs: 30_000, memoryMb: 256 });
    expect(await pool.check(example, 'plan.yaml')).toEqual(loadPlan(example, 'plan.yaml').plan);

    const refused = await refusal(pool, planOf(['source.note + 1']));
    expect(refused.problems).toEqual([
      {
        line: 16,
        path: 'applications[0].inbound[1].expression',
        message: expect.stringMatching(/^expression "source\.note \+ 1" does not compile/) as string,
      },
    ]);
    expect(refused.message).toMatch(/^plan\.yaml: 1 problem\nplan\.yaml:16 applications\[0\]\.inbound\[1\]/);
    const next = example.replace('name: by worker id', 'name: by worker number');
    expect(await pool.diff({ name: 'version 1', text: example }, { name: 'version 2', text: next })).toBe(
      planDiff({ name: 'version 1', text: example }, { name: 'version 2', text: next }),
    );
    // One warm worker served them all.
    expect(pool.workers).toBe(1);
  });

  it('ends a check that takes longer than the timeout, refuses the plan, and checks the next one on a new worker', async () => {
    pool = createPlanCheckPool({ timeoutMs: 1_000, memoryMb: 256 });
    await pool.check(example, 'plan.yaml'); // warm
    const started = performance.now();
    const refused = await refusal(pool, slowPlan(2000));
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(refused.problems).toEqual([
      {
        path: '',
        message:
          'the plan took longer than 1 s to check: split it, or use fewer or simpler expressions and patterns',
      },
    ]);
    expect(refused.message).toBe(
      'plan.yaml: 1 problem\nplan.yaml (document): the plan took longer than 1 s to check: split it, or use fewer or simpler expressions and patterns',
    );
    expect(await pool.check(example, 'plan.yaml')).toMatchObject({ version: 1 });
    expect(pool.workers).toBe(1);
  });

  it('refuses a plan whose check runs out of its heap, and keeps checking', async () => {
    pool = createPlanCheckPool({ timeoutMs: 30_000, memoryMb: 64 });
    // 1 MiB of YAML flow sequence: the parser's nodes alone take more than 64 MB.
    const refused = await refusal(pool, heavyYamlPlan());
    expect(refused.problems).toEqual([
      {
        path: '',
        message:
          'checking the plan exceeded 64 MB of memory: split it, or use fewer or simpler expressions and patterns',
      },
    ]);
    expect(await pool.check(example, 'plan.yaml')).toMatchObject({ version: 1 });
  });

  it('checks plans at once on up to two workers', async () => {
    const checks = createPlanCheckPool({ timeoutMs: 30_000, memoryMb: 256, workers: 2 });
    pool = checks;
    await Promise.all([slowPlan(5), slowPlan(5), example].map((text) => checks.check(text, 'plan.yaml')));
    expect(checks.workers).toBe(2);
  });

  it('refuses plans once too many wait, and what waits when it closes', async () => {
    pool = createPlanCheckPool({ timeoutMs: 30_000, memoryMb: 256, workers: 1, maxWaiting: 1 });
    const first = expect(pool.check(example, 'plan.yaml')).rejects.toMatchObject({
      code: 'JNY_UNAVAILABLE',
      message: 'the plan checker is closed',
    });
    await expect(pool.check(example, 'plan.yaml')).rejects.toMatchObject({
      code: 'JNY_UNAVAILABLE',
      message: 'too many plans are waiting to be checked: try again in a few seconds',
    });
    await pool.close();
    await first;
  });
});
