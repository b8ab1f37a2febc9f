// Groups, pure: the member references a group object carries, its name, and the Outbound decision for one
// Vault group in one target application — create it with its members, or update only what differs (the
// attributes that changed, the members to add and to remove), or delete it once its source is gone.
// Level-triggered like the identities' decision: it compares states, so a replay decides nothing new.
import type { Attributes, AttributeValue } from '../../kernel/contracts/identity-events.ts';
import { attributeChanges, type TargetState } from './outbound.ts';

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
