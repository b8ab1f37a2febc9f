// SIEM export as syslog over TLS to the real rsyslog (Debian's, with rsyslog-gnutls: imtcp's gtls stream
// driver on its own port, a self-signed certificate for 127.0.0.1 trusted through the destination's
// `tls.ca`): a sync's logstream events, from real Kafka and PostgreSQL, arrive as octet-counted RFC 5424
// frames (RFC 5425) carrying OCSF JSON. A destination that does not trust rsyslog's certificate delivers
// nothing and says why.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import { createRsyslog, type RsyslogService } from '../../src/infra/rsyslog.ts';
import { startEngine, type Engine } from '../../src/runtime/engine-runtime.ts';
import { getDestination, putDestination } from '../../src/siem/destinations.ts';
import { toOcsf } from '../../src/siem/ocsf.ts';
import { decodeMessage } from '../../streams/cloudevents.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';
import { receivedBy } from '../support/rsyslog-received.ts';
import { selfSignedCertificate } from '../support/self-signed.ts';
import {
  createStreamsFixture,
  identityMessage,
  inbound,
  readTopic,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';

const product = { name: 'Joinery', vendor: 'Joinery', version: 'test' };
/** The logstream events one identity below makes: its inbound changes, created, disabled. */
const EVENTS_PER_IDENTITY = 3;

describe('SIEM export as syslog over TLS (real rsyslog with gtls, Kafka, PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let rsyslog: RsyslogService;
  const untrusting = randomUUID();
  const warnings: string[] = [];
  const onWarning = (warning: Error & { code?: string }) => warnings.push(warning.code ?? warning.message);

  beforeAll(async () => {
    process.on('warning', onWarning);
    rsyslog = createRsyslog();
    await rsyslog.up();
    fixture = await createStreamsFixture();
    await putDestination(fixture.orm.em.fork(), undefined, fixture.tenantId, randomUUID(), {
      kind: 'syslog',
      name: uniqueName('rsyslog-tls'),
      format: 'ocsf',
      settings: {
        host: rsyslog.host,
        port: rsyslog.tlsPort,
        tls: { ca: readFileSync(rsyslog.certificateFile, 'utf8') },
      },
    });
    // Trusts another certificate than the one rsyslog shows.
    await putDestination(fixture.orm.em.fork(), undefined, fixture.tenantId, untrusting, {
      kind: 'syslog',
      name: uniqueName('rsyslog-tls-untrusted'),
      format: 'ocsf',
      settings: { host: rsyslog.host, port: rsyslog.tlsPort, tls: { ca: selfSignedCertificate().cert } },
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
  }, 180_000);
  afterAll(async () => {
    process.off('warning', onWarning);
    await engine.stop();
    await fixture.close();
  });

  it("delivers a sync's events to rsyslog over TLS as octet-counted RFC 5424 frames with OCSF JSON", async () => {
    const ids = Array.from({ length: 20 }, () => randomUUID());
    await fixture.send(
      'identity',
      ids.flatMap((id, index) => [
        identityMessage(
          fixture.tenantId,
          id,
          inbound({ mail: `p${String(index)}@example.com` }, { externalId: id }),
        ),
        identityMessage(fixture.tenantId, id, inbound({}, { externalId: id, lifecycle: 'disabled' })),
      ]),
    );
    const expected = ids.length * EVENTS_PER_IDENTITY;
    const produced = new Map<string, LogEvent>();
    for (const message of await readTopic(
      fixture.bus,
      fixture.topic('logstream'),
      (all) => all.length >= expected,
      60_000,
    )) {
      const decoded = decodeMessage('logstream', message);
      if (decoded.ok && decoded.envelope.tenantId === fixture.tenantId)
        produced.set(decoded.envelope.id, decoded.envelope.data as LogEvent);
    }
    expect(produced.size).toBe(expected);

    const received = await waitFor('rsyslog to receive every event over TLS', async () => {
      const lines = receivedBy(rsyslog, fixture.tenantId);
      return new Set(lines.map((line) => line.eventId)).size >= expected ? lines : undefined;
    });
    // rsyslog split the stream into exactly the messages sent: each one whole, its OCSF JSON intact.
    const byId = new Map(received.map((line) => [line.eventId, line]));
    expect([...byId.keys()].sort()).toEqual([...produced.keys()].sort());
    for (const [id, event] of produced) {
      const line = byId.get(id);
      expect(line?.payload).toEqual(toOcsf({ id, event }, product));
      expect(line?.pri).toBe(13 * 8 + 6);
      expect(line?.msgId).toBe(event.stage ?? event.category);
    }
    // The collector is given by IP address: no TLS server name is sent for it (Node's DEP0123).
    expect(warnings).not.toContain('DEP0123');
  }, 120_000);

  it('delivers nothing to a collector whose certificate it does not trust, and says why', async () => {
    const destination = await waitFor('the untrusting destination to record a failure', async () => {
      const found = await getDestination(fixture.orm.em.fork(), fixture.tenantId, untrusting);
      return found.delivery.failures > 0 ? found : undefined;
    });
    expect(destination.delivery.delivered).toBe(0);
    expect(destination.delivery.lastError).toContain(
      `syslog collector tls://${rsyslog.host}:${String(rsyslog.tlsPort)} unreachable`,
    );
    expect(destination.delivery.lastError).toMatch(/certificate/);
  }, 60_000);
});
