// What one stream socket has yet to receive, bounded in events and bytes: a client that reads slowly (or
// not at all) costs at most this much memory, never slows the consumer, and is told how many events it
// lost. Progress frames are not queued: only the latest one waits, so counters coalesce.

export interface SocketQueueLimits {
  /** Events (and drop notices) waiting for the socket. */
  maxEvents: number;
  /** Bytes of the frames waiting. */
  maxBytes: number;
  /** Frames are handed to the socket only while it buffers less than this (ws bufferedAmount). */
  highWaterBytes: number;
}

interface Dropped {
  count: number;
  firstId: string;
  lastId: string;
}

type Item = { frame: string; id: string } | { dropped: Dropped };

const dropNoticeBytes = 96;

export function createSocketQueue(
  limits: SocketQueueLimits,
  socket: { send(frame: string): void; bufferedAmount(): number },
) {
  const items: Item[] = [];
  let head = 0;
  let bytes = 0;
  let progress: string | undefined;
  let droppedTotal = 0;

  const room = () => socket.bufferedAmount() < limits.highWaterBytes;

  return {
    /** Queues an event's frame, or counts it as dropped when the queue is full. */
    push(id: string, frame: string): void {
      const waiting = items.length - head;
      if (waiting < limits.maxEvents && bytes + frame.length <= limits.maxBytes) {
        items.push({ frame, id });
        bytes += frame.length;
        return;
      }
      droppedTotal++;
      const last = items.at(-1);
      if (last !== undefined && 'dropped' in last && items.length > head) {
        last.dropped.count++;
        last.dropped.lastId = id;
      } else {
        // One notice per run of drops, in place: the client learns where the hole is.
        items.push({ dropped: { count: 1, firstId: id, lastId: id } });
        bytes += dropNoticeBytes;
      }
    },

    /** A frame that must arrive in order and is never dropped (a handful per socket, e.g. "resumed"). */
    pushNotice(frame: string): void {
      items.push({ frame, id: '' });
      bytes += frame.length;
    },

    /** The latest counters replace any not yet sent. */
    setProgress(frame: string): void {
      progress = frame;
    },

    /** Hands frames to the socket while it has room; returns whether anything is left. */
    flush(): boolean {
      if (progress !== undefined && room()) {
        socket.send(progress);
        progress = undefined;
      }
      while (head < items.length && room()) {
        const item = items[head];
        items[head] = { frame: '', id: '' };
        head++;
        if (item === undefined) continue;
        if ('dropped' in item) {
          bytes -= dropNoticeBytes;
          socket.send(JSON.stringify({ type: 'dropped', ...item.dropped }));
        } else {
          bytes -= item.frame.length;
          socket.send(item.frame);
        }
      }
      if (head === items.length) {
        items.length = 0;
        head = 0;
      } else if (head > 1024 && head * 2 > items.length) {
        items.splice(0, head);
        head = 0;
      }
      return progress !== undefined || head < items.length;
    },

    /** For tests and metrics: what waits, and how many events were dropped so far. */
    stats(): { events: number; bytes: number; dropped: number } {
      return { events: items.length - head, bytes, dropped: droppedTotal };
    },
  };
}
export type SocketQueue = ReturnType<typeof createSocketQueue>;
