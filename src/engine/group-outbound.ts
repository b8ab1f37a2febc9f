// Groups, pure: the member references a group object carries, its name, and the Outbound decision for
// Vault groups — per target application, create a group with its members, or update only what differs (the
// attributes that changed, the members to add and to remove), or delete it once its source is gone; and
// the same for a batch of groups in all their targets, from what group-exports.ts read for them.
// Level-triggered like the identities' decision: it compares states, so a replay decides nothing new.
import type { Attributes, AttributeValue } from '../../kernel/contracts/identity-events.ts';
import type { ExpressionBudgetError } from '../../kernel/errors.ts';
import { overBudgetAt } from '../plan/expression-budget.ts';
import { applicationMode } from '../plan/plan.schema.ts';
import { celValues } from './cel-values.ts';
import type { NewExport } from './export-queue.ts';
import { mapGroup, sourceGroupSpecs, type GroupTarget } from './group-plan.ts';
import { attributeChanges, type TargetState } from './outbound.ts';
import type { PlanInForce } from './plan-cache.ts';
import { queuedStatus, type KeyedTargetState } from './target-states.ts';

/** The longest member reference the export contract carries (and vault_group_member stores). */
export const MAX_REFERENCE_LENGTH = 2048;

/**
 * The member references of a group object's members attribute (one value or a list), without blanks and
 * without references longer than MAX_REFERENCE_LENGTH (no directory names an object that way).
 */
export function memberReferences(value: AttributeValue | undefined): string[] {
  const values = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
  const references = new Map<string, string>();
  for (const item of values) {
    const reference = String(item).trim();
    // The empty DN stands in for "no member" in groupOfNames: it names nobody.
    if (reference === '' || reference.length > MAX_REFERENCE_LENGTH) continue;
    if (!references.has(reference.toLowerCase())) references.set(reference.toLowerCase(), reference);
  }
  return [...references.values()];
}

/** A group's display name: cn, name or displayName as its source states it, else its external id. */
export function groupName(attributes: Attributes, externalId: string): string {
  for (const key of ['cn', 'name', 'displayName', 'sAMAccountName']) {
    const value = attributes[key];
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined && first !== null && String(first) !== '') return String(first).slice(0, 1024);
  }
  return externalId.slice(0, 1024);
}

/** What a target application should hold for a group: its mapped attributes and its members there. */
export interface DesiredGroup {
  attributes: Attributes;
  /** The members' references in the target application (their DNs or external ids there). */
  members: string[];
}

export interface GroupOperation {
  operation: 'create' | 'update' | 'delete';
  externalId: string | null;
  attributes?: Attributes;
  members?: { add: string[]; remove: string[] };
}

/** The references in `a` that are not in `b` (DNs compare without case). */
function missingFrom(a: string[], b: string[]): string[] {
  const present = new Set(b.map((reference) => reference.toLowerCase()));
  return a.filter((reference) => !present.has(reference.toLowerCase()));
}

/**
 * One Vault group in one target application. The target state (outbound_object, keyed by the group's id)
 * remembers what was decided: the attributes, and the members under the members attribute's name.
 * `desired` undefined: the group no longer exists (or is no longer exported there). `copy`: the group as
 * the application holds it, when Joinery created it there (its hard join) — what a decision made in
 * sandbox mode never exported is compared with once the application is out of sandbox.
 */
