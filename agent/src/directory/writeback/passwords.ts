// Passwords, per directory kind: Active Directory takes unicodePwd, and only over ldaps://; OpenLDAP
// takes the RFC 3062 password modify operation, so that the server hashes the password by its own policy
// (a userPassword written directly, or given in an add, would be stored as it comes).
import { Attribute, Change, type Client } from 'ldapts';
import type { WritebackInstruction } from '../../contracts.ts';
import type { LdapDirectoryOptions } from '../directory-options.ts';
import { mustLocate, readAnchor } from './entry-lookup.ts';
import { WritebackFailure } from './writeback-failure.ts';
import type { Located, WriteContext } from './write-context.ts';

const PASSWORD_MODIFY_OID = '1.3.6.1.4.1.4203.1.11.1';

/** AD takes passwords only over an encrypted channel; refused before anything is sent. */
export function refuseCleartextChannel(options: LdapDirectoryOptions, what: string): void {
  if (options.kind === 'active-directory' && !options.url.startsWith('ldaps://')) {
    throw new WritebackFailure(
      'JNY_WRITEBACK_INSECURE_CHANNEL',
      `${what}: Active Directory passwords are only sent over ldaps:// (directory.options.url is ${options.url})`,
    );
  }
}

/** The password operation: sets the password of the entry the instruction names. */
export async function setPassword(
  context: WriteContext,
  instruction: WritebackInstruction,
): Promise<Located> {
  const { client, options } = context;
  const entry = await mustLocate(context, instruction);
  const password = instruction.password;
  if (password === undefined || password === '') {
    throw new WritebackFailure(
      'JNY_WRITEBACK_NO_PASSWORD',
      `password of ${entry.dn}: the export carries no password (its sealed secret did not reach the writeback)`,
    );
  }
  if (options.kind === 'active-directory') {
    await client.modify(entry.dn, new Change({ operation: 'replace', modification: unicodePwd(password) }));
  } else {
    await modifyPassword(client, entry.dn, password);
  }
  return { dn: entry.dn, externalId: readAnchor(options.kind, entry) };
}

/** AD's unicodePwd attribute: the password in double quotes, UTF-16LE. */
export function unicodePwd(password: string): Attribute {
  return new Attribute({ type: 'unicodePwd', values: [Buffer.from(`"${password}"`, 'utf16le')] });
}

/** The RFC 3062 password modify extended operation (OpenLDAP). */
export async function modifyPassword(client: Client, dn: string, password: string): Promise<void> {
  await client.exop(PASSWORD_MODIFY_OID, passwordModifyRequest(dn, password));
}

/** RFC 3062 PasswdModifyRequestValue: SEQUENCE { userIdentity [0], newPasswd [2] } in BER. */
function passwordModifyRequest(dn: string, password: string): Buffer {
  const field = (tag: number, value: Buffer) =>
    Buffer.concat([Buffer.from([tag]), berLength(value.length), value]);
  const body = Buffer.concat([
    field(0x80, Buffer.from(dn, 'utf8')),
    field(0x82, Buffer.from(password, 'utf8')),
  ]);
  return Buffer.concat([Buffer.from([0x30]), berLength(body.length), body]);
}

function berLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
