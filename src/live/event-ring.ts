// The last logstream events this process saw, so that a client reconnecting with its lastEventId gets what
// it missed. Bounded by count and bytes; an id is "partition-offset", and all of a tenant's events share
// one partition (the logstream is keyed by tenant), so "after this id" is a simple offset comparison.
import type { FilterKeys } from './stream-filter.ts';

export interface RingEntry {
  id: string;
  partition: number;
  offset: bigint;
  /** What filters read of the event (the rest of it is in the frame). */
  event: FilterKeys;
  /** The frame as sent to sockets, made once for all of them. */
  frame: string;
}

export function parseEventId(id: string): { partition: number; offset: bigint } | undefined {
  const match = /^([0-9]{1,5})-([0-9]{1,19})$/.exec(id);
  if (match === null) return undefined;
  return { partition: Number(match[1]), offset: BigInt(match[2] ?? '0') };
}

export function createEventRing(limits: { maxEvents: number; maxBytes: number }) {
  const entries: RingEntry[] = [];
  let head = 0;
  let bytes = 0;
  /** Per partition, the first offset this ring still holds the events after (everything seen since). */
  const retainedFrom = new Map<number, bigint>();

  const evictOne = (): void => {
    const oldest = entries[head];
    if (oldest === undefined) return;
    head++;
    bytes -= oldest.frame.length;
    retainedFrom.set(oldest.partition, oldest.offset + 1n);
    // Compact now and then, not on every eviction.
    if (head > 4096 && head * 2 > entries.length) {
      entries.splice(0, head);
      head = 0;
    }
  };

  return {
    /**
     * Declares that the ring holds every event of `partition` from `offset` on (those before it are not
     * coming): a process that reads a partition's tail back on start, or finds it empty, says so first.
     */
    retainFrom(partition: number, offset: bigint): void {
      if (!retainedFrom.has(partition)) retainedFrom.set(partition, offset);
    },

    add(entry: RingEntry): void {
      if (!retainedFrom.has(entry.partition)) retainedFrom.set(entry.partition, entry.offset);
      entries.push(entry);
      bytes += entry.frame.length;
      while (entries.length - head > limits.maxEvents || bytes > limits.maxBytes) evictOne();
    },

    /**
     * The retained events after `id` on its partition that `keep` selects, or `gap` when events right after
     * it are no longer retained (or were never seen by this process).
     */
    after(
      id: string,
      keep: (entry: RingEntry) => boolean,
    ): { entries: RingEntry[]; gap: { retainedFrom: string | null } | undefined } {
      const position = parseEventId(id);
      if (position === undefined) return { entries: [], gap: { retainedFrom: null } };
      const from = retainedFrom.get(position.partition);
      const gap =
        from === undefined || from > position.offset + 1n
          ? { retainedFrom: from === undefined ? null : `${String(position.partition)}-${from.toString()}` }
          : undefined;
      const found: RingEntry[] = [];
      for (let index = head; index < entries.length; index++) {
        const entry = entries[index];
        if (
          entry !== undefined &&
          entry.partition === position.partition &&
          entry.offset > position.offset &&
          keep(entry)
        )
          found.push(entry);
      }
      return { entries: found, gap };
    },

    size(): { events: number; bytes: number } {
      return { events: entries.length - head, bytes };
    },
  };
}
export type EventRing = ReturnType<typeof createEventRing>;
