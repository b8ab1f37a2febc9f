// Retries and backoff for the whole code base, on cockatiel's exponential backoff: one policy shape
// (first delay, ceiling, jitter) instead of a formula per module. `backoffDelay` answers "how long
// before retry n" for loops and queues that keep their own attempt count (a reconnecting channel, an
// export whose next attempt is a timestamp in PostgreSQL); `retryTransient` runs an operation again
// while its error is retriable (kernel/errors.ts decides which are).
import {
  ExponentialBackoff,
  fullJitterGenerator,
  halfJitterGenerator,
  handleWhen,
  retry,
  type IBackoff,
} from 'cockatiel';
import { isRetriable } from './errors.ts';

export interface BackoffPolicy {
  /** The ceiling of the first delay, in milliseconds; it doubles with each retry. */
  initialDelayMs: number;
  /** No delay exceeds this, in milliseconds. */
  maxDelayMs: number;
  /**
   * `full`: uniform in [0, ceiling) — many clients cut off together come back spread out (reconnects,
   * export retries). `equal`: in [ceiling/2, ceiling) — never retries at once, still spread (a database
   * or broker that refused a batch).
   */
  jitter: 'full' | 'equal';
}

function exponential(policy: BackoffPolicy): ExponentialBackoff<number> {
  return new ExponentialBackoff({
    initialDelay: policy.initialDelayMs,
    maxDelay: policy.maxDelayMs,
    exponent: 2,
    generator: policy.jitter === 'full' ? fullJitterGenerator : halfJitterGenerator,
  });
}

// The ceiling reaches maxDelayMs long before this many doublings (2^40 ms is 35 years).
const MAX_DOUBLINGS = 40;

/** The delay before retry number `attempt` (1 = the first retry, whose ceiling is initialDelayMs). */
export function backoffDelay(policy: BackoffPolicy, attempt: number): number {
  let backoff: IBackoff<unknown> = exponential(policy).next();
  for (let step = 1; step < Math.min(Math.max(1, attempt), MAX_DOUBLINGS); step++)
    backoff = backoff.next(undefined);
  return backoff.duration;
}

/** For start-up steps a broker or database still settling refuses for a moment (a topic just created). */
export const settlingBackoff: BackoffPolicy = { initialDelayMs: 200, maxDelayMs: 2_000, jitter: 'equal' };

/**
 * Runs `operation` again while it fails with a retriable error, up to `attempts` times in all, waiting
 * by `policy` between tries; a permanent error, or the last one, is thrown as it was.
 */
export async function retryTransient<T>(
  operation: () => Promise<T>,
  options: { attempts?: number; policy?: BackoffPolicy; signal?: AbortSignal } = {},
): Promise<T> {
  const policy = retry(
    handleWhen((error) => isRetriable(error)),
    {
      maxAttempts: Math.max(0, (options.attempts ?? 10) - 1),
      backoff: exponential(options.policy ?? settlingBackoff),
    },
  );
  return policy.execute(() => operation(), options.signal);
}
