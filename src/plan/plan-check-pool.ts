// Submitted plans are parsed, validated and compiled in worker threads, never on the API's event loop: a
// plan under the size limits can still take seconds to check (thousands of expressions, RE2 patterns that
// compile to large programs), and every other tenant's requests would wait. Each thread has its own heap
// limit; a check that takes longer than the timeout, or runs out of memory, ends its thread and is refused
// as an invalid plan. The threads are kept warm between checks and replaced when one is ended.
import { Worker } from 'node:worker_threads';
import { describeError, PlanInvalidError, UnavailableError } from '../../kernel/errors.ts';
import type { SyncPlan } from './plan.schema.ts';

export interface PlanCheckSettings {
  /** Longest a plan's check may take (plan.checkTimeoutMs). */
  timeoutMs: number;
  /** Heap limit of each check thread, in MB (plan.checkMemoryMb). */
  memoryMb: number;
  /** Threads checking at once (default 2); they are started when first needed and then kept. */
  threads?: number;
  /** Plans waiting for a thread beyond this many are refused with 503 (default 32). */
  maxWaiting?: number;
  /** The plugin directory (plugins.dir): each thread loads the plugins itself. */
  pluginsDir?: string;
}

export interface PlanCheckThreadData {
  pluginsDir?: string;
}

export interface PlanCheckRequest {
  id: number;
  text: string;
  source: string;
}

export type PlanCheckAnswer =
  | { type: 'ready' }
  | { type: 'failed'; error: string }
  | { id: number; plan: SyncPlan }
  | { id: number; invalid: { message: string; problems: PlanInvalidError['problems'] } }
  | { id: number; error: string };

interface Check {
  request: PlanCheckRequest;
  resolve: (plan: SyncPlan) => void;
  reject: (error: Error) => void;
}

interface Thread {
  worker: Worker;
  ready: boolean;
  /** The check it is running. */
  check?: Check;
  timer?: NodeJS.Timeout;
  /** Why the pool ended it (timeout, memory), for the check it was running. */
  endedFor?: Error;
}

const DEFAULT_THREADS = 2;
const DEFAULT_MAX_WAITING = 32;
/** Longest a thread may take to start. */
const START_MS = 30_000;

const seconds = (ms: number): string => `${String(ms / 1000)} s`;

function refusal(source: string, problem: string): PlanInvalidError {
  return new PlanInvalidError(`${source}: 1 problem\n${source} (document): ${problem}`, [
    { path: '', message: problem },
  ]);
}

