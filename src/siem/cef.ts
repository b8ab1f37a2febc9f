// A logstream event as an ArcSight CEF:0 line. The header's fields escape \ and |, the extension's values
// escape \ and = and write line breaks as \n and \r (CEF Implementation Standard, rev. 25); keys are
// CEF's own names, the fields without one go to the labelled custom strings cs1…cs6 and flexString1/2, the lifecycle change to joineryLifecycle.
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import {
  actionOf,
  changesText,
  objectOf,
  outcomeOf,
  stageOf,
  subjectOf,
  type SiemEvent,
  type SiemProduct,
} from './siem-event.ts';

const severities = { info: 3, warn: 6, error: 8 } as const;

/** A header field: backslash and pipe escaped; a line break cannot appear there, so it becomes a space. */
export function escapeCefHeader(value: string): string {
  return value.replace(/[\\|]/g, (char) => `\\${char}`).replace(/\r\n|[\r\n]/g, ' ');
}

/** An extension value: backslash and equals sign escaped, line breaks as \n and \r. */
export function escapeCefValue(value: string): string {
  return value
    .replace(/[\\=]/g, (char) => `\\${char}`)
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n');
}

function extension(event: LogEvent, id: string): [string, string | undefined][] {
  const decidedBy =
    event.decidedBy === undefined ? undefined : `${event.decidedBy.kind}:${event.decidedBy.name}`;
  return [
    ['rt', String(Date.parse(event.at))],
    ['externalId', id],
    ['cat', event.category],
    ['act', actionOf(event)],
    ['outcome', outcomeOf(event)],
    ['msg', event.message],
    [
      'reason',
      event.reason === undefined
        ? event.errorCode
        : `${event.errorCode ?? ''}${event.errorCode === undefined ? '' : ': '}${event.reason}`,
    ],
    ['duid', event.identityId],
    ['suid', event.actor?.id],
    ['suser', event.actor?.name ?? event.actor?.kind],
    ['cs1Label', 'tenantId'],
    ['cs1', event.tenantId],
    ['cs2Label', event.runId === undefined ? undefined : 'runId'],
    ['cs2', event.runId],
    ['cs3Label', event.groupId === undefined ? undefined : 'groupId'],
    ['cs3', event.groupId],
    ['cs4Label', event.applicationId === undefined ? undefined : 'applicationId'],
    ['cs4', event.applicationId],
    ['cs5Label', event.externalId === undefined ? undefined : 'object'],
    ['cs5', objectOf(event)],
    ['cs6Label', stageOf(event) === undefined ? undefined : 'stage'],
    ['cs6', stageOf(event)],
    ['flexString1Label', event.changes === undefined ? undefined : 'changes'],
    ['flexString1', changesText(event)],
    ['flexString2Label', decidedBy === undefined ? undefined : 'decidedBy'],
    ['flexString2', decidedBy],
    // No CEF key says "a state change": a vendor key, kept as additional data by ArcSight and others.
    [
      'joineryLifecycle',
      event.lifecycle === undefined ? undefined : `${event.lifecycle.from}->${event.lifecycle.to}`,
    ],
  ];
}

export function toCef(siem: SiemEvent, product: SiemProduct): string {
  const { event } = siem;
  const signature = `${stageOf(event) ?? event.category}:${subjectOf(event)}:${actionOf(event)}`;
  const header = [
    'CEF:0',
    escapeCefHeader(product.vendor),
    escapeCefHeader(product.name),
    escapeCefHeader(product.version),
    escapeCefHeader(signature),
    escapeCefHeader(event.message.length > 512 ? `${event.message.slice(0, 511)}…` : event.message),
    String(severities[event.level]),
  ].join('|');
  const pairs = extension(event, siem.id)
    .filter((pair): pair is [string, string] => pair[1] !== undefined)
    .map(([key, value]) => `${key}=${escapeCefValue(value)}`);
  return `${header}|${pairs.join(' ')}`;
}
