// Submitted plans are parsed, validated and compiled — and compared with the version in force — in worker
// processes, never on the API's event loop: a plan under the size limits can still take seconds to check
// (thousands of expressions, RE2 patterns that compile to large programs) or to diff, and every other
// tenant's requests would wait. Each worker has its own heap limit; work that takes longer than the
// timeout, or runs out of memory, ends its worker and the plan is refused as invalid. Workers are kept warm
// between plans and replaced when one is ended.
//
// Processes, not worker threads: a worker thread that reaches its heap limit (resourceLimits) can still
// abort the whole process (nodejs/node#47224; seen here with a plan whose RE2 patterns fill the heap),
// and the API with it. A worker process that runs out of memory ends alone.
import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describeError, PlanInvalidError, UnavailableError } from '../../kernel/errors.ts';
import type { SyncPlan } from './plan.schema.ts';
import type { PlanText } from './plan-diff.ts';

/** What applying a plan computes from its text: the API does it in worker processes, the CLI on its own thread. */
export interface PlanChecker {
  /** The validated plan document of `text`; throws PlanInvalidError naming every problem. */
  check(text: string, source: string): Promise<SyncPlan>;
  /** The unified diff from the previous version's text (plan-diff.ts). */
  diff(previous: PlanText, next: PlanText): Promise<string>;
}

export interface PlanCheckSettings {
  /** Longest a plan's check may take (plan.checkTimeoutMs). */
  timeoutMs: number;
  /** Heap limit of each worker, in MB (plan.checkMemoryMb). */
  memoryMb: number;
  /** Workers checking at once (default 2); they are started when first needed and then kept. */
  workers?: number;
  /** Plans waiting for a worker beyond this many are refused with 503 (default 32). */
  maxWaiting?: number;
  /** The plugin directory (plugins.dir): each worker loads the plugins itself. */
  pluginsDir?: string;
}

/** The worker's only argument: the plugin directory, when there is one. */

export type PlanCheckRequest =
  | { id: number; kind: 'check'; text: string; source: string }
  | { id: number; kind: 'diff'; previous: PlanText; next: PlanText };

export type PlanCheckAnswer =
  | { type: 'ready' }
  | { type: 'failed'; error: string }
  | { id: number; plan: SyncPlan }
  | { id: number; diff: string }
  | { id: number; invalid: { message: string; problems: PlanInvalidError['problems'] } }
  | { id: number; error: string };

interface Check {
  request: PlanCheckRequest;
  /** The plan's name in a refusal (the request body, a file). */
  source: string;
  /** What the worker does, in a refusal: "check" (the plan took longer than 10 s to check). */
  doing: { took: string; exceeded: string };
  resolve: (answer: PlanCheckAnswer) => void;
  reject: (error: Error) => void;
}

const checking = { took: 'to check', exceeded: 'checking the plan' };
const comparing = {
  took: 'to compare with the version in force',
  exceeded: 'comparing the plan with the version in force',
};

interface Worker {
  child: ChildProcess;
  ready: boolean;
  /** The end of what the worker wrote to stderr (V8's out-of-memory report). */
  stderr: string;
  /** The check it is running. */
  check?: Check;
  timer?: NodeJS.Timeout;
  /** Why the pool ended it (timeout, memory), for the check it was running. */
  endedFor?: Error;
}

const DEFAULT_WORKERS = 2;
const DEFAULT_MAX_WAITING = 32;
/** Longest a worker may take to start. */
const START_MS = 30_000;

const seconds = (ms: number): string => `${String(ms / 1000)} s`;

function refusal(source: string, problem: string): PlanInvalidError {
  return new PlanInvalidError(`${source}: 1 problem\n${source} (document): ${problem}`, [
    { path: '', message: problem },
  ]);
}

