// Group membership, written so that applying a change twice ends the same. OpenLDAP gets the difference
// from the members the group holds; Active Directory (whose large groups are read in ranges) gets the
// change at once, and value by value when some member was already there or already gone.
import { Attribute, Change, ResultCodeError } from 'ldapts';
import type { WritebackInstruction } from '../../contracts.ts';
import { presentValues } from './attribute-values.ts';
import { normalizeDn } from './distinguished-names.ts';
import { readEntry } from './entry-lookup.ts';
import type { WriteContext } from './write-context.ts';

export type MemberChanges = NonNullable<WritebackInstruction['members']>;

export async function changeMembers(
  context: WriteContext,
  dn: string,
  members: MemberChanges,
): Promise<void> {
  if (context.options.kind === 'openldap') await changeMembersByDifference(context, dn, members);
  else await changeMembersTolerantly(context, dn, members);
}

/**
 * The member values to add and to delete so that a group holding `current` holds it with `members`
 * applied. groupOfNames must have a member: the empty DN stands in while there is no real one.
 */
export function memberDifference(
  current: string[],
  members: MemberChanges,
): { adds: string[]; removes: string[] } {
  const has = (list: string[], member: string) => list.some((m) => normalizeDn(m) === normalizeDn(member));
  let next = current.filter((m) => !has(members.remove, m));
  next = [...next, ...members.add.filter((m) => !has(next, m))];
  const real = next.filter((m) => m !== '');
  next = real.length > 0 ? real : [''];
  return {
    adds: next.filter((m) => !has(current, m)),
    removes: current.filter((m) => !has(next, m)),
  };
}

/** OpenLDAP has no ranged values: read the members and write only the difference. */
async function changeMembersByDifference(
  context: WriteContext,
  dn: string,
  members: MemberChanges,
): Promise<void> {
  const entry = await readEntry(context, dn, ['member']);
  const current = entry === undefined ? [] : presentValues(entry, 'member').map(String);
  const { adds, removes } = memberDifference(current, members);
  const changes = [
    ...(adds.length > 0 ? [memberChange('add', adds)] : []),
    ...(removes.length > 0 ? [memberChange('delete', removes)] : []),
  ];
  if (changes.length > 0) await context.client.modify(dn, changes);
}

/** Active Directory: write first and, when some value was already there (or already gone), one at a time. */
async function changeMembersTolerantly(
  { client }: WriteContext,
  dn: string,
  members: MemberChanges,
): Promise<void> {
  const changes = [
    ...(members.add.length > 0 ? [memberChange('add', members.add)] : []),
    ...(members.remove.length > 0 ? [memberChange('delete', members.remove)] : []),
  ];
  if (changes.length === 0) return;
  try {
    await client.modify(dn, changes);
  } catch (error) {
    if (!isMembershipNoop(error)) throw error;
    for (const member of members.add) await tolerateNoop(client.modify(dn, memberChange('add', [member])));
    for (const member of members.remove) {
      await tolerateNoop(client.modify(dn, memberChange('delete', [member])));
    }
  }
}

function memberChange(operation: 'add' | 'delete', members: string[]): Change {
  return new Change({ operation, modification: new Attribute({ type: 'member', values: members }) });
}

// typeOrValueExists, entryAlreadyExists (Windows, adding a present member), noSuchAttribute, and
// unwillingToPerform (Windows, removing an absent member).
function isMembershipNoop(error: unknown): boolean {
  return error instanceof ResultCodeError && [16, 20, 53, 68].includes(error.code);
}

async function tolerateNoop(operation: Promise<void>): Promise<void> {
  try {
    await operation;
  } catch (error) {
    if (!isMembershipNoop(error)) throw error;
  }
}