export function decideGroupExport(input: {
  desired: DesiredGroup | undefined;
  previous: TargetState | undefined;
  copy?: { externalId: string; attributes: Attributes } | undefined;
  objectClass: string;
  membersAttribute: string;
  /** The application is in sandbox mode: the operations are a report, nothing leaves. */
  sandbox?: boolean;
}): { operations: GroupOperation[]; next: TargetState | undefined } {
  const { desired, membersAttribute } = input;
  const sandbox = input.sandbox === true;
  // What a sandbox only reported was never exported: out of sandbox, the application holds its copy (or
  // nothing), and that is what is compared.
  const previous = input.previous?.sandbox === true && !sandbox ? undefined : input.previous;
  const provisioned = previous?.state === 'provisioned';
  // Without a decision that counts, the copy is what the application holds; with one, the decision is.
  const copy = previous === undefined ? input.copy : undefined;
  const externalId = provisioned ? previous.externalId : (copy?.externalId ?? null);
  if (desired === undefined) {
    if (!provisioned && copy === undefined) return { operations: [], next: input.previous };
    return {
      operations: [{ operation: 'delete', externalId }],
      next: {
        objectClass: input.objectClass,
        externalId,
        desired: previous?.desired ?? {},
        state: 'deprovisioned',
        enabled: false,
        ...(sandbox ? { sandbox } : {}),
      },
    };
  }
  // Two member identities may name one object there (a shared account): it is a member once.
  const members = memberReferences(desired.members).sort();
  const next: TargetState = {
    objectClass: input.objectClass,
    externalId,
    desired: { ...desired.attributes, [membersAttribute]: members },
    state: 'provisioned',
    enabled: true,
    ...(sandbox ? { sandbox } : {}),
  };
  if (!provisioned && copy === undefined) {
    const attributes = Object.fromEntries(
      Object.entries(desired.attributes).filter(([, value]) => value !== null),
    );
    return {
      operations: [
        { operation: 'create', externalId: null, attributes, members: { add: members, remove: [] } },
      ],
      next,
    };
  }
  const current = provisioned ? previous.desired : (copy?.attributes ?? {});
  const { [membersAttribute]: exported, ...exportedAttributes } = current;
  const before = memberReferences(exported);
  const add = missingFrom(members, before);
  const remove = missingFrom(before, members);
  const changes = attributeChanges(exportedAttributes, desired.attributes);
  if (changes === undefined && add.length === 0 && remove.length === 0)
    return { operations: [], next: provisioned ? previous : next };
  return {
    operations: [
      {
        operation: 'update',
        externalId,
        ...(changes === undefined ? {} : { attributes: changes }),
        ...(add.length === 0 && remove.length === 0 ? {} : { members: { add, remove } }),
      },
    ],
    next,
  };
}

/** A Vault group as the batch decision reads it (vault_group). */
export interface VaultGroupRow {
  id: string;
  tenant_id: string;
  application_id: string;
  object_class: string;
  attributes: Attributes;
  deleted: boolean;
}

/** The plan in force for a group's tenant and the applications that receive the group, by group id. */
export type GroupTargets = Map<string, { plan: PlanInForce; targets: GroupTarget[] }>;

/** A member identity's object in a target application: its hard join, or an object the batch joined. */
export interface MemberObjectRow {
  identity_id: string;
  application_id: string;
  external_id: string;
  dn: string | null;
  deleted: boolean;
}

/**
 * The members' objects in the targets: per `<identity id>|<application id>` the living object (the first
 * with a dn, where several are), and the deleted ones as `<identity id>|<application id>|<external id>`.
 */
export interface MemberObjects {
  objectOf: Map<string, { externalId: string; dn: string | null }>;
  gone: Set<string>;
}

export function indexMemberObjects(rows: MemberObjectRow[]): MemberObjects {
  const objectOf = new Map<string, { externalId: string; dn: string | null }>();
  const gone = new Set<string>();
  for (const row of rows) {
    const key = `${row.identity_id}|${row.application_id}`;
    if (row.deleted) gone.add(`${key}|${row.external_id}`);
    else if (!objectOf.has(key) || (objectOf.get(key)?.dn == null && row.dn !== null))
      objectOf.set(key, { externalId: row.external_id, dn: row.dn });
  }
  return { objectOf, gone };
}

/**
 * A group's copy in a target only counts where no decision does (none yet, or one made in sandbox and
 * the target is out of it): only those pairs are read, so the usual decision costs no extra query.
 */
