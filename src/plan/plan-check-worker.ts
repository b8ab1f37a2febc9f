// Entry point of a plan check thread (plan-check-pool.ts): parses, validates and compiles submitted plans
// with the plugins of plugins.dir, and answers each with the validated document or its located problems.
import { constants, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { describeError, PlanInvalidError } from '../../kernel/errors.ts';
import { loadPlan } from './load-plan.ts';
import { loadPlugins } from './plugins.ts';
import type { PlanCheckAnswer, PlanCheckRequest, PlanCheckThreadData } from './plan-check-pool.ts';

const port = parentPort;
if (port === null) throw new Error('plan-check-worker.ts runs as a worker thread only');
const data = workerData as PlanCheckThreadData;

// On Linux a thread has its own nice value: a check yields the CPU to the API's event loop and the engine.
setPriority(constants.priority.PRIORITY_BELOW_NORMAL);

try {
  const plugins = await loadPlugins(data.pluginsDir);
  port.on('message', (request: PlanCheckRequest) => {
    let answer: PlanCheckAnswer;
    try {
      answer = { id: request.id, plan: loadPlan(request.text, request.source, plugins).plan };
    } catch (error) {
      answer =
        error instanceof PlanInvalidError
          ? { id: request.id, invalid: { message: error.message, problems: error.problems } }
          : { id: request.id, error: describeError(error) };
    }
    port.postMessage(answer);
  });
  port.postMessage({ type: 'ready' } satisfies PlanCheckAnswer);
} catch (error) {
  port.postMessage({ type: 'failed', error: describeError(error) } satisfies PlanCheckAnswer);
  port.close();
}
