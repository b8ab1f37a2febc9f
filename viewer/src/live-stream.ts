// One live stream socket with reconnects: frames are handed over in batches, once per animation frame,
// so a million-event sync costs one render per frame, not one per event. A reconnect resumes after the
// last event id seen; a refusal (4xxx close) is final and shown.
import { streamSocketUrl } from './api.ts';
import type { StreamFrame } from '../../src/live/stream-messages.ts';

export interface StreamHandle {
  close(): void;
}

export function openStream(
  path: string,
  handlers: { frames(frames: StreamFrame[]): void; status(text: string): void },
): StreamHandle {
  let socket: WebSocket | undefined;
  let lastEventId: string | undefined;
  let stopped = false;
  /** Read through a function where an await came between: close() may have run meanwhile. */
  const isStopped = () => stopped;
  let pending: StreamFrame[] = [];
  let scheduled = false;
  let attempts = 0;

  // A closed stream hands over nothing more, not even the frames it received before it was closed: the
  // page that closed it (another filter, another run) must not show them.
  const deliver = () => {
    scheduled = false;
    const batch = pending;
    pending = [];
    if (batch.length > 0 && !stopped) handlers.frames(batch);
  };

  const connect = async () => {
    if (stopped) return;
    try {
      const url = await streamSocketUrl(path, lastEventId);
      // Closed while the token was minted: no socket for a page that left.
      if (isStopped()) return;
      socket = new WebSocket(url);
    } catch (error) {
      if (isStopped()) return;
      handlers.status(`cannot open the live stream: ${(error as Error).message}`);
      retry();
      return;
    }
    socket.onopen = () => {
      attempts = 0;
      if (!stopped) handlers.status('live');
    };
    socket.onmessage = (message: MessageEvent<string>) => {
      if (stopped) return;
      const frame = JSON.parse(message.data) as StreamFrame;
      if (frame.type === 'event') lastEventId = frame.id;
      pending.push(frame);
      if (!scheduled) {
        scheduled = true;
        requestAnimationFrame(deliver);
      }
    };
    socket.onclose = (event) => {
      if (stopped) return;
      if (event.code >= 4000 && event.code !== 4429) {
        handlers.status(`the live stream was refused: ${event.reason} (${String(event.code)})`);
        return;
      }
      handlers.status('reconnecting…');
      retry();
    };
  };

  const retry = () => {
    if (stopped) return;
    attempts++;
    setTimeout(() => void connect(), Math.min(10_000, 500 * 2 ** attempts));
  };

  void connect();
  return {
    close() {
      stopped = true;
      pending = [];
      socket?.close(1000, 'page left');
    },
  };
}
