// The update operation on the entry an export names by its anchor: a rename or move first when the DN or
// the naming attribute changes (a modify cannot change them), then the other attributes in one modify,
// then group members.
import { Attribute, Change, type Entry } from 'ldapts';
import type { Attributes } from '../../../../kernel/contracts/identity-events.ts';
import type { WritebackInstruction } from '../../contracts.ts';
import {
  attribute,
  presentValues,
  toWritableAttributes,
  type WritableAttributes,
} from './attribute-values.ts';
import { escapeDnValue, normalizeDn, parentDn, splitRdn } from './distinguished-names.ts';
import { mustLocate, readAnchor, readEntry } from './entry-lookup.ts';
import { changeMembers } from './group-members.ts';
import type { Located, WriteContext } from './write-context.ts';

export async function updateEntry(
  context: WriteContext,
  instruction: WritebackInstruction,
): Promise<Located> {
  const attributes = instruction.attributes ?? {};
  const written = toWritableAttributes(attributes);
  const entry = await mustLocate(context, instruction, Object.keys(written));
  const externalId = readAnchor(context.options.kind, entry);
  const dn = await renameIfAsked(context, entry.dn, attributes, written);
  const changes = attributeChanges(entry, written);
  if (changes.length > 0) await context.client.modify(dn, changes);
  if (instruction.members !== undefined) await changeMembers(context, dn, instruction.members);
  return { dn, externalId };
}

/**
 * Where the entry at `dn` moves: the `dn` attribute, or the same parent with a new value of the naming
 * attribute; undefined when it stays.
 */
export function renameTarget(
  dn: string,
  attributes: Attributes,
  written: WritableAttributes,
): string | undefined {
  const [rdnType, rdnValue] = splitRdn(dn);
  const rdnKey = Object.keys(written).find((type) => type.toLowerCase() === rdnType.toLowerCase());
  const given: string | Buffer | undefined = rdnKey === undefined ? undefined : written[rdnKey]?.[0];
  const newRdnValue = typeof given === 'string' ? given : undefined;
  const target =
    typeof attributes.dn === 'string'
      ? attributes.dn
      : newRdnValue !== undefined && newRdnValue !== rdnValue
        ? `${rdnType}=${escapeDnValue(newRdnValue)},${parentDn(dn)}`
        : undefined;
  return target !== undefined && normalizeDn(target) !== normalizeDn(dn) ? target : undefined;
}

/** Renames or moves the entry when the export asks for it; returns its DN afterwards. */
async function renameIfAsked(
  context: WriteContext,
  dn: string,
  attributes: Attributes,
  written: WritableAttributes,
): Promise<string> {
  const target = renameTarget(dn, attributes, written);
  if (target === undefined) return dn;
  await context.client.modifyDN(dn, target);
  // The DN as the directory spells it, so a repeated rename answers exactly the same.
  const renamed = (await readEntry(context, target, ['1.1']))?.dn ?? target;
  context.subject.dn = renamed;
  return renamed;
}

/**
 * The modify for every written attribute but the naming one (renameIfAsked sets that): a replace, or a
 * delete when the export empties an attribute the entry holds.
 */
export function attributeChanges(entry: Entry, written: WritableAttributes): Change[] {
  const [rdnType] = splitRdn(entry.dn);
  const changes: Change[] = [];
  for (const [type, values] of Object.entries(written)) {
    if (type.toLowerCase() === rdnType.toLowerCase()) continue;
    if (values.length === 0) {
      // Deleting an attribute that is already absent is an error in LDAP, and a no-op here.
      if (presentValues(entry, type).length > 0)
        changes.push(new Change({ operation: 'delete', modification: new Attribute({ type }) }));
    } else {
      changes.push(new Change({ operation: 'replace', modification: attribute(type, values) }));
    }
  }
  return changes;
}
