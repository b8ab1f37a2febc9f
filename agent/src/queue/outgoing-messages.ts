// What the directory's changes become in the outgoing queue: import objects, run markers and pulses
// (joinery.import.object.v1, joinery.import.run.v1, joinery.pulse.v1), with the state they advance.
// Pure: the runtime reads the last-known `enabled` flags, calls these, and commits the result at once.
import type { SealedSecret } from '../../../kernel/contracts/identity-events.ts';
import type {
  DirectoryChange,
  DirectoryRecord,
  ImportObjectMessage,
  ImportRunMessage,
  PulseMessage,
} from '../contracts.ts';
import type { OutgoingMessage, StateChanges } from './agent-store.ts';

export interface Target {
  tenantId: string;
  applicationId: string;
}

function objectMessage(
  target: Target,
  record: DirectoryRecord,
  observedAt: string,
  id: string,
  runId?: string,
): OutgoingMessage {
  const data: ImportObjectMessage = {
    tenantId: target.tenantId,
    applicationId: target.applicationId,
    ...(runId === undefined ? {} : { runId }),
    objectClass: record.objectClass,
    externalId: record.externalId,
    operation: 'upsert',
    // The DN travels with the object: group members and renames are expressed in DNs.
    attributes: 'dn' in record.attributes ? record.attributes : { ...record.attributes, dn: record.dn },
    observedAt,
  };
  return { id, type: 'joinery.import.object.v1', time: observedAt, data };
}

function pulse(target: Target, event: PulseMessage['event'], id: string): OutgoingMessage {
  const data: PulseMessage = { tenantId: target.tenantId, event, producedAt: event.at };
  return { id, type: 'joinery.pulse.v1', time: event.at, data };
}

/**
 * A delta's changes, in order: each upsert is an import object, and an `enabled` that differs from the last
 * one known is also an enable/disable pulse (an object seen for the first time is not a flip); a deletion is
 * an import object with operation delete. Returns the messages and the new `enabled` flags.
 */
export function deltaMessages(input: {
  target: Target;
  changes: DirectoryChange[];
  known: ReadonlyMap<string, boolean>;
  cookie: string;
  now: string;
  newId: () => string;
}): { messages: OutgoingMessage[]; changes: StateChanges } {
  const { target, now, newId } = input;
  const known = new Map(input.known);
  const messages: OutgoingMessage[] = [];
  const enabled = new Map<string, boolean>();
  const forget = new Set<string>();
  for (const change of input.changes) {
    if (change.operation === 'delete') {
      const data: ImportObjectMessage = {
        tenantId: target.tenantId,
        applicationId: target.applicationId,
        objectClass: change.objectClass,
        externalId: change.externalId,
        operation: 'delete',
        observedAt: now,
      };
      messages.push({ id: newId(), type: 'joinery.import.object.v1', time: now, data });
      known.delete(change.externalId);
      enabled.delete(change.externalId);
      forget.add(change.externalId);
      continue;
    }
    const { record } = change;
    messages.push(objectMessage(target, record, now, newId()));
    if (record.enabled === undefined) continue;
    const before = known.get(record.externalId);
    if (before !== undefined && before !== record.enabled) {
      const source = { applicationId: target.applicationId, externalId: record.externalId };
      messages.push(
        pulse(target, { type: record.enabled ? 'pulse.enable' : 'pulse.disable', at: now, source }, newId()),
      );
    }
    known.set(record.externalId, record.enabled);
    enabled.set(record.externalId, record.enabled);
    forget.delete(record.externalId);
  }
  return {
    messages,
    changes: {
      cookie: input.cookie,
      enabled: [...enabled].map(([externalId, value]) => ({ externalId, enabled: value })),
      forget: [...forget],
    },
  };
}

/** One page of a full import: import objects of the run; `enabled` is seeded, never flipped. */
export function fullImportPage(input: {
  target: Target;
  runId: string;
  records: DirectoryRecord[];
  now: string;
  newId: () => string;
}): { messages: OutgoingMessage[]; changes: StateChanges } {
  return {
    messages: input.records.map((record) =>
      objectMessage(input.target, record, input.now, input.newId(), input.runId),
    ),
    changes: {
      seedEnabled: input.records
        .filter((record) => record.enabled !== undefined)
        .map((record) => ({ externalId: record.externalId, enabled: record.enabled === true })),
    },
  };
}

export function runMarker(input: {
  target: Target;
  runId: string;
  phase: ImportRunMessage['phase'];
  objectCount?: number;
  now: string;
  id: string;
}): OutgoingMessage {
  const data: ImportRunMessage = {
    tenantId: input.target.tenantId,
    applicationId: input.target.applicationId,
    runId: input.runId,
    kind: 'full',
    phase: input.phase,
    ...(input.objectCount === undefined ? {} : { objectCount: input.objectCount }),
    at: input.now,
  };
  return { id: input.id, type: 'joinery.import.run.v1', time: input.now, data };
}

/** A captured password, already sealed to the tenant key: only the ciphertext is queued. */
export function passwordPulse(input: {
  target: Target;
  externalId: string;
  at: string;
  secret: SealedSecret;
  id: string;
}): OutgoingMessage {
  return pulse(
    input.target,
    {
      type: 'pulse.password',
      at: input.at,
      source: { applicationId: input.target.applicationId, externalId: input.externalId },
      secret: input.secret,
    },
    input.id,
  );
}