export function createPlanCheckPool(settings: PlanCheckSettings) {
  const size = settings.workers ?? DEFAULT_WORKERS;
  const maxWaiting = settings.maxWaiting ?? DEFAULT_MAX_WAITING;
  const workers = new Set<Worker>();
  const waiting: Check[] = [];
  let nextId = 1;
  let closed = false;

  const finish = (worker: Worker): Check | undefined => {
    const check = worker.check;
    clearTimeout(worker.timer);
    worker.check = undefined;
    worker.timer = undefined;
    return check;
  };

  const end = (worker: Worker, reason: Error): void => {
    worker.endedFor ??= reason;
    worker.child.kill('SIGKILL');
  };

  const spawn = (): Worker => {
    const child = fork(
      fileURLToPath(new URL('./plan-check-worker.ts', import.meta.url)),
      settings.pluginsDir === undefined ? [] : [settings.pluginsDir],
      {
        execArgv: [`--max-old-space-size=${String(settings.memoryMb)}`],
        serialization: 'advanced',
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      },
    );
    const worker: Worker = { child, ready: false, stderr: '' };
    // An idle worker does not keep this process alive; a running check does, through its timer.
    child.unref();
    child.channel?.unref();
    const stderr = child.stderr as Socket | null;
    stderr?.unref();
    stderr?.setEncoding('utf8');
    stderr?.on('data', (chunk: string) => {
      worker.stderr = (worker.stderr + chunk).slice(-4096);
    });
    workers.add(worker);
    // Starting (loading the modules and the plugins) has its own allowance: a plan's timeout may be short.
    worker.timer = setTimeout(() => {
      end(worker, new UnavailableError(`the plan checker did not start within ${seconds(START_MS)}`));
    }, START_MS);
    child.on('message', (answer: PlanCheckAnswer) => {
      if ('type' in answer) {
        if (answer.type === 'failed') {
          end(worker, new UnavailableError(`the plan checker could not start: ${answer.error}`));
          return;
        }
        if (worker.endedFor !== undefined) return;
        clearTimeout(worker.timer);
        worker.timer = undefined;
        worker.ready = true;
        dispatch();
        return;
      }
      const check = worker.check;
      if (check?.request.id !== answer.id) return;
      finish(worker);
      if ('invalid' in answer)
        check.reject(new PlanInvalidError(answer.invalid.message, answer.invalid.problems));
      else if ('error' in answer) check.reject(new Error(`${check.doing.exceeded} failed: ${answer.error}`));
      else check.resolve(answer);
      dispatch();
    });
    child.on('error', (error) => {
      end(worker, new Error(`the plan checker failed: ${describeError(error)}`, { cause: error }));
    });
    child.on('exit', (code, signal) => {
      const running = finish(worker);
      const reason =
        worker.endedFor ??
        (/heap out of memory/.test(worker.stderr)
          ? refusal(
              running?.source ?? 'the plan',
              `${running?.doing.exceeded ?? 'checking the plan'} exceeded ${String(settings.memoryMb)} MB of memory: split it, or use fewer or simpler expressions and patterns`,
            )
          : new Error(
              `the plan checker stopped (${signal ?? `exit code ${String(code)}`}): ${worker.stderr.trim().split('\n').at(-1) ?? ''}`,
            ));
      workers.delete(worker);
      if (running !== undefined) running.reject(reason);
      // One that never started: the checks waiting for a worker would wait for ever.
      else if (!worker.ready) for (const waiter of waiting.splice(0)) waiter.reject(reason);
      if (closed) return;
      // A worker ended for a plan (timeout, memory) is replaced at once, so the next apply finds it warm.
      if (worker.ready && workers.size === 0) spawn();
      dispatch();
    });
    return worker;
  };

  /** Gives waiting checks to ready idle workers, starting workers up to the pool's size. */
  function dispatch(): void {
    if (closed) return;
    for (const worker of workers) {
      if (waiting.length === 0) break;
      if (!worker.ready || worker.check !== undefined || worker.endedFor !== undefined) continue;
      const check = waiting.shift();
      if (check === undefined) break;
      worker.check = check;
      worker.timer = setTimeout(() => {
        end(
          worker,
          refusal(
            check.source,
            `the plan took longer than ${seconds(settings.timeoutMs)} ${check.doing.took}: split it, or use fewer or simpler expressions and patterns`,
          ),
        );
      }, settings.timeoutMs);
      worker.child.send(check.request);
    }
    const starting = [...workers].filter((worker) => !worker.ready && worker.endedFor === undefined).length;
    // More workers while checks wait and none is starting for them.
    if (waiting.length > starting && workers.size < size) spawn();
  }

  const run = (
    request: PlanCheckRequest,
    source: string,
    doing: Check['doing'],
  ): Promise<PlanCheckAnswer> => {
    if (closed) return Promise.reject(new UnavailableError('the plan checker is closed'));
    if (waiting.length >= maxWaiting)
      return Promise.reject(
        new UnavailableError('too many plans are waiting to be checked: try again in a few seconds'),
      );
    return new Promise<PlanCheckAnswer>((resolve, reject) => {
      waiting.push({ request, source, doing, resolve, reject });
      dispatch();
    });
  };

  return {
    async check(text: string, source: string): Promise<SyncPlan> {
      const answer = await run({ id: nextId++, kind: 'check', text, source }, source, checking);
      if (!('plan' in answer)) throw new Error('the plan checker answered a check without a plan');
      return answer.plan;
    },
    async diff(previous: PlanText, next: PlanText): Promise<string> {
      const answer = await run({ id: nextId++, kind: 'diff', previous, next }, next.name, comparing);
      if (!('diff' in answer)) throw new Error('the plan checker answered a diff without one');
      return answer.diff;
    },
    /** Starts a worker now, so the first plan does not wait for one. */
    warm(): void {
      if (!closed && workers.size === 0) spawn();
    },
    /** Workers alive (warm, starting or checking). */
    get workers(): number {
      return workers.size;
    },
    async close(): Promise<void> {
      closed = true;
      const error = new UnavailableError('the plan checker is closed');
      for (const check of waiting.splice(0)) check.reject(error);
      await Promise.all(
        [...workers].map((worker) => {
          const exited = new Promise((resolve) => worker.child.once('exit', resolve));
          end(worker, error);
          return exited;
        }),
      );
    },
  };
}

export type PlanCheckPool = ReturnType<typeof createPlanCheckPool>;
