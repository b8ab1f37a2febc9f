// Logstream events as outbox rows, and the attribute changes they carry: the pure helpers every stage
// uses to say what it decided (joinery.log.v1, docs/audit.md). A stage collects its batch's events and
// writes them with the batch's other outbox rows (one outbox insert per batch).
import type { AttributeValue, Attributes } from '../kernel/contracts/identity-events.ts';
import { MASKED_VALUE, isSealedValue, type LogEvent } from '../kernel/contracts/messages.ts';
import { outboxMessage, type OutboxRow } from './outbox.ts';

/** Where a stage's events go: the logstream topic's broker-side name, and the stage's ce_source. */
export interface LogstreamTarget {
  topic: string;
  source: string;
}

export type AttributeChange = NonNullable<LogEvent['changes']>[number];

/** The most changes one event lists (the contract's limit). */
const MAX_CHANGES = 512;
/** Longer text values are cut: the history says what changed, it is not a copy of a photo. */
const MAX_TEXT = 1000;

/** A logstream event as an outbox row; `id` must be deterministic (a redelivery keeps it, storage dedupes on it). */
export function logRow(target: LogstreamTarget, id: string, event: LogEvent): OutboxRow {
  return outboxMessage(target.topic, {
    id,
    type: 'joinery.log.v1',
    source: target.source,
    time: event.at,
    tenantId: event.tenantId,
    data: event,
  });
}

function shortened(value: AttributeValue): AttributeValue {
  if (typeof value === 'string')
    return value.length > MAX_TEXT
      ? `${value.slice(0, MAX_TEXT)}… (${String(value.length)} characters)`
      : value;
  if (Array.isArray(value)) return value.slice(0, 50).map((item) => shortened(item) as typeof item);
  return value;
}

function same(a: AttributeValue | undefined, b: AttributeValue | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The attributes that differ between `before` and `after`, old → new (a side without a value is left out),
 * in attribute name order; the values of `sensitive` attributes read MASKED_VALUE on both sides.
 */
export function attributeChanges(
  before: Attributes,
  after: Attributes,
  sensitive: ReadonlySet<string> = new Set(),
): AttributeChange[] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const changes: AttributeChange[] = [];
  for (const attribute of names) {
    const old = before[attribute];
    const value = after[attribute];
    if (same(old, value)) continue;
    // A sealed value (src/secrets/) is masked whatever the plan in force says of its attribute.
    const masked = sensitive.has(attribute) || isSealedValue(old) || isSealedValue(value);
    changes.push({
      attribute,
      ...(old === undefined ? {} : { old: masked ? MASKED_VALUE : shortened(old) }),
      ...(value === undefined ? {} : { new: masked ? MASKED_VALUE : shortened(value) }),
    });
    if (changes.length === MAX_CHANGES) break;
  }
  return changes;
}

/** Values to be written, as changes with no old side; sensitive ones masked. */
export function maskedValues(
  attributes: Attributes | undefined,
  sensitive: ReadonlySet<string> = new Set(),
): AttributeChange[] {
  return attributeChanges({}, attributes ?? {}, sensitive);
}
