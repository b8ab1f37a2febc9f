// A logstream event as an Elastic Common Schema (8.x) document: event.category ["iam"], event.type from
// what happened (creation, deletion, change, admin; user or group), user.id / group.id, and the fields ECS
// has no name for under `joinery.*`.
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import {
  actionOf,
  outcomeOf,
  stageOf,
  subjectOf,
  type SiemAction,
  type SiemEvent,
  type SiemProduct,
} from './siem-event.ts';

export const ECS_VERSION = '8.11.0';

const typeOfAction: Record<SiemAction, string> = {
  create: 'creation',
  delete: 'deletion',
  enable: 'change',
  disable: 'change',
  password: 'change',
  leave: 'change',
  update: 'change',
  join: 'change',
  unjoin: 'change',
  'add-member': 'change',
  'remove-member': 'change',
  other: 'info',
};

function outcome(event: LogEvent): 'success' | 'failure' | 'unknown' {
  if (outcomeOf(event) === 'succeeded') return 'success';
  if (outcomeOf(event) === 'failed') return 'failure';
  return 'unknown';
}

const severities = { info: 1, warn: 3, error: 4 } as const;

export function toEcs(siem: SiemEvent, product: SiemProduct): Record<string, unknown> {
  const { event } = siem;
  const action = actionOf(event);
  const subject = subjectOf(event);
  const types = [typeOfAction[action], subject === 'group' ? 'group' : 'user'];
  if (event.actor?.kind === 'service-account') types.push('admin');
  return {
    '@timestamp': event.at,
    message: event.message,
    ecs: { version: ECS_VERSION },
    event: {
      id: siem.id,
      kind: 'event',
      category: ['iam'],
      type: types,
      action: `${subject === 'access' ? 'access' : subject}-${action}`,
      outcome: outcome(event),
      severity: severities[event.level],
      dataset: 'joinery.logstream',
      module: 'joinery',
      provider: stageOf(event) ?? event.category,
      created: event.at,
      ...(event.errorCode === undefined ? {} : { code: event.errorCode }),
      ...(event.reason === undefined ? {} : { reason: event.reason }),
    },
    log: { level: event.level },
    observer: { product: product.name, vendor: product.vendor, version: product.version, type: 'iam' },
    organization: { id: event.tenantId },
    ...(event.identityId === undefined ? {} : { user: { id: event.identityId } }),
    ...(event.groupId === undefined ? {} : { group: { id: event.groupId } }),
    ...(event.actor === undefined
      ? {}
      : {
          source: {
            user: {
              ...(event.actor.id === undefined ? {} : { id: event.actor.id }),
              ...(event.actor.name === undefined ? {} : { name: event.actor.name }),
              roles: [event.actor.kind],
            },
          },
        }),
    ...(event.errorCode === undefined
      ? {}
      : {
          error: { code: event.errorCode, ...(event.reason === undefined ? {} : { message: event.reason }) },
        }),
    ...(event.runId === undefined ? {} : { trace: { id: event.runId } }),
    joinery: {
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
    },
  };
}
