// RFC 5424 syslog messages and their octet-counted framing over TCP or TLS (RFC 6587 §3.4.1, RFC 5425):
// `<length> <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`, the length in bytes of the message.
// The structured data carries the event id and tenant, so a collector can deduplicate without parsing MSG.
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import { stageOf } from './siem-event.ts';

/** An enterprise number reserved for documentation and examples (RFC 5612): the SD-ID is joinery@32473. */
const SD_ID = 'joinery@32473';

const severities = { info: 6, warn: 4, error: 3 } as const;

export interface SyslogHeader {
  /** 0-23; 13 (log audit) by default. */
  facility: number;
  hostname: string;
  appName: string;
}

/** PRINTUSASCII (33-126) only, at most `max` characters, "-" when empty (the NILVALUE). */
export function headerField(value: string, max: number): string {
  const printable = value.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return printable === '' ? '-' : printable;
}

/** An SD-PARAM value: ", \ and ] escaped with a backslash (RFC 5424 §6.3.3). */
export function escapeSdValue(value: string): string {
  return value.replace(/["\\\]]/g, (char) => `\\${char}`);
}

export function syslogMessage(header: SyslogHeader, id: string, event: LogEvent, payload: string): string {
  const pri = header.facility * 8 + severities[event.level];
  const msgId = headerField(stageOf(event) ?? event.category, 32);
  const sd = `[${SD_ID} eventId="${escapeSdValue(id)}" tenantId="${escapeSdValue(event.tenantId)}"]`;
  return `<${String(pri)}>1 ${event.at} ${headerField(header.hostname, 255)} ${headerField(header.appName, 48)} - ${msgId} ${sd} ${payload}`;
}

/** Octet-counted framing: the message's length in bytes, a space, the message. */
export function octetCounted(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${String(body.length)} `, 'ascii'), body]);
}
