// SIEM export as syslog over TLS, for real: a Node `tls` server in the test (self-signed certificate made
// by openssl, trusted through the destination's `tls.ca`) reads the octet-counted RFC 5424 frames (RFC 5425)
// the engine's SIEM worker sends from real Kafka and PostgreSQL. Debian's rsyslog with gtls is not used: the
// infrastructure code installs rsyslog without rsyslog-gnutls (docs/siem.md).
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngine, type Engine } from '../../src/runtime/engine-runtime.ts';
import { putDestination } from '../../src/siem/destinations.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';
import { logEvent, produceLogEvents } from '../support/live-streams.ts';
import { selfSignedCertificate } from '../support/self-signed.ts';
import { createStreamsFixture, waitFor, type StreamsFixture } from '../support/streams.ts';

const product = { name: 'Joinery', vendor: 'Joinery', version: 'test' };
const rfc5424 =
  /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) \[joinery@32473 eventId="([^"]+)" tenantId="([^"]+)"\] (.*)$/s;

/** Splits octet-counted frames (`<length> <message>`) off a buffer; returns the messages and what is left. */
function frames(buffer: Buffer): { messages: string[]; rest: Buffer } {
  const messages: string[] = [];
  let rest = buffer;
  for (;;) {
    const space = rest.indexOf(0x20);
    if (space < 0) break;
    const length = Number(rest.subarray(0, space).toString('ascii'));
    if (!Number.isInteger(length) || length <= 0) throw new Error(`not an octet count: ${rest.toString()}`);
    if (rest.length < space + 1 + length) break;
    messages.push(rest.subarray(space + 1, space + 1 + length).toString('utf8'));
    rest = rest.subarray(space + 1 + length);
  }
  return { messages, rest };
}

describe('SIEM export as syslog over TLS (a real TLS server, Kafka, PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let server: Server;
  const messages: string[] = [];

  beforeAll(async () => {
    const { key, cert } = selfSignedCertificate();
    server = createServer({ key, cert }, (socket) => {
      let pending: Buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        const split = frames(Buffer.concat([pending, chunk]));
        messages.push(...split.messages);
        pending = split.rest;
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    fixture = await createStreamsFixture();
    await putDestination(fixture.orm.em.fork(), undefined, fixture.tenantId, randomUUID(), {
      kind: 'syslog',
      name: uniqueName('syslog-tls'),
      format: 'ocsf',
      settings: { host: '127.0.0.1', port, tls: { ca: cert } },
    });
    engine = await startEngine({
      bus: fixture.bus,
      orm: fixture.orm,
      logger: silentLogger,
      settings: {
        groupId: fixture.groupId,
        actorCacheSize: 100,
        maxBatchSize: 500,
        sessionTimeoutMs: 6000,
        topics: fixture.topics,
      },
      siem: {
        keyring: undefined,
        product,
        refreshMs: 200,
        backoff: { initialDelayMs: 100, maxDelayMs: 500, jitter: 'equal' },
      },
    });
  }, 120_000);
  afterAll(async () => {
    await engine.stop();
    await fixture.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends every event as an octet-counted RFC 5424 frame with OCSF JSON over TLS', async () => {
    const events = Array.from({ length: 5 }, (_, index) =>
      logEvent(fixture.tenantId, {
        category: 'lifecycle',
        stage: 'inbound',
        outcome: 'succeeded',
        message: `event ${String(index)}`,
        identityId: randomUUID(),
      }),
    );
    await produceLogEvents(fixture, events);
    await waitFor('the TLS collector to receive every event', async () =>
      messages.length >= events.length ? true : undefined,
    );
    const parsed = messages.map((message) => {
      const parts = rfc5424.exec(message);
      if (parts === null) throw new Error(`not an RFC 5424 message as Joinery frames it: ${message}`);
      return {
        pri: Number(parts[1]),
        msgId: parts[6],
        tenantId: parts[8],
        payload: JSON.parse(parts[9] ?? '{}') as { message: string },
      };
    });
    expect(parsed.map((line) => line.payload.message)).toEqual(events.map((event) => event.message));
    for (const line of parsed) {
      expect(line.pri).toBe(13 * 8 + 6);
      expect(line.msgId).toBe('inbound');
      expect(line.tenantId).toBe(fixture.tenantId);
    }
  }, 60_000);
});
