// Entry point of a plan check worker process (plan-check-pool.ts): parses, validates and compiles submitted
// plans with the plugins of plugins.dir (its one argument), answering each with the validated document or
// its located problems, and diffs a plan's text with the version in force.
import { constants, setPriority } from 'node:os';
import { describeError, PlanInvalidError } from '../../kernel/errors.ts';
import { loadPlan } from './load-plan.ts';
import { loadPlugins } from './plugins.ts';
import { planDiff } from './plan-diff.ts';
import type { PlanCheckAnswer, PlanCheckRequest } from './plan-check-pool.ts';

const send = process.send?.bind(process);
if (send === undefined) throw new Error('plan-check-worker.ts runs as a worker process only (fork)');
const answer = (message: PlanCheckAnswer): void => {
  send(message);
};
// Gone with the process that started it.
process.on('disconnect', () => process.exit(0));
// A check yields the CPU to the API's event loop and the engine.
setPriority(constants.priority.PRIORITY_BELOW_NORMAL);

try {
  const plugins = await loadPlugins(process.argv[2]);
  process.on('message', (request: PlanCheckRequest) => {
    try {
      answer(
        request.kind === 'check'
          ? { id: request.id, plan: loadPlan(request.text, request.source, plugins).plan }
          : { id: request.id, diff: planDiff(request.previous, request.next) },
      );
    } catch (error) {
      answer(
        error instanceof PlanInvalidError
          ? { id: request.id, invalid: { message: error.message, problems: error.problems } }
          : { id: request.id, error: describeError(error) },
      );
    }
  });
  answer({ type: 'ready' });
} catch (error) {
  answer({ type: 'failed', error: describeError(error) });
  process.disconnect();
}
