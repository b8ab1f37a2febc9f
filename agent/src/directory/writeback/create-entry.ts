// The create operation: a new entry at the DN the export asks for (or named by its naming attribute under
// the object class's createIn), with the object classes of the directory kind, its members and password.
// Delivered again, a create answers with the entry it made the first time: the one its externalId
// anchors, or the one at its DN holding the same values.
import { Attribute } from 'ldapts';
import type { AttributeValue, Attributes } from '../../../../kernel/contracts/identity-events.ts';
import type { DirectoryObjectClass, WritebackInstruction } from '../../contracts.ts';
import {
  attribute,
  first,
  hasValue,
  sameValues,
  toValues,
  toWritableAttributes,
  type WritableAttributes,
} from './attribute-values.ts';
import { escapeDnValue } from './distinguished-names.ts';
import { locate, readAnchor, readEntry } from './entry-lookup.ts';
import { modifyPassword, unicodePwd } from './passwords.ts';
import { WritebackFailure } from './writeback-failure.ts';
import type { DirectoryKind, Located, WriteContext } from './write-context.ts';

const objectClasses: Record<DirectoryKind, Record<DirectoryObjectClass, string[]>> = {
  'active-directory': {
    user: ['top', 'person', 'organizationalPerson', 'user'],
    group: ['top', 'group'],
    contact: ['top', 'person', 'organizationalPerson', 'contact'],
  },
  openldap: {
    user: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
    group: ['top', 'groupOfNames'],
    contact: ['top', 'person', 'organizationalPerson'],
  },
};

export async function createEntry(
  context: WriteContext,
  instruction: WritebackInstruction,
): Promise<Located> {
  const { client, options } = context;
  const kind = options.kind;
  const objectClass = objectClassOf(instruction);
  const attributes = instruction.attributes ?? {};
  if (instruction.externalId !== undefined) {
    const existing = await locate(context, instruction.externalId);
    if (existing !== undefined) return { dn: existing.dn, externalId: readAnchor(kind, existing) };
  }
  const dn = newDn(kind, objectClass, attributes, options.searches[objectClass].createIn);
  context.subject.dn = dn;
  if (kind === 'active-directory' && objectClass === 'user' && !hasValue(attributes.sAMAccountName)) {
    throw new WritebackFailure('JNY_WRITEBACK_INVALID', `create of ${dn}: a user needs sAMAccountName`);
  }
  const written = toWritableAttributes(attributes);
  const existing = await readEntry(context, dn, Object.keys(written));
  if (existing !== undefined) {
    // The same create delivered again (or its answer lost): the entry it made is the answer.
    if (!sameValues(existing, written)) {
      throw new WritebackFailure(
        'JNY_WRITEBACK_CONFLICT',
        `create of ${dn}: another object already exists at that DN`,
      );
    }
    return { dn: existing.dn, externalId: readAnchor(kind, existing) };
  }
  const password = instruction.password;
  await client.add(dn, newEntry(kind, objectClass, written, instruction.members?.add ?? [], password));
  // OpenLDAP hashes a password set through the extended operation, not one given in the add.
  if (password !== undefined && kind === 'openldap') await modifyPassword(client, dn, password);
  const added = await readEntry(context, dn, []);
  if (added === undefined) {
    throw new WritebackFailure('JNY_WRITEBACK_FAILED', `create of ${dn}: not found after add`, true);
  }
  return { dn: added.dn, externalId: readAnchor(kind, added) };
}

/** The attributes of the new entry: object classes, values, members, and the password where AD takes it. */
function newEntry(
  kind: DirectoryKind,
  objectClass: DirectoryObjectClass,
  written: WritableAttributes,
  members: string[],
  password: string | undefined,
): Attribute[] {
  const entry: Attribute[] = [
    new Attribute({ type: 'objectClass', values: objectClasses[kind][objectClass] }),
    ...Object.entries(written)
      .filter(([, values]) => values.length > 0)
      .map(([type, values]) => attribute(type, values)),
  ];
  if (objectClass === 'group' && (members.length > 0 || kind === 'openldap')) {
    // groupOfNames must have a member: the empty DN stands in until a real one is added.
    entry.push(new Attribute({ type: 'member', values: members.length > 0 ? members : [''] }));
  }
  if (password !== undefined && kind === 'active-directory') entry.push(unicodePwd(password));
  return entry;
}

function objectClassOf(instruction: WritebackInstruction): DirectoryObjectClass {
  const objectClass = instruction.objectClass ?? 'user';
  if (objectClass === 'user' || objectClass === 'group' || objectClass === 'contact') return objectClass;
  throw new WritebackFailure(
    'JNY_WRITEBACK_UNSUPPORTED',
    `${instruction.operation}: object class ${objectClass} is not one the agent writes (user, group, contact)`,
  );
}

/** The DN a create asks for (`dn` attribute) or, by default, the naming attribute under createIn. */
function newDn(
  kind: DirectoryKind,
  objectClass: DirectoryObjectClass,
  attributes: Attributes,
  createIn: string,
): string {
  if (typeof attributes.dn === 'string' && attributes.dn !== '') return attributes.dn;
  const naming =
    kind === 'openldap' && objectClass === 'user' && hasValue(attributes.uid)
      ? ['uid', attributes.uid]
      : ['cn', attributes.cn ?? attributes.displayName ?? attributes.sAMAccountName];
  const value = first(toValues(naming[1] as AttributeValue));
  if (value === undefined || typeof value !== 'string' || value === '') {
    throw new WritebackFailure(
      'JNY_WRITEBACK_INVALID',
      `create of a ${objectClass} in ${createIn}: no dn, and no ${kind === 'openldap' && objectClass === 'user' ? 'uid or ' : ''}cn to name it by`,
    );
  }
  return `${kind === 'active-directory' ? String(naming[0]).toUpperCase() : String(naming[0])}=${escapeDnValue(value)},${createIn}`;
}
