// Rate and ETA from successive counter readings: a pure function of the readings, so the page only renders.
export interface Reading {
  at: number;
  seen: number;
}

/** Objects per second over the last readings (up to ~10 s), and the seconds left when the total is known. */
export function rateAndEta(
  readings: readonly Reading[],
  total: number | null,
): { rate: number | null; etaSeconds: number | null } {
  const last = readings.at(-1);
  if (last === undefined) return { rate: null, etaSeconds: null };
  const first = readings.find((reading) => last.at - reading.at <= 10_000) ?? last;
  const seconds = (last.at - first.at) / 1000;
  const rate = seconds > 0 ? (last.seen - first.seen) / seconds : null;
  const etaSeconds =
    rate !== null && rate > 0 && total !== null ? Math.max(0, (total - last.seen) / rate) : null;
  return { rate, etaSeconds };
}
