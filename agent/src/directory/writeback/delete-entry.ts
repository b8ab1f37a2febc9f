// The delete operation on the entry an export names by its anchor; an entry already gone meets the goal.
import type { WritebackInstruction } from '../../contracts.ts';
import { locate, requireExternalId } from './entry-lookup.ts';
import type { Located, WriteContext } from './write-context.ts';

export async function deleteEntry(
  context: WriteContext,
  instruction: WritebackInstruction,
): Promise<Located> {
  const externalId = requireExternalId(instruction);
  const entry = await locate(context, externalId);
  if (entry === undefined) return { dn: '', externalId };
  context.subject.dn = entry.dn;
  await context.client.del(entry.dn);
  return { dn: entry.dn, externalId };
}
