// Which logstream events a stream socket receives: its tenant's, narrowed by its filters.
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import type { StreamFilter } from './stream-messages.ts';

export function matchesFilter(tenantId: string, filter: StreamFilter, event: LogEvent): boolean {
  // LogEventSchema builds stage and outcome from arrays, which its derived type reads as undefined: as text.
  const tagged: { stage?: string; outcome?: string } = event;
  return (
    event.tenantId === tenantId &&
    (filter.run === undefined || event.runId === filter.run) &&
    (filter.application === undefined || event.applicationId === filter.application) &&
    (filter.identity === undefined || event.identityId === filter.identity) &&
    (filter.stage === undefined || tagged.stage === filter.stage) &&
    (filter.outcome === undefined || tagged.outcome === filter.outcome)
  );
}
