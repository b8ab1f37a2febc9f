// One event in the destination's format: OCSF or ECS as one line of JSON, or a CEF line.
import { toCef } from './cef.ts';
import type { SiemFormat } from './destination.schema.ts';
import { toEcs } from './ecs.ts';
import { toOcsf } from './ocsf.ts';
import type { SiemEvent, SiemProduct } from './siem-event.ts';

export function formatEvent(format: SiemFormat, event: SiemEvent, product: SiemProduct): string {
  switch (format) {
    case 'ocsf':
      return JSON.stringify(toOcsf(event, product));
    case 'ecs':
      return JSON.stringify(toEcs(event, product));
    case 'cef':
      return toCef(event, product);
  }
}

/** An event on its way: what it is, and its payload in the destination's format. */
export interface FormattedEvent extends SiemEvent {
  payload: string;
}

/** How a destination takes a batch: resolves once it acknowledged all of it, in order; throws otherwise. */
export interface SiemTransport {
  deliver(events: readonly FormattedEvent[]): Promise<void>;
  close(): Promise<void>;
}
