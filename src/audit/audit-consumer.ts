// The audit history's consumer: logstream events into audit_event, a partition's batch in one statement
// inside the exactly-once batch transaction (streams/partition-batch.ts), idempotent on the CloudEvents id
// when the relay publishes an event twice. An event dated more than a day ahead is refused to deadletter:
// it would make a partition for a day that has not come.
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import type { BatchHandler, Rejection } from '../../streams/partition-batch.ts';
import { insertAuditEvents, type AuditEntry } from './audit-store.ts';

const FUTURE_LIMIT_MS = 86_400_000;

export interface AuditCounters {
  /** Events stored. */
  stored: number;
  /** Events already stored (redelivered). */
  duplicates: number;
}

export function createAuditBatchHandler(options: { now?: () => Date } = {}): BatchHandler & {
  readonly counters: AuditCounters;
} {
  const now = options.now ?? (() => new Date());
  const knownDays = new Set<string>();
  const counters: AuditCounters = { stored: 0, duplicates: 0 };
  const handler = async (...[tx, messages]: Parameters<BatchHandler>) => {
    const entries: AuditEntry[] = [];
    const rejected: Rejection[] = [];
    const latest = now().getTime() + FUTURE_LIMIT_MS;
    for (const { envelope, message } of messages) {
      if (envelope.type !== 'joinery.log.v1') {
        rejected.push({
          message,
          reason: `the logstream carries joinery.log.v1 events, not ${envelope.type}`,
          code: 'JNY_MESSAGE_INVALID',
        });
        continue;
      }
      const event = envelope.data as LogEvent;
      if (Date.parse(event.at) > latest) {
        rejected.push({
          message,
          reason: `the event is dated ${event.at}, more than a day ahead: not stored in the audit history`,
          code: 'JNY_MESSAGE_INVALID',
        });
        continue;
      }
      // The value's text is what decodeMessage parsed and validated: stored as it is, not serialised again.
      entries.push({
        eventId: envelope.id,
        event,
        ...(message.value === null ? {} : { json: message.value.toString('utf8') }),
      });
    }
    const { inserted, days } = await insertAuditEvents(tx, entries, knownDays);
    return {
      outbox: [],
      rejected,
      afterCommit: () => {
        for (const day of days) knownDays.add(day);
        counters.stored += inserted;
        counters.duplicates += entries.length - inserted;
      },
    };
  };
  return Object.assign(handler, { counters });
}