export function createPlanCheckPool(settings: PlanCheckSettings) {
  const size = settings.threads ?? DEFAULT_THREADS;
  const maxWaiting = settings.maxWaiting ?? DEFAULT_MAX_WAITING;
  const threads = new Set<Thread>();
  const waiting: Check[] = [];
  let nextId = 1;
  let closed = false;

  const finish = (thread: Thread): Check | undefined => {
    const check = thread.check;
    clearTimeout(thread.timer);
    thread.check = undefined;
    thread.timer = undefined;
    return check;
  };

  const end = (thread: Thread, reason: Error): void => {
    thread.endedFor = reason;
    void thread.worker.terminate();
  };

  const spawn = (): Thread => {
    const worker = new Worker(new URL('./plan-check-worker.ts', import.meta.url), {
      workerData: (settings.pluginsDir === undefined
        ? {}
        : { pluginsDir: settings.pluginsDir }) satisfies PlanCheckThreadData,
      resourceLimits: { maxOldGenerationSizeMb: settings.memoryMb },
    });
    // An idle thread does not keep the process alive; a running check does, through its timer.
    worker.unref();
    const thread: Thread = { worker, ready: false };
    threads.add(thread);
    // Starting (loading the modules and the plugins) has its own allowance: a plan's timeout may be short.
    thread.timer = setTimeout(() => {
      end(thread, new UnavailableError(`the plan checker did not start within ${seconds(START_MS)}`));
    }, START_MS);
    worker.on('message', (answer: PlanCheckAnswer) => {
      if ('type' in answer) {
        if (answer.type === 'failed') {
          end(thread, new UnavailableError(`the plan checker could not start: ${answer.error}`));
          return;
        }
        if (thread.endedFor !== undefined) return;
        clearTimeout(thread.timer);
        thread.timer = undefined;
        thread.ready = true;
        dispatch();
        return;
      }
      const check = thread.check;
      if (check?.request.id !== answer.id) return;
      finish(thread);
      if ('plan' in answer) check.resolve(answer.plan);
      else if ('invalid' in answer)
        check.reject(new PlanInvalidError(answer.invalid.message, answer.invalid.problems));
      else check.reject(new Error(`checking the plan failed: ${answer.error}`));
      dispatch();
    });
    worker.on('error', (error: Error & { code?: string }) => {
      const check = thread.check;
      thread.endedFor ??=
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? refusal(
              check?.request.source ?? 'the plan',
              `checking the plan exceeded ${String(settings.memoryMb)} MB of memory: split it, or use fewer or simpler expressions and patterns`,
            )
          : new Error(`the plan checker failed: ${describeError(error)}`, { cause: error });
    });
    worker.on('exit', () => {
      threads.delete(thread);
      const check = finish(thread);
      if (check !== undefined)
        check.reject(thread.endedFor ?? new Error('the plan checker stopped while checking a plan'));
      else if (!thread.ready && thread.endedFor !== undefined) {
        // It never started: the checks waiting for a thread would wait for ever.
        for (const waiter of waiting.splice(0)) waiter.reject(thread.endedFor);
      }
      if (closed) return;
      // A thread ended for a plan (timeout, memory) is replaced at once, so the next apply finds it warm.
      if (thread.ready && threads.size === 0) spawn();
      dispatch();
    });
    return thread;
  };

  /** Gives waiting checks to ready idle threads, starting threads up to the pool's size. */
  function dispatch(): void {
    if (closed) return;
    for (const thread of threads) {
      if (waiting.length === 0) break;
      if (!thread.ready || thread.check !== undefined || thread.endedFor !== undefined) continue;
      const check = waiting.shift();
      if (check === undefined) break;
      thread.check = check;
      thread.timer = setTimeout(() => {
        end(
          thread,
          refusal(
            check.request.source,
            `the plan took longer than ${seconds(settings.timeoutMs)} to check: split it, or use fewer or simpler expressions and patterns`,
          ),
        );
      }, settings.timeoutMs);
      thread.worker.postMessage(check.request);
    }
    const starting = [...threads].filter((thread) => !thread.ready && thread.endedFor === undefined).length;
    // More threads while checks wait and none is starting for them.
    if (waiting.length > starting && threads.size < size) spawn();
  }

  return {
    /** The validated plan document of `text`; throws PlanInvalidError naming every problem. */
    check(text: string, source: string): Promise<SyncPlan> {
      if (closed) return Promise.reject(new UnavailableError('the plan checker is closed'));
      if (waiting.length >= maxWaiting)
        return Promise.reject(
          new UnavailableError('too many plans are waiting to be checked: try again in a few seconds'),
        );
      return new Promise<SyncPlan>((resolve, reject) => {
        waiting.push({ request: { id: nextId++, text, source }, resolve, reject });
        dispatch();
      });
    },
    /** Starts a thread now, so the first plan does not wait for one. */
    warm(): void {
      if (!closed && threads.size === 0) spawn();
    },
    /** Threads alive (warm, starting or checking). */
    get threads(): number {
      return threads.size;
    },
    async close(): Promise<void> {
      closed = true;
      const error = new UnavailableError('the plan checker is closed');
      for (const check of waiting.splice(0)) check.reject(error);
      await Promise.all(
        [...threads].map((thread) => {
          thread.endedFor ??= error;
          return thread.worker.terminate();
        }),
      );
    },
  };
}

export type PlanCheckPool = ReturnType<typeof createPlanCheckPool>;
