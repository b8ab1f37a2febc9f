// Readiness: each dependency is probed with a time limit; the report says which one is not ready and why.
import { describeError } from '../../kernel/errors.ts';

export type Probe = () => Promise<void>;

export interface CheckResult {
  status: 'ok' | 'failed' | 'skipped';
  reason?: string;
}

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, CheckResult>;
}

export interface Readiness {
  report(): Promise<ReadinessReport>;
}

export function createReadiness(
  probes: Record<string, Probe | { skipped: string }>,
  options: { timeoutMs?: number; cacheMs?: number; now?: () => number } = {},
): Readiness {
  const timeoutMs = options.timeoutMs ?? 3000;
  const cacheMs = options.cacheMs ?? 1000;
  const now = options.now ?? Date.now;
  let cached: { at: number; report: Promise<ReadinessReport> } | undefined;

  const evaluate = async (): Promise<ReadinessReport> => {
    const entries = await Promise.all(
      Object.entries(probes).map(async ([name, probe]): Promise<[string, CheckResult]> => {
        if (typeof probe !== 'function') return [name, { status: 'skipped', reason: probe.skipped }];
        try {
          await withTimeout(probe(), timeoutMs, `no answer within ${timeoutMs} ms`);
          return [name, { status: 'ok' }];
        } catch (error) {
          return [name, { status: 'failed', reason: describeError(error) }];
        }
      }),
    );
    const checks = Object.fromEntries(entries);
    return { ready: entries.every(([, result]) => result.status !== 'failed'), checks };
  };

  return {
    report() {
      // Probes are shared by concurrent callers and for cacheMs, so a probe storm cannot load the database.
      if (cached === undefined || now() - cached.at >= cacheMs) cached = { at: now(), report: evaluate() };
      return cached.report;
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(message));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
  });
}
