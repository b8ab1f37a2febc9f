// The CPU one logstream event costs the live hub and the audit consumer's insert document, in this process
// (no infrastructure), beside the raw limit measured in the same run: parsing the value's JSON text.
//   node test/bench/logstream-event-cost.ts [--events 2000] [--rounds 40]
// "generic" is what the hub did before it read records itself: the full decode (headers, JSON, schema,
// storable text) and the frame serialised again; the audit document is given "stringified" (event
// serialised again) and "spliced" (the value's text as it came).
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { auditColumns, auditDocument } from '../../src/audit/audit-store.ts';
import { eventFrame, readStreamEvent } from '../../src/live/stream-events.ts';
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import { decodeMessage, encodeMessage } from '../../streams/cloudevents.ts';
import { say } from './bench-support.ts';

const { values: args } = parseArgs({
  options: { events: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '40' } },
});
const count = Number(args.events);
const rounds = Number(args.rounds);
const tenantId = randomUUID();
const runId = randomUUID();
const applicationId = randomUUID();
// The shape of an initial load's event: an identity created from an HR record, its attributes listed.
const events: LogEvent[] = Array.from({ length: count }, (_, i) => ({
  tenantId,
  at: new Date().toISOString(),
  level: 'info',
  category: 'identity',
  message: `identity created from hr W${String(i)}`,
  stage: 'inbound',
  outcome: 'succeeded',
  runId,
  identityId: randomUUID(),
  applicationId,
  objectClass: 'worker',
  externalId: `W${String(i)}`,
  actor: { kind: 'engine' },
  changes: ['givenName', 'surname', 'title', 'department'].map((attribute) => ({
    attribute,
    new: `${attribute} ${String(i)}`,
  })),
}));
// As consumed: the value and the headers as bytes.
const records = events.map((event) => {
  const message = encodeMessage({
    id: randomUUID(),
    type: 'joinery.log.v1',
    source: '/joinery/engine/bench',
    time: event.at,
    tenantId,
    data: event,
  });
  return {
    value: Buffer.from(message.value ?? ''),
    headers: Object.fromEntries(
      Object.entries(message.headers ?? {}).map(([name, value]) => [name, Buffer.from(String(value))]),
    ),
  };
});

/** CPU (user + system) per event of `run` over all the events, after a warm-up. */
function cpuPerEvent(run: () => unknown): number {
  for (let round = 0; round < 5; round++) run();
  const start = process.cpuUsage();
  for (let round = 0; round < rounds; round++) run();
  const spent = process.cpuUsage(start);
  return (spent.user + spent.system) / rounds / count;
}

const figures = {
  rawParse: cpuPerEvent(() => records.map((record) => JSON.parse(record.value.toString('utf8')) as unknown)),
  hubGeneric: cpuPerEvent(() =>
    records.map((record, index) => {
      const decoded = decodeMessage('logstream', record);
      return decoded.ok
        ? JSON.stringify({ type: 'event', id: `0-${String(index)}`, event: decoded.envelope.data })
        : '';
    }),
  ),
  hub: cpuPerEvent(() =>
    records.map((record, index) => {
      const read = readStreamEvent(record);
      return 'skipped' in read ? '' : eventFrame(`0-${String(index)}`, read.json);
    }),
  ),
  auditStringified: cpuPerEvent(() =>
    JSON.stringify(
      events.map((event, index) => ({ ...auditColumns({ eventId: String(index), event }), event })),
    ),
  ),
  auditSpliced: cpuPerEvent(() =>
    auditDocument(
      records.map((record, index) => ({
        eventId: String(index),
        event: events[index] as LogEvent,
        json: record.value.toString('utf8'),
      })),
    ),
  ),
};
const us = (value: number) => `${value.toFixed(2)} µs`;
say(
  `${String(count)} events of ${String(records[0]?.value.length)} bytes, ${String(rounds)} rounds; load average ${loadavg()
    .map((value) => value.toFixed(2))
    .join(' ')}`,
);
say(`raw: JSON.parse of the value ${us(figures.rawParse)} per event`);
say(
  `hub: generic decode + frame serialised ${us(figures.hubGeneric)} → read + frame around the text ${us(figures.hub)}`,
);
say(
  `audit document: event serialised again ${us(figures.auditStringified)} → value text spliced ${us(figures.auditSpliced)}`,
);
