// Reconnection delays: exponential with full jitter, so that many agents cut off together do not come
// back in lockstep.
export interface BackoffSettings {
  baseMs: number;
  maxMs: number;
}

export const defaultBackoff: BackoffSettings = { baseMs: 500, maxMs: 30_000 };

/** The delay before attempt `attempt` (0 = the first retry): uniform in [0, min(max, base·2^attempt)]. */
export function backoffDelay(
  attempt: number,
  settings: BackoffSettings = defaultBackoff,
  random = Math.random,
): number {
  const ceiling = Math.min(settings.maxMs, settings.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(random() * ceiling);
}
