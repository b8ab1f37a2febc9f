// What the project's rsyslog received (src/infra/rsyslog.ts writes each message as a line of its file, as
// framed by the sender), read back as the RFC 5424 messages Joinery's syslog transport sends.
import { existsSync, readFileSync } from 'node:fs';
import type { RsyslogService } from '../../src/infra/rsyslog.ts';

/** One line rsyslog wrote: the RFC 5424 message as received, split into its parts. */
export interface Received {
  pri: number;
  msgId: string;
  eventId: string;
  tenantId: string;
  payload: Record<string, unknown>;
}

const rfc5424 =
  /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) \[joinery@32473 eventId="([^"]+)" tenantId="([^"]+)"\] (.*)$/;

/** The messages rsyslog received for one tenant; a line that is not one as Joinery frames it throws. */
export function receivedBy(rsyslog: RsyslogService, tenantId: string): Received[] {
  if (!existsSync(rsyslog.receivedFile)) return [];
  return readFileSync(rsyslog.receivedFile, 'utf8')
    .split('\n')
    .filter((line) => line.includes(`tenantId="${tenantId}"`))
    .map((line) => {
      const parts = rfc5424.exec(line);
      if (parts === null) throw new Error(`not an RFC 5424 message as Joinery frames it: ${line}`);
      return {
        pri: Number(parts[1]),
        msgId: parts[6] ?? '',
        eventId: parts[7] ?? '',
        tenantId: parts[8] ?? '',
        payload: JSON.parse(parts[9] ?? '') as Record<string, unknown>,
      };
    });
}
