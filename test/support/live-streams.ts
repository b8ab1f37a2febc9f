// Live stream clients for tests: a WebSocket that records every frame and its close, log events built and
// validated against joinery.log.v1, and a way to produce them onto a fixture's logstream topic.
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import { messageProblem } from '../../kernel/contracts/message-validators.ts';
import type { StreamFrame } from '../../src/live/stream-messages.ts';
import { encodeMessage } from '../../streams/cloudevents.ts';
import type { StreamsFixture } from './streams.ts';
import { waitFor } from './streams.ts';

export interface StreamClient {
  socket: WebSocket;
  frames: StreamFrame[];
  events(): Extract<StreamFrame, { type: 'event' }>[];
  closed: Promise<{ code: number; reason: string }>;
  /** Waits until a frame satisfies `check`. */
  until<T extends StreamFrame>(
    what: string,
    check: (frame: StreamFrame) => frame is T,
    timeoutMs?: number,
  ): Promise<T>;
  until(what: string, check: (frame: StreamFrame) => boolean, timeoutMs?: number): Promise<StreamFrame>;
}

export async function connectStream(url: string): Promise<StreamClient> {
  const socket = new WebSocket(url);
  const frames: StreamFrame[] = [];
  socket.on('message', (data: Buffer) => {
    frames.push(JSON.parse(data.toString('utf8')) as StreamFrame);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString('utf8') });
    });
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => {
      resolve();
    });
    socket.once('error', reject);
  });
  return {
    socket,
    frames,
    events: () => frames.filter((frame) => frame.type === 'event'),
    closed,
    until: (what: string, check: (frame: StreamFrame) => boolean, timeoutMs = 30_000) =>
      waitFor(what, async () => frames.find(check), timeoutMs),
  };
}

/** A joinery.log.v1 event of the tenant, checked against the schema. */
export function logEvent(tenantId: string, fields: Partial<Record<keyof LogEvent, unknown>> = {}): LogEvent {
  const data = {
    tenantId,
    at: new Date().toISOString(),
    level: 'info',
    category: 'test',
    message: 'test event',
    ...fields,
  };
  const problem = messageProblem('joinery.log.v1', data);
  if (problem !== undefined) throw new Error(problem);
  return data as LogEvent;
}

/** Produces log events onto the fixture's logstream topic, as the outbox relay does (under 1 MB a request). */
export async function produceLogEvents(fixture: StreamsFixture, events: LogEvent[]): Promise<void> {
  for (let start = 0; start < events.length; start += 100)
    await fixture.send(
      'logstream',
      events.slice(start, start + 100).map((data) =>
        encodeMessage({
          id: randomUUID(),
          type: 'joinery.log.v1',
          source: '/joinery/test',
          time: data.at,
          tenantId: data.tenantId,
          data,
        }),
      ),
    );
}
