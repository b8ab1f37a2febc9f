// A logstream event as an OCSF 1.3 event of the Identity & Access Management category (3): Account
// Change (3001) for an identity, Group Management (3006) for a Vault group, User Access Management
// (3005) for an identity's access to an application's account. Every class's required fields are set;
// what OCSF has no attribute for (stage, joining rule, attribute changes, lifecycle) is in `unmapped`.
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import {
  actionOf,
  objectOf,
  outcomeOf,
  stageOf,
  subjectOf,
  type SiemAction,
  type SiemEvent,
  type SiemProduct,
} from './siem-event.ts';

export const OCSF_VERSION = '1.3.0';
const IAM_CATEGORY = 3;

export const ocsfClasses = {
  accountChange: { uid: 3001, name: 'Account Change' },
  userAccessManagement: { uid: 3005, name: 'User Access Management' },
  groupManagement: { uid: 3006, name: 'Group Management' },
} as const;

const accountActivities: Partial<Record<SiemAction, [number, string]>> = {
  create: [1, 'Create'],
  enable: [2, 'Enable'],
  password: [3, 'Password Change'],
  disable: [5, 'Disable'],
  delete: [6, 'Delete'],
};
const groupActivities: Partial<Record<SiemAction, [number, string]>> = {
  'add-member': [3, 'Add User'],
  'remove-member': [4, 'Remove User'],
  delete: [5, 'Delete'],
  create: [6, 'Create'],
};
const revoking = new Set<SiemAction>(['unjoin', 'disable', 'delete', 'leave']);

const severities = { info: [1, 'Informational'], warn: [3, 'Medium'], error: [4, 'High'] } as const;

function status(event: LogEvent): { status_id: number; status: string } {
  switch (outcomeOf(event)) {
    case undefined:
      return { status_id: 0, status: 'Unknown' };
    case 'succeeded':
      return { status_id: 1, status: 'Success' };
    case 'failed':
      return { status_id: 2, status: 'Failure' };
    default:
      return { status_id: 99, status: outcomeOf(event) ?? 'Other' };
  }
}

const other = (action: SiemAction): [number, string] => [99, action === 'other' ? 'Other' : action];

/** The OCSF user: the identity, else the account in its application, else whoever acted. */
function user(event: LogEvent): Record<string, unknown> {
  const account =
    event.externalId === undefined
      ? undefined
      : {
          uid: event.externalId,
          ...(event.objectClass === undefined ? {} : { type: event.objectClass }),
          ...(event.applicationId === undefined ? {} : { name: event.applicationId }),
        };
  if (event.identityId !== undefined)
    return { uid: event.identityId, type_id: 1, type: 'User', ...(account === undefined ? {} : { account }) };
  if (account !== undefined) return { uid: account.uid, type_id: 1, type: 'User', account };
  return actorUser(event) ?? { uid: event.tenantId, type_id: 3, type: 'System', name: 'joinery' };
}

function actorUser(event: LogEvent): Record<string, unknown> | undefined {
  if (event.actor === undefined) return undefined;
  const { kind, id, name } = event.actor;
  return {
    uid: id ?? kind,
    ...(name === undefined ? {} : { name }),
    type_id: kind === 'service-account' || kind === 'engine' ? 3 : 99,
    type: kind === 'service-account' || kind === 'engine' ? 'System' : kind,
  };
}

export function toOcsf(siem: SiemEvent, product: SiemProduct): Record<string, unknown> {
  const { event } = siem;
  const action = actionOf(event);
  const subject = subjectOf(event);
  const classOf =
    subject === 'group'
      ? ocsfClasses.groupManagement
      : subject === 'access'
        ? ocsfClasses.userAccessManagement
        : ocsfClasses.accountChange;
  const [activityId, activityName] =
    subject === 'group'
      ? (groupActivities[action] ?? other(action))
      : subject === 'access'
        ? revoking.has(action)
          ? [2, 'Revoke Privileges']
          : [1, 'Assign Privileges']
        : (accountActivities[action] ?? other(action));
  const [severityId, severity] = severities[event.level];
  const time = Date.parse(event.at);
  const object = objectOf(event);
  const actor = actorUser(event);
  const unmapped: Record<string, unknown> = {
    tenant_id: event.tenantId,
    category: event.category,
    ...(stageOf(event) === undefined ? {} : { stage: stageOf(event) }),
    ...(outcomeOf(event) === undefined ? {} : { outcome: outcomeOf(event) }),
    ...(event.runId === undefined ? {} : { run_id: event.runId }),
    ...(event.applicationId === undefined ? {} : { application_id: event.applicationId }),
    ...(event.objectClass === undefined ? {} : { object_class: event.objectClass }),
    ...(event.externalId === undefined ? {} : { external_id: event.externalId }),
    ...(event.objectCount === undefined ? {} : { object_count: event.objectCount }),
    ...(event.decidedBy === undefined ? {} : { decided_by: event.decidedBy }),
    ...(event.changes === undefined ? {} : { changes: event.changes }),
    ...(event.lifecycle === undefined ? {} : { lifecycle: event.lifecycle }),
  };
  return {
    class_uid: classOf.uid,
    class_name: classOf.name,
    category_uid: IAM_CATEGORY,
    category_name: 'Identity & Access Management',
    activity_id: activityId,
    activity_name: activityName,
    type_uid: classOf.uid * 100 + activityId,
    type_name: `${classOf.name}: ${activityName}`,
    time,
    severity_id: severityId,
    severity,
    ...status(event),
    message: event.message,
    ...(event.errorCode === undefined ? {} : { status_code: event.errorCode }),
    ...(event.reason === undefined ? {} : { status_detail: event.reason }),
    metadata: {
      version: OCSF_VERSION,
      uid: siem.id,
      tenant_uid: event.tenantId,
      log_name: 'logstream',
      product: { name: product.name, vendor_name: product.vendor, version: product.version },
      ...(event.runId === undefined ? {} : { correlation_uid: event.runId }),
    },
    ...(subject === 'group'
      ? {
          group: { uid: event.groupId },
          ...(event.identityId === undefined
            ? {}
            : { user: { uid: event.identityId, type_id: 1, type: 'User' } }),
        }
      : { user: user(event) }),
    ...(subject === 'access'
      ? {
          privileges: [
            object === undefined
              ? `application:${event.applicationId ?? 'unknown'}`
              : `application:${event.applicationId ?? 'unknown'}:${object}`,
          ],
        }
      : {}),
    ...(actor === undefined ? {} : { actor: { user: actor } }),
    unmapped,
  };
}
