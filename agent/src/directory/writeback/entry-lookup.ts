// Finding the entry an export works on. An object is always located by its anchor (Active Directory's
// objectGUID, OpenLDAP's entryUUID), so a rename or a move made elsewhere does not lose it.
import { ResultCodeError, type Entry } from 'ldapts';
import type { WritebackInstruction } from '../../contracts.ts';
import { canonicalGuid, escapeFilterValue } from '../ldap-records.ts';
import { WritebackFailure } from './writeback-failure.ts';
import type { DirectoryKind, WriteContext } from './write-context.ts';

export function anchorAttribute(kind: DirectoryKind): 'objectGUID' | 'entryUUID' {
  return kind === 'active-directory' ? 'objectGUID' : 'entryUUID';
}

/** The entry's anchor as an externalId: AD's canonical GUID string, OpenLDAP's entryUUID in lower case. */
export function readAnchor(kind: DirectoryKind, entry: Entry): string {
  const anchor = anchorAttribute(kind);
  const value = entry[anchor];
  const raw = Array.isArray(value) ? value[0] : value;
  if (kind === 'active-directory' && Buffer.isBuffer(raw)) return canonicalGuid(raw);
  if (typeof raw === 'string' && raw !== '') return raw.toLowerCase();
  throw new WritebackFailure('JNY_WRITEBACK_NO_ANCHOR', `${entry.dn} has no readable ${anchor}`);
}

/** The entry at `dn` with its anchor and `attributes`; undefined when there is none. */
export async function readEntry(
  { client, options }: WriteContext,
  dn: string,
  attributes: string[],
): Promise<Entry | undefined> {
  const anchor = anchorAttribute(options.kind);
  try {
    const { searchEntries } = await client.search(dn, {
      scope: 'base',
      filter: '(objectClass=*)',
      attributes: [anchor, ...attributes],
      explicitBufferAttributes: options.kind === 'active-directory' ? [anchor] : [],
    });
    return searchEntries[0];
  } catch (error) {
    if (error instanceof ResultCodeError && error.code === 32) return undefined; // noSuchObject
    throw error;
  }
}

/** The entry whose anchor is `externalId`, with `attributes`; undefined when there is none. */
export async function locate(
  context: WriteContext,
  externalId: string,
  attributes: string[] = [],
): Promise<Entry | undefined> {
  const { client, options } = context;
  // AD: the <GUID=…> DN form finds an object by objectGUID on Windows and Samba alike (an escaped
  // binary filter value does not survive ldapts' filter parser for bytes above 0x7f).
  if (options.kind === 'active-directory')
    return readEntry(context, `<GUID=${checkedGuid(externalId)}>`, attributes);
  const { searchEntries } = await client.search(options.baseDn, {
    scope: 'sub',
    filter: `(entryUUID=${escapeFilterValue(externalId)})`,
    attributes: [anchorAttribute(options.kind), ...attributes],
  });
  return searchEntries[0];
}

/** The entry the instruction names by its externalId, which becomes the subject; a failure if there is none. */
export async function mustLocate(
  context: WriteContext,
  instruction: WritebackInstruction,
  attributes: string[] = [],
): Promise<Entry> {
  const externalId = requireExternalId(instruction);
  const entry = await locate(context, externalId, attributes);
  if (entry === undefined) {
    const { options } = context;
    throw new WritebackFailure(
      'JNY_WRITEBACK_NOT_FOUND',
      `${instruction.operation} of ${anchorAttribute(options.kind)} ${externalId}: no such object under ${options.baseDn}`,
    );
  }
  context.subject.dn = entry.dn;
  return entry;
}

export function requireExternalId(instruction: WritebackInstruction): string {
  if (instruction.externalId === undefined) {
    throw new WritebackFailure(
      'JNY_WRITEBACK_INVALID',
      `${instruction.operation} of export ${instruction.exportId}: no externalId to locate the object by`,
    );
  }
  return instruction.externalId;
}

/** The externalId as a GUID string, checked: it is placed inside a DN. */
function checkedGuid(externalId: string): string {
  const match = /^\{?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}?$/i.exec(externalId);
  if (match?.[1] === undefined) {
    throw new WritebackFailure(
      'JNY_WRITEBACK_INVALID',
      `externalId ${externalId} is not an objectGUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`,
    );
  }
  return match[1].toLowerCase();
}
