// A logstream record as the live streams send it: its JSON text goes into the frame as it is (serialised
// once, by the stage that wrote the event), and only what the filters read is kept parsed. The schema is
// not checked again here: every writer of the logstream validates what it writes (the stages' own events
// through the outbox, the agent gateway what agents send), and the audit consumer dead-letters what fails.
import type { IHeaders } from 'kafkajs';
import { filterKeys, type FilterKeys } from './stream-filter.ts';
import type { LogEvent } from '../../kernel/contracts/messages.ts';

export interface StreamEvent {
  /** The event's JSON text, as on the topic. */
  json: string;
  keys: FilterKeys;
}

function header(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first?.toString();
}

/** The record's event, or why it is not one a live stream may send (the hub skips it). */
export function readStreamEvent(message: {
  value: Buffer | null;
  headers?: IHeaders;
}): StreamEvent | { skipped: string } {
  const type = header(message.headers, 'ce_type');
  if (type !== 'joinery.log.v1') return { skipped: `ce_type ${type ?? '(none)'} is not joinery.log.v1` };
  if (message.value === null) return { skipped: 'no value' };
  const json = message.value.toString('utf8');
  let event: unknown;
  try {
    event = JSON.parse(json);
  } catch {
    return { skipped: 'the value is not JSON' };
  }
  // A tenant's socket gets only what its tenant's header and data both say is its own.
  const tenantId = header(message.headers, 'ce_tenantid');
  if (
    typeof event !== 'object' ||
    event === null ||
    !('tenantId' in event) ||
    event.tenantId !== tenantId ||
    tenantId === undefined
  )
    return { skipped: 'ce_tenantid and data.tenantId differ' };
  return { json, keys: filterKeys(event as LogEvent) };
}

/** An event's frame (StreamFrame's `event`), built around its JSON text; `id` is "partition-offset". */
export function eventFrame(id: string, json: string): string {
  return `{"type":"event","id":"${id}","event":${json}}`;
}
