// One WebSocket to the API as the channel uses it: JSON frames both ways, each frame from the API parsed
// against the protocol and handled after the previous one finished (handlers may await), and a frame that
// fails drops the connection, which the client then opens again.
import type { Logger } from 'pino';
import { WebSocket, type RawData } from 'ws';
import {
  ServerFrameSchema,
  parseFrame,
  type AgentFrame,
  type ServerFrame,
} from '../../../kernel/channel/protocol.ts';

const CHANNEL_PATH = '/v1/agent/channel';

/** What the parts of a connection use to reach the API. */
export interface ChannelLink {
  /** Sends when the socket is open; otherwise drops the frame (after a reconnect, what matters goes again). */
  send(frame: AgentFrame): void;
  /** Drops the connection at once: the peer is dead or does not follow the protocol. */
  terminate(): void;
  isOpen(): boolean;
  /** Closes gracefully, unless the socket is already closing. */
  close(code: number, reason: string): void;
  /** Milliseconds since the API's last frame (or since the socket was opened). */
  silentForMs(): number;
}

export interface ChannelSocketOptions {
  /** Trusted CA certificates (PEM), when the API uses a private CA. */
  ca?: string[] | undefined;
  log: Logger;
  onFrame: (frame: ServerFrame) => void | Promise<void>;
  onClose: (code: number, reason: string) => void;
}

export function openChannelSocket(url: string, options: ChannelSocketOptions): ChannelLink {
  const { log } = options;
  const socket = new WebSocket(websocketUrl(url, CHANNEL_PATH), {
    handshakeTimeout: 10_000,
    maxPayload: 16 * 1024 * 1024,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  });
  let lastFrameAt = Date.now();
  let handled: Promise<void> = Promise.resolve();

  socket.on('close', (code, reason) => {
    options.onClose(code, reason.toString());
  });
  socket.on('error', (error) => {
    log.warn({ url, error: error.message }, 'channel connection failed');
  });
  socket.on('message', (data: RawData) => {
    lastFrameAt = Date.now();
    const raw = Buffer.isBuffer(data)
      ? data.toString('utf8')
      : Buffer.from(data as ArrayBuffer).toString('utf8');
    handled = handled
      .then(() => options.onFrame(parseFrame(ServerFrameSchema, raw, 'API frame')))
      .catch((error: unknown) => {
        log.error(
          { error: (error as Error).message, code: (error as { code?: string }).code },
          'channel frame failed',
        );
        socket.terminate();
      });
  });

  return {
    send(frame) {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
    },
    terminate() {
      socket.terminate();
    },
    isOpen: () => socket.readyState === WebSocket.OPEN,
    close(code, reason) {
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
        socket.close(code, reason);
      }
    },
    silentForMs: () => Date.now() - lastFrameAt,
  };
}

/** The channel's ws:// or wss:// URL under an API base URL (which may carry a path of its own). */
function websocketUrl(base: string, path: string): string {
  const url = new URL(path.replace(/^\//, ''), base.endsWith('/') ? base : `${base}/`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}