export function pairsWithoutDecision(
  groups: VaultGroupRow[],
  targetsByGroup: GroupTargets,
  previous: Map<string, TargetState>,
): { groupId: string; applicationId: string }[] {
  return groups.flatMap((group) =>
    (targetsByGroup.get(group.id)?.targets ?? []).flatMap((target) => {
      const before = previous.get(`${group.id}|${target.applicationId}`);
      const counts =
        before !== undefined && (before.sandbox !== true || applicationMode(target.plan) === 'sandbox');
      return counts ? [] : [{ groupId: group.id, applicationId: target.applicationId }];
    }),
  );
}

/**
 * Every target application of every group decided: the operations to queue and the target states that
 * changed. `previous` and `copies` are keyed `<group id>|<application id>`; `membersOf` lists each
 * group's resolved member identities.
 */
export function decideGroupExports(input: {
  groups: VaultGroupRow[];
  targetsByGroup: GroupTargets;
  membersOf: Map<string, string[]>;
  memberObjects: MemberObjects;
  previous: Map<string, TargetState>;
  copies: Map<string, { externalId: string; attributes: Attributes }>;
}): { exports: NewExport[]; states: KeyedTargetState[]; failures: ExpressionBudgetError[] } {
  const exports: NewExport[] = [];
  const states: KeyedTargetState[] = [];
  const failures: ExpressionBudgetError[] = [];
  for (const group of input.groups) {
    const entry = input.targetsByGroup.get(group.id);
    if (entry === undefined) continue;
    const sourceSpecs = sourceGroupSpecs(entry.plan, group.application_id, group.object_class);
    for (const target of entry.targets) {
      const key = `${group.id}|${target.applicationId}`;
      let attributes: Attributes | undefined;
      try {
        attributes = group.deleted
          ? undefined
          : mapGroup(entry.plan, target, celValues(sourceSpecs, group.attributes));
      } catch (error) {
        // An expression over budget: the group stays as last decided in this target, and is reported.
        const failure = overBudgetAt(error, {
          tenantId: group.tenant_id,
          groupId: group.id,
          applicationId: target.applicationId,
        });
        if (failure === undefined) throw error;
        failures.push(failure);
        continue;
      }
      const desired =
        attributes === undefined
          ? undefined
          : {
              attributes,
              members: membersIn(target, input.membersOf.get(group.id) ?? [], input.memberObjects),
            };
      const before = input.previous.get(key);
      const decision = decideGroupExport({
        desired,
        previous: before,
        copy: input.copies.get(key),
        objectClass: target.groups.objectClass,
        membersAttribute: target.membersAttribute,
        sandbox: applicationMode(target.plan) === 'sandbox',
      });
      if (decision.next !== undefined && decision.next !== before)
        states.push({
          ...decision.next,
          tenantId: group.tenant_id,
          applicationId: target.applicationId,
          ownerId: group.id,
        });
      for (const operation of decision.operations)
        exports.push({
          tenantId: group.tenant_id,
          applicationId: target.applicationId,
          // The export queue orders operations per object by this id: for a group, the Vault group's id.
          identityId: group.id,
          objectClass: target.groups.objectClass,
          externalId: operation.externalId,
          operation: operation.operation,
          ...(operation.attributes === undefined ? {} : { attributes: operation.attributes }),
          ...(operation.members === undefined ? {} : { members: operation.members }),
          ...queuedStatus(target.plan),
        });
    }
  }
  return { exports, states, failures };
}

/** The member identities' references in a target: their living objects' DNs or external ids there. */
function membersIn(target: GroupTarget, identityIds: string[], objects: MemberObjects): string[] {
  return identityIds.flatMap((identityId) => {
    const object = objects.objectOf.get(`${identityId}|${target.applicationId}`);
    if (
      object === undefined ||
      objects.gone.has(`${identityId}|${target.applicationId}|${object.externalId}`)
    )
      return [];
    const reference = target.reference === 'dn' ? object.dn : object.externalId;
    return reference === null ? [] : [reference];
  });
}
