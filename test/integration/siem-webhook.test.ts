// SIEM export to an HTTPS webhook, for real: a local HTTPS server with a self-signed certificate (made by
// openssl for this test, trusted through the destination's `ca`), the engine's SIEM worker on real Kafka
// and PostgreSQL. The server answers 500 twice, then 200: the batch comes again, signed (HMAC-SHA256 over
// "<t>.<body>", verified as docs/siem.md tells receivers to), and the stored position moves only once it
// was acknowledged.
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngine, type Engine } from '../../src/runtime/engine-runtime.ts';
import { putDestination } from '../../src/siem/destinations.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';
import { logEvent, produceLogEvents } from '../support/live-streams.ts';
import { selfSignedCertificate } from '../support/self-signed.ts';
import { createStreamsFixture, query, waitFor, type StreamsFixture } from '../support/streams.ts';

const product = { name: 'Joinery', vendor: 'Joinery', version: 'test' };
const secret = randomBytes(32).toString('hex');

/** The receiver's check, as docs/siem.md shows it. */
function verify(header: string, rawBody: string, toleranceSeconds = 300): boolean {
  const parts: Record<string, string | undefined> = Object.fromEntries(
    header.split(',').map((part) => part.split('=') as [string, string]),
  );
  if (Math.abs(Date.now() / 1000 - Number(parts.t)) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret)
    .update(`${parts.t ?? ''}.${rawBody}`)
    .digest();
  const given = Buffer.from(parts.v1 ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

interface Received {
  status: number;
  signature: string;
  delivery: string;
  body: string;
  /** The destination's stored delivered count when the request arrived (before it was answered). */
  deliveredBefore: number;
}

describe('SIEM export to an HTTPS webhook (real HTTPS server, Kafka, PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let server: Server;
  const destinationId = randomUUID();
  const received: Received[] = [];

  const delivered = async () => {
    const rows = await query<{ delivered: string }>(
      fixture.database.url,
      `select coalesce(sum(delivered), 0) as delivered from siem_delivery where destination_id = $1`,
      [destinationId],
    );
    return Number(rows[0]?.delivered ?? 0);
  };

  beforeAll(async () => {
    const { key, cert } = selfSignedCertificate();
    fixture = await createStreamsFixture();
    let answered = 0;
    server = createServer({ key, cert }, (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        void delivered().then((deliveredBefore) => {
          // The first two attempts fail: the collector is having a bad moment.
          const status = ++answered <= 2 ? 500 : 200;
          received.push({
            status,
            signature: String(request.headers['joinery-signature']),
            delivery: String(request.headers['joinery-delivery']),
            body: Buffer.concat(chunks).toString('utf8'),
            deliveredBefore,
          });
          response.writeHead(status).end();
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const keyring = { current: randomBytes(32), previous: [] };
    await putDestination(fixture.orm.em.fork(), keyring, fixture.tenantId, destinationId, {
      kind: 'webhook',
      name: uniqueName('webhook'),
      format: 'ocsf',
      settings: { url: `https://127.0.0.1:${String(port)}/joinery?token=x`, batchSize: 100, ca: cert },
      secret,
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
        keyring,
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

  it('posts signed batches, sends them again after a 500, and moves its position only after a 2xx', async () => {
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
    await waitFor(
      'the webhook to acknowledge every event',
      async () => ((await delivered()) >= events.length ? true : undefined),
      60_000,
    );

    const statuses = received.map((request) => request.status);
    expect(statuses.slice(0, 3)).toEqual([500, 500, 200]);
    for (const request of received) expect(verify(request.signature, request.body)).toBe(true);
    // A forged body does not pass.
    expect(verify(received[0]?.signature ?? '', `${received[0]?.body ?? ''} `)).toBe(false);
    // The same batch each time, named by its first event's id; nothing counted delivered before the 200.
    const [first, second, third] = received;
    expect(second?.delivery).toBe(first?.delivery);
    expect(third?.delivery).toBe(first?.delivery);
    expect(third?.body).toBe(first?.body);
    expect(received.slice(0, 3).map((request) => request.deliveredBefore)).toEqual([0, 0, 0]);
    const body = JSON.parse(third?.body ?? '{}') as { format: string; events: { message: string }[] };
    expect(body.format).toBe('ocsf');
    expect(body.events.map((event) => event.message)).toEqual(events.map((event) => event.message));
    expect(await delivered()).toBe(events.length);
  }, 90_000);
});
