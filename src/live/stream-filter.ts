// Which logstream events a stream socket receives: its tenant's, narrowed by its filters.
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import type { StreamFilter } from './stream-messages.ts';

/** What the filters read of an event: all the hub keeps of it beside its frame. */
export interface FilterKeys {
  tenantId: string;
  runId?: string;
  applicationId?: string;
  identityId?: string;
  // LogEventSchema builds stage and outcome from arrays, which its derived type reads as undefined: as text.
  stage?: string;
  outcome?: string;
}

/** The filter keys of an event (a parsed one: everything else in it can be let go). */
export function filterKeys(event: LogEvent): FilterKeys {
  const tagged: { stage?: string; outcome?: string } = event;
  return {
    tenantId: event.tenantId,
    runId: event.runId,
    applicationId: event.applicationId,
    identityId: event.identityId,
    stage: tagged.stage,
    outcome: tagged.outcome,
  };
}

export function matchesFilter(tenantId: string, filter: StreamFilter, event: FilterKeys): boolean {
  return (
    event.tenantId === tenantId &&
    (filter.run === undefined || event.runId === filter.run) &&
    (filter.application === undefined || event.applicationId === filter.application) &&
    (filter.identity === undefined || event.identityId === filter.identity) &&
    (filter.stage === undefined || event.stage === filter.stage) &&
    (filter.outcome === undefined || event.outcome === filter.outcome)
  );
}
