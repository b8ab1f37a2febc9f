// A logstream event as SIEM formats see it: the joinery.log.v1 data with its CloudEvent id (unique per
// event, kept across redeliveries: a receiver deduplicates by it) and what it is about, decided once here
// so OCSF, CEF and ECS agree: its subject (a Vault identity, a Vault group, or an identity's access to an
// application's account) and a normalised action.
import { readFileSync } from 'node:fs';
import type { LogEvent } from '../../kernel/contracts/messages.ts';

export interface SiemEvent {
  /** The CloudEvent id (ce_id). */
  id: string;
  event: LogEvent;
}

/** Who produced it, for the formats' product fields. */
export interface SiemProduct {
  name: string;
  vendor: string;
  version: string;
}

// The contract's `stage` and `outcome` are unions built from arrays, which TypeBox's Static types as
// `undefined`; read as the strings they are at run time (validated by the schema) until the contract's
// types are fixed.
export const stageOf = (event: LogEvent): string | undefined => event.stage;
export const outcomeOf = (event: LogEvent): string | undefined => event.outcome;

/** Joinery as the formats name it, its version read from package.json. */
export function joineryProduct(): SiemProduct {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return { name: 'Joinery', vendor: 'Joinery', version };
}

export type SiemSubject = 'user' | 'group' | 'access';

export type SiemAction =
  | 'create'
  | 'enable'
  | 'disable'
  | 'delete'
  | 'password'
  | 'leave'
  | 'update'
  | 'join'
  | 'unjoin'
  | 'add-member'
  | 'remove-member'
  | 'other';

/**
 * A Vault group's events are about the group; joins, and the outbound and export stages' events about an
 * application's account, are about an identity's access to that application; everything else (lifecycle,
 * import, inbound, pulses, admin actions) is about the identity (or, without one, the account or actor).
 */
export function subjectOf(event: LogEvent): SiemSubject {
  if (event.groupId !== undefined) return 'group';
  if (stageOf(event) === 'join' || event.category === 'join') return 'access';
  if (event.lifecycle === undefined && event.applicationId !== undefined) {
    if (stageOf(event) === 'outbound' || stageOf(event) === 'export') return 'access';
  }
  return 'user';
}

const stateActions: Record<string, SiemAction> = {
  deleted: 'delete',
  disabled: 'disable',
  leaver: 'leave',
};

/** What happened, from the lifecycle change first, then the attribute changes, then the message's verb. */
export function actionOf(event: LogEvent): SiemAction {
  const { lifecycle } = event;
  if (lifecycle !== undefined) {
    if (lifecycle.from === 'joiner' || lifecycle.from === 'none') return 'create';
    const byState = stateActions[lifecycle.to];
    if (byState !== undefined && lifecycle.from !== lifecycle.to) return byState;
    if (lifecycle.to === 'active') return 'enable';
    return 'update';
  }
  const text = event.message.toLowerCase();
  if (event.groupId !== undefined) {
    const members = event.changes?.find((change) => /^members?$/i.test(change.attribute));
    if (members !== undefined) {
      if (members.new !== undefined && members.old === undefined) return 'add-member';
      if (members.old !== undefined && members.new === undefined) return 'remove-member';
    }
  }
  if (/\bunjoin/.test(text)) return 'unjoin';
  if (/\bjoin(ed)?\b/.test(text)) return 'join';
  if (event.category === 'password' || event.changes?.some((change) => /password/i.test(change.attribute)))
    return 'password';
  if (/\b(creat|provision)/.test(text)) return 'create';
  if (/\bdelet/.test(text)) return 'delete';
  if (/\bdisabl/.test(text)) return 'disable';
  if (/\benabl/.test(text)) return 'enable';
  if (event.changes !== undefined && event.changes.length > 0) return 'update';
  return 'other';
}

/** The object the event is about in an application, as one line: class/anchor, or the anchor alone. */
export function objectOf(event: LogEvent): string | undefined {
  if (event.externalId === undefined) return undefined;
  return event.objectClass === undefined ? event.externalId : `${event.objectClass}/${event.externalId}`;
}

/** JSON of the attribute changes (values already masked by the producer where the plan says sensitive). */
export function changesText(event: LogEvent): string | undefined {
  return event.changes === undefined || event.changes.length === 0
    ? undefined
    : JSON.stringify(event.changes);
}
