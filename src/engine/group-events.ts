// What happens to Vault groups, as logstream events (pure): a group imported (created, or its members
// changed), deleted in its source, and its exports queued. Every one carries `groupId`, so the audit
// history finds a group's events (GET /v1/audit?groupId=…). A membership change lists the member
// references added and removed as the changes `members.added` (new) and `members.removed` (old).
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import type { NewExport } from './export-queue.ts';
import type { DeletedObject } from './inbound.ts';
import { queuedEvent } from './outbound-stage.ts';

/** The most references one event lists per side (the history says who, it is not a copy of the group). */
const MAX_LISTED = 50;

type Changes = NonNullable<LogEvent['changes']>;

function listed(references: string[]): string[] {
  return [...references].sort().slice(0, MAX_LISTED);
}

function memberChanges(members: { added: string[]; removed: string[] }): Changes {
  return [
    ...(members.added.length === 0 ? [] : [{ attribute: 'members.added', new: listed(members.added) }]),
    ...(members.removed.length === 0 ? [] : [{ attribute: 'members.removed', old: listed(members.removed) }]),
  ];
}

function counted(members: { added: string[]; removed: string[] }): string {
  return `${String(members.added.length)} member(s) added, ${String(members.removed.length)} removed`;
}

/** A group object imported into the Vault: created, or changed (with its membership differences). */
export function groupImportedEvent(group: {
  id: string;
  tenant_id: string;
  application_id: string;
  external_id: string;
  object_class: string;
  name: string;
  created: boolean;
  observedAt: string;
  members: { added: string[]; removed: string[] };
}): LogEvent {
  return {
    tenantId: group.tenant_id,
    at: group.observedAt,
    level: 'info',
    category: 'group',
    stage: 'import',
    outcome: 'succeeded',
    message: group.created
      ? `group ${group.name} created in the Vault with ${String(group.members.added.length)} member(s)`
      : `group ${group.name} changed: ${counted(group.members)}`,
    groupId: group.id,
    applicationId: group.application_id,
    objectClass: group.object_class,
    externalId: group.external_id,
    changes: memberChanges(group.members),
  };
}

/** A group deleted in its source application: deleted in the Vault (its copies are deleted next). */
export function groupDeletedEvent(groupId: string, object: DeletedObject): LogEvent {
  return {
    tenantId: object.tenantId,
    at: object.at,
    level: 'info',
    category: 'group',
    stage: 'import',
    outcome: 'succeeded',
    message: `group ${object.externalId} deleted in its source, deleted in the Vault`,
    groupId,
    applicationId: object.applicationId,
    externalId: object.externalId,
  };
}

/** A group's operation queued, held or decided in sandbox for a target application. */
export function groupExportEvent(item: NewExport, at: Date): LogEvent {
  // The export queue names a group's operations by the group's id in `identityId`.
  const { identityId, changes, message, ...event } = queuedEvent(item, at);
  const members = { added: item.members?.add ?? [], removed: item.members?.remove ?? [] };
  const membership = item.members === undefined ? '' : ` (${counted(members)})`;
  const all = [...(changes ?? []), ...memberChanges(members)];
  return {
    ...event,
    category: 'group',
    groupId: identityId ?? item.identityId,
    message: `group ${message}${membership}`,
    ...(all.length === 0 ? {} : { changes: all }),
  };
}
