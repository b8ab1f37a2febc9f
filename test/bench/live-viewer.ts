// A viewer for the benchmarks: what the live viewer does on a tenant's page — a token from
// POST /v1/streams/tokens, then the tenant-wide stream (GET /v1/streams, no filter) read as fast as the
// socket delivers, resuming after the last event it received when it connects again (lastEventId, as the
// viewer does). It counts what arrives without decoding every event (a browser on another machine would
// pay for that, not this one): events, the server's drop notices (events it did not keep for this socket)
// and missed notices (events the server no longer holds for a resume).
import { WebSocket } from 'ws';
import { murmur2 } from '../../streams/partitioner.ts';

export interface ViewerCounts {
  /** Event frames received. */
  events: number;
  /** Events the server told this viewer it dropped (the sum of its `dropped` notices' counts). */
  dropped: number;
  /** `dropped` notices received. */
  dropNotices: number;
  /** `missed` notices received (a resume found events it no longer held). */
  missedNotices: number;
  /** Sockets opened (one per engine start: a stopped engine closes its sockets). */
  connections: number;
  bytes: number;
}

export interface Viewer {
  readonly counts: ViewerCounts;
  /**
   * Opens the tenant-wide stream on the API at `baseUrl` (http://host:port) with a read key, after the last
   * event received, or the first time after `startAfter` (an event id).
   */
  connect(baseUrl: string, apiKey: string, startAfter?: string): Promise<void>;
  close(): void;
}

const EVENT_PREFIX = '{"type":"event"';
const EVENT_ID = /^\{"type":"event","id":"([0-9-]+)"/;

/** The logstream partition a tenant's events are on (they are keyed by tenant, murmur2 as Kafka's producers). */
export function tenantPartition(tenantId: string, partitions: number): number {
  return (murmur2(Buffer.from(tenantId)) & 0x7fffffff) % partitions;
}

export function createViewer(): Viewer {
  const counts: ViewerCounts = {
    events: 0,
    dropped: 0,
    dropNotices: 0,
    missedNotices: 0,
    connections: 0,
    bytes: 0,
  };
  let socket: WebSocket | undefined;
  let lastEventId: string | undefined;
  return {
    counts,
    async connect(baseUrl, apiKey, startAfter) {
      socket?.close();
      const response = await fetch(`${baseUrl}/v1/streams/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}` },
      });
      if (response.status !== 201)
        throw new Error(
          `POST /v1/streams/tokens answered ${String(response.status)}: ${await response.text()}`,
        );
      const { token } = (await response.json()) as { token: string };
      const after = lastEventId ?? startAfter;
      const opened = new WebSocket(
        `${baseUrl.replace(/^http/, 'ws')}/v1/streams?token=${encodeURIComponent(token)}${after === undefined ? '' : `&lastEventId=${after}`}`,
      );
      socket = opened;
      await new Promise<void>((resolve, reject) => {
        opened.once('error', reject);
        opened.on('message', (data: Buffer) => {
          counts.bytes += data.length;
          const frame = data.toString('utf8');
          if (frame.startsWith(EVENT_PREFIX)) {
            counts.events++;
            lastEventId = EVENT_ID.exec(frame.slice(0, 64))?.[1] ?? lastEventId;
            return;
          }
          const parsed = JSON.parse(frame) as { type: string; count?: number };
          if (parsed.type === 'hello') resolve();
          else if (parsed.type === 'missed') counts.missedNotices++;
          else if (parsed.type === 'dropped') {
            counts.dropNotices++;
            counts.dropped += parsed.count ?? 0;
          }
        });
        opened.once('close', (code, reason) => {
          reject(new Error(`the live stream closed before its hello: ${String(code)} ${reason.toString()}`));
        });
      });
      counts.connections++;
    },
    close() {
      socket?.close();
      socket = undefined;
    },
  };
}
