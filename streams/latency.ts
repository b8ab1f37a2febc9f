// A bounded record of recent latencies (a ring of the last N samples) with percentiles: enough for
// "p99 pulse latency" in logs and benchmarks without memory that grows with traffic.
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export function createLatencyRecorder(capacity = 100_000) {
  const samples = new Float64Array(capacity);
  let written = 0;
  return {
    record(ms: number): void {
      samples[written % capacity] = ms;
      written++;
    },
    summary(): LatencySummary {
      const count = Math.min(written, capacity);
      if (count === 0) return { count: 0, p50: 0, p99: 0, max: 0 };
      const sorted = samples.slice(0, count).sort();
      const at = (q: number) => sorted[Math.min(count - 1, Math.floor(q * count))] ?? 0;
      return { count: written, p50: at(0.5), p99: at(0.99), max: sorted[count - 1] ?? 0 };
    },
  };
}

export type LatencyRecorder = ReturnType<typeof createLatencyRecorder>;
