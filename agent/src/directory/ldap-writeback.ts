// Writeback to OpenLDAP and Active Directory: applies one export (create, update with rename/move and
// group membership, enable/disable, set password, delete) and answers with the object's anchor or a coded
// error. The object is always located by its anchor (objectGUID / entryUUID), so a rename made elsewhere
// does not break it, and every operation is written to be applied twice with the same end state.
import { Attribute, Change, ResultCodeError, type Client, type Entry } from 'ldapts';
import type { Logger } from 'pino';
import type { AttributeValue, Attributes } from '../../../kernel/contracts/identity-events.ts';
import { isRetriable, type ErrorCode } from '../../../kernel/errors.ts';
import type { DirectoryObjectClass, Writeback, WritebackInstruction, WritebackResult } from '../contracts.ts';
import type { LdapDirectoryOptions } from './directory-options.ts';
import type { LdapConnection } from './ldap-connection.ts';
import { canonicalGuid, escapeFilterValue } from './ldap-records.ts';

type Kind = LdapDirectoryOptions['kind'];

const ACCOUNTDISABLE = 0x2;
/** ppolicy's "locked by an administrator, for ever" value (RFC draft behera: 000001010000Z). */
const PERMANENTLY_LOCKED = '000001010000Z';
const PASSWORD_MODIFY_OID = '1.3.6.1.4.1.4203.1.11.1';

/** Attributes whose values travel base64-encoded (as the sources read them) and are written as bytes. */
const binaryAttributes = new Set(
  [
    'objectGUID',
    'objectSid',
    'jpegPhoto',
    'thumbnailPhoto',
    'photo',
    'userCertificate',
    'userSMIMECertificate',
    'cACertificate',
    'mS-DS-ConsistencyGuid',
    'msExchMailboxGuid',
    'audio',
  ].map((name) => name.toLowerCase()),
);

// Never written from `attributes`: anchors are the directory's own, objectClass is chosen per kind, and
// membership and passwords come in their own fields (members, the sealed secret).
const readOnlyAttributes = new Set(
  ['dn', 'objectGUID', 'objectSid', 'entryUUID', 'objectClass', 'member', 'memberOf', 'unicodePwd'].map(
    (name) => name.toLowerCase(),
  ),
);

const objectClasses: Record<Kind, Record<DirectoryObjectClass, string[]>> = {
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

/** A failure decided here (not by the directory): carries its own code and retriability. */
class WritebackFailure extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, retriable = false) {
    super(message);
    this.code = code;
    this.retriable = retriable;
  }
}

/** The DN an export works on, once known: named in its error message. */
interface Subject {
  dn?: string;
}

interface Located {
  dn: string;
  externalId: string;
}

export function createLdapWriteback(
  connection: LdapConnection,
  options: LdapDirectoryOptions,
  logger: Logger,
): Writeback {
  const kind = options.kind;
  const anchorAttribute = kind === 'active-directory' ? 'objectGUID' : 'entryUUID';

  const readAnchor = (entry: Entry): string => {
    const value = entry[anchorAttribute];
    const raw = Array.isArray(value) ? value[0] : value;
    if (kind === 'active-directory' && Buffer.isBuffer(raw)) return canonicalGuid(raw);
    if (typeof raw === 'string' && raw !== '') return raw.toLowerCase();
    throw new WritebackFailure('JNY_WRITEBACK_NO_ANCHOR', `${entry.dn} has no readable ${anchorAttribute}`);
  };

  const readEntry = async (client: Client, dn: string, attributes: string[]): Promise<Entry | undefined> => {
    try {
      const { searchEntries } = await client.search(dn, {
        scope: 'base',
        filter: '(objectClass=*)',
        attributes: [anchorAttribute, ...attributes],
        explicitBufferAttributes: kind === 'active-directory' ? [anchorAttribute] : [],
      });
      return searchEntries[0];
    } catch (error) {
      if (error instanceof ResultCodeError && error.code === 32) return undefined; // noSuchObject
      throw error;
    }
  };

  const locate = async (client: Client, externalId: string, attributes: string[] = []) => {
    // AD: the <GUID=…> DN form finds an object by objectGUID on Windows and Samba alike (an escaped
    // binary filter value does not survive ldapts' filter parser for bytes above 0x7f).
    if (kind === 'active-directory')
      return readEntry(client, `<GUID=${checkedGuid(externalId)}>`, attributes);
    const { searchEntries } = await client.search(options.baseDn, {
      scope: 'sub',
      filter: `(entryUUID=${escapeFilterValue(externalId)})`,
      attributes: [anchorAttribute, ...attributes],
    });
    return searchEntries[0];
  };

  const mustLocate = async (
    client: Client,
    instruction: WritebackInstruction,
    subject: Subject,
    attributes: string[] = [],
  ): Promise<Entry> => {
    const externalId = requireExternalId(instruction);
    const entry = await locate(client, externalId, attributes);
    if (entry === undefined) {
      throw new WritebackFailure(
        'JNY_WRITEBACK_NOT_FOUND',
        `${instruction.operation} of ${anchorAttribute} ${externalId}: no such object under ${options.baseDn}`,
      );
    }
    subject.dn = entry.dn;
    return entry;
  };

  const create = async (
    client: Client,
    instruction: WritebackInstruction,
    subject: Subject,
  ): Promise<Located> => {
    const objectClass = objectClassOf(instruction);
    const attributes = instruction.attributes ?? {};
    if (instruction.externalId !== undefined) {
      const existing = await locate(client, instruction.externalId);
      if (existing !== undefined) return { dn: existing.dn, externalId: readAnchor(existing) };
    }
    const dn = newDn(kind, objectClass, attributes, options.searches[objectClass].createIn);
    subject.dn = dn;
    if (kind === 'active-directory' && objectClass === 'user' && !hasValue(attributes.sAMAccountName)) {
      throw new WritebackFailure('JNY_WRITEBACK_INVALID', `create of ${dn}: a user needs sAMAccountName`);
    }
    const written = toWritableAttributes(attributes);
    const existing = await readEntry(client, dn, Object.keys(written));
    if (existing !== undefined) {
      // The same create delivered again (or its answer lost): the entry it made is the answer.
      if (!sameValues(existing, written)) {
        throw new WritebackFailure(
          'JNY_WRITEBACK_CONFLICT',
          `create of ${dn}: another object already exists at that DN`,
        );
      }
      return { dn: existing.dn, externalId: readAnchor(existing) };
    }
    const members = instruction.members?.add ?? [];
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
    const password = instruction.password;
    if (password !== undefined && kind === 'active-directory') {
      entry.push(new Attribute({ type: 'unicodePwd', values: [unicodePwd(password)] }));
    }
    await client.add(dn, entry);
    // OpenLDAP hashes a password set through the extended operation, not one given in the add.
    if (password !== undefined && kind === 'openldap') {
      await client.exop(PASSWORD_MODIFY_OID, passwordModifyRequest(dn, password));
    }
    const added = await readEntry(client, dn, []);
    if (added === undefined) {
      throw new WritebackFailure('JNY_WRITEBACK_FAILED', `create of ${dn}: not found after add`, true);
    }
    return { dn: added.dn, externalId: readAnchor(added) };
  };

  /** AD takes passwords only over an encrypted channel; refused before anything is sent. */
  const refuseCleartextChannel = (what: string): void => {
    if (kind === 'active-directory' && !options.url.startsWith('ldaps://')) {
      throw new WritebackFailure(
        'JNY_WRITEBACK_INSECURE_CHANNEL',
        `${what}: Active Directory passwords are only sent over ldaps:// (directory.options.url is ${options.url})`,
      );
    }
  };

  const update = async (
    client: Client,
    instruction: WritebackInstruction,
    subject: Subject,
  ): Promise<Located> => {
    const attributes = instruction.attributes ?? {};
    const written = toWritableAttributes(attributes);
    const names = Object.keys(written);
    const entry = await mustLocate(client, instruction, subject, names);
    const externalId = readAnchor(entry);
    let dn = entry.dn;

    // A new DN, or a new value of the naming attribute (which a modify may not change), is a modifyDN.
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
    if (target !== undefined && normalizeDn(target) !== normalizeDn(dn)) {
      await client.modifyDN(dn, target);
      // The DN as the directory spells it, so a repeated rename answers exactly the same.
      dn = (await readEntry(client, target, ['1.1']))?.dn ?? target;
      subject.dn = dn;
    }

    const changes: Change[] = [];
    for (const [type, values] of Object.entries(written)) {
      if (type.toLowerCase() === rdnType.toLowerCase()) continue; // set by the modifyDN above
      if (values.length === 0) {
        // Deleting an attribute that is already absent is an error in LDAP, and a no-op here.
        if (presentValues(entry, type).length > 0)
          changes.push(new Change({ operation: 'delete', modification: new Attribute({ type }) }));
      } else {
        changes.push(new Change({ operation: 'replace', modification: attribute(type, values) }));
      }
    }
    if (changes.length > 0) await client.modify(dn, changes);
    if (instruction.members !== undefined) await changeMembers(client, dn, instruction.members);
    return { dn, externalId };
  };

  const changeMembers = async (
    client: Client,
    dn: string,
    members: NonNullable<WritebackInstruction['members']>,
  ): Promise<void> => {
    if (kind === 'openldap') {
      // No ranged values in OpenLDAP: read the members and write only the difference.
      const entry = await readEntry(client, dn, ['member']);
      const current = entry === undefined ? [] : presentValues(entry, 'member').map(String);
      const has = (list: string[], member: string) =>
        list.some((m) => normalizeDn(m) === normalizeDn(member));
      let next = current.filter((m) => !has(members.remove, m));
      next = [...next, ...members.add.filter((m) => !has(next, m))];
      const real = next.filter((m) => m !== '');
      next = real.length > 0 ? real : [''];
      const adds = next.filter((m) => !has(current, m));
      const removes = current.filter((m) => !has(next, m));
      const changes = [
        ...(adds.length > 0 ? [memberChange('add', adds)] : []),
        ...(removes.length > 0 ? [memberChange('delete', removes)] : []),
      ];
      if (changes.length > 0) await client.modify(dn, changes);
      return;
    }
    // Active Directory: a large group's members come in ranges, so write first and, when some value
    // was already there (or already gone), fall back to one value at a time, tolerating exactly that.
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
  };

  const setEnabled = async (
    client: Client,
    instruction: WritebackInstruction,
    subject: Subject,
    enabled: boolean,
  ): Promise<Located> => {
    if (kind === 'active-directory') {
      const entry = await mustLocate(client, instruction, subject, ['userAccountControl']);
      const current = Number(first(presentValues(entry, 'userAccountControl')) ?? 0);
      const next = enabled ? current & ~ACCOUNTDISABLE : current | ACCOUNTDISABLE;
      if (next !== current) {
        await client.modify(
          entry.dn,
          new Change({
            operation: 'replace',
            modification: new Attribute({ type: 'userAccountControl', values: [String(next)] }),
          }),
        );
      }
      return { dn: entry.dn, externalId: readAnchor(entry) };
    }
    const entry = await mustLocate(client, instruction, subject, ['pwdAccountLockedTime']);
    const locked = presentValues(entry, 'pwdAccountLockedTime').length > 0;
    try {
      if (!enabled) {
        await client.modify(
          entry.dn,
          new Change({
            operation: 'replace',
            modification: new Attribute({ type: 'pwdAccountLockedTime', values: [PERMANENTLY_LOCKED] }),
          }),
        );
      } else if (locked) {
        await client.modify(
          entry.dn,
          new Change({ operation: 'delete', modification: new Attribute({ type: 'pwdAccountLockedTime' }) }),
        );
      }
    } catch (error) {
      if (error instanceof ResultCodeError && error.code === 17) {
        throw new WritebackFailure(
          'JNY_WRITEBACK_NO_PPOLICY',
          `${instruction.operation} of ${entry.dn}: the directory has no pwdAccountLockedTime attribute; load the ppolicy overlay (olcOverlay ppolicy) to lock and unlock accounts`,
        );
      }
      throw error;
    }
    return { dn: entry.dn, externalId: readAnchor(entry) };
  };

  const setPassword = async (
    client: Client,
    instruction: WritebackInstruction,
    subject: Subject,
  ): Promise<Located> => {
    const entry = await mustLocate(client, instruction, subject);
    const password = instruction.password;
    if (password === undefined || password === '') {
      throw new WritebackFailure(
        'JNY_WRITEBACK_NO_PASSWORD',
        `password of ${entry.dn}: the export carries no password (its sealed secret did not reach the writeback)`,
      );
    }
    if (kind === 'active-directory') {
      await client.modify(
        entry.dn,
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(password)] }),
        }),
      );
    } else {
      // RFC 3062: the server hashes the password per its own policy, unlike a userPassword replace.
      await client.exop(PASSWORD_MODIFY_OID, passwordModifyRequest(entry.dn, password));
    }
    return { dn: entry.dn, externalId: readAnchor(entry) };
  };

  const remove = async (
    client: Client,
    instruction: WritebackInstruction,
    subject: Subject,
  ): Promise<Located> => {
    const externalId = requireExternalId(instruction);
    const entry = await locate(client, externalId);
    if (entry === undefined) return { dn: '', externalId }; // already gone: the goal is met
    subject.dn = entry.dn;
    await client.del(entry.dn);
    return { dn: entry.dn, externalId };
  };

  const perform = (client: Client, instruction: WritebackInstruction, subject: Subject): Promise<Located> => {
    switch (instruction.operation) {
      case 'create':
        return create(client, instruction, subject);
      case 'update':
        return update(client, instruction, subject);
      case 'enable':
        return setEnabled(client, instruction, subject, true);
      case 'disable':
        return setEnabled(client, instruction, subject, false);
      case 'password':
        return setPassword(client, instruction, subject);
      case 'delete':
        return remove(client, instruction, subject);
    }
  };

  return {
    async apply(instruction) {
      const context = {
        exportId: instruction.exportId,
        operation: instruction.operation,
        objectClass: instruction.objectClass ?? 'user',
        externalId: instruction.externalId,
        attempt: instruction.attempt,
      };
      const subject: Subject = {};
      let result: WritebackResult;
      try {
        if (instruction.operation === 'password' || instruction.password !== undefined) {
          refuseCleartextChannel(`${instruction.operation} of ${instruction.externalId ?? 'a new object'}`);
        }
        const located = await connection.withClient((client) => perform(client, instruction, subject));
        result = {
          status: 'succeeded',
          externalId: located.externalId,
          ...(located.dn === '' ? {} : { dn: located.dn }),
        };
        logger.info({ ...context, externalId: located.externalId, dn: located.dn }, 'export applied');
      } catch (error) {
        result = failure(instruction, subject, error);
        logger.warn({ ...context, code: result.code, retriable: result.retriable }, result.message);
      }
      return result;
    },
    close() {
      return connection.close();
    },
  };
}

function objectClassOf(instruction: WritebackInstruction): DirectoryObjectClass {
  const objectClass = instruction.objectClass ?? 'user';
  if (objectClass === 'user' || objectClass === 'group' || objectClass === 'contact') return objectClass;
  throw new WritebackFailure(
    'JNY_WRITEBACK_UNSUPPORTED',
    `${instruction.operation}: object class ${objectClass} is not one the agent writes (user, group, contact)`,
  );
}

function requireExternalId(instruction: WritebackInstruction): string {
  if (instruction.externalId === undefined) {
    throw new WritebackFailure(
      'JNY_WRITEBACK_INVALID',
      `${instruction.operation} of export ${instruction.exportId}: no externalId to locate the object by`,
    );
  }
  return instruction.externalId;
}

/** The DN a create asks for (`dn` attribute) or, by default, the naming attribute under createIn. */
function newDn(
  kind: Kind,
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

/** The instruction's attributes as LDAP values: arrays of strings, or Buffers for binary attributes. */
function toWritableAttributes(attributes: Attributes): Record<string, string[] | Buffer[]> {
  const written: Record<string, string[] | Buffer[]> = {};
  for (const [type, value] of Object.entries(attributes)) {
    if (readOnlyAttributes.has(type.toLowerCase())) continue;
    const values = toValues(value).map((v) => (typeof v === 'boolean' ? (v ? 'TRUE' : 'FALSE') : String(v)));
    written[type] = isBinary(type) ? values.map((v) => Buffer.from(v, 'base64')) : values;
  }
  return written;
}

function toValues(value: AttributeValue | undefined): (string | number | boolean)[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function isBinary(type: string): boolean {
  const name = type.toLowerCase();
  return binaryAttributes.has(name) || name.endsWith(';binary');
}

function attribute(type: string, values: string[] | Buffer[]): Attribute {
  return new Attribute({ type, values });
}

function memberChange(operation: 'add' | 'delete', members: string[]): Change {
  return new Change({ operation, modification: new Attribute({ type: 'member', values: members }) });
}

function hasValue(value: AttributeValue | undefined): boolean {
  return toValues(value).some((v) => v !== '');
}

function first<T>(values: readonly T[] | undefined): T | undefined {
  return values?.[0];
}

function presentValues(entry: Entry, type: string): (string | Buffer)[] {
  const key = Object.keys(entry).find((name) => name.toLowerCase() === type.toLowerCase());
  const value = key === undefined ? undefined : entry[key];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** Whether the entry already holds exactly these values (strings compared case-insensitively). */
function sameValues(entry: Entry, written: Record<string, string[] | Buffer[]>): boolean {
  return Object.entries(written).every(([type, values]) => {
    const present = presentValues(entry, type).map((v) =>
      Buffer.isBuffer(v) ? v.toString('base64') : v.toLowerCase(),
    );
    const wanted = values.map((v) => (Buffer.isBuffer(v) ? v.toString('base64') : v.toLowerCase()));
    return present.length === wanted.length && wanted.every((v) => present.includes(v));
  });
}

/** AD's unicodePwd: the password in double quotes, UTF-16LE. */
function unicodePwd(password: string): Buffer {
  return Buffer.from(`"${password}"`, 'utf16le');
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

/** RFC 4514 escaping of an attribute value inside a DN. */
function escapeDnValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ');
}

function splitRdn(dn: string): [string, string] {
  const rdn = dn.slice(0, dn.search(/[^\\],/) + 1) || dn;
  const equals = rdn.indexOf('=');
  return [rdn.slice(0, equals), rdn.slice(equals + 1).replace(/\\(.)/g, '$1')];
}

function parentDn(dn: string): string {
  return dn.slice(dn.search(/[^\\],/) + 2);
}

/** Enough normalization to compare DNs the directory echoes back: case and spaces after commas. */
function normalizeDn(dn: string): string {
  return dn.replace(/,\s+/g, ',').toLowerCase();
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

// Directory conditions worth waiting out: busy, unavailable, time limit, admin limit, and the server
// going away (other, loop detect and the rest are permanent).
const retriableResultCodes = new Set([3, 11, 51, 52, 80]);

/** A failed result naming the operation, the object and the directory's error; never values. */
function failure(
  instruction: WritebackInstruction,
  subject: Subject,
  error: unknown,
): Extract<WritebackResult, { status: 'failed' }> {
  if (error instanceof WritebackFailure) {
    return { status: 'failed', code: error.code, message: error.message, retriable: error.retriable };
  }
  const what = `${instruction.operation} of ${subject.dn ?? `${instruction.objectClass ?? 'user'} ${instruction.externalId ?? '(new)'}`}`;
  if (error instanceof ResultCodeError) {
    const name = error.name
      .replace(/Error$/, '')
      .replace(/([a-z])([A-Z])/g, '$1_$2')
      .toUpperCase();
    return {
      status: 'failed',
      code: 'JNY_LDAP_RESULT',
      message: `${what}: LDAP result ${String(error.code)} ${name} (${error.name}): ${error.message}`,
      retriable: retriableResultCodes.has(error.code),
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  // Anything else comes from the connection (refused, reset, timed out): the directory may be back later.
  return {
    status: 'failed',
    code: 'JNY_LDAP_CONNECTION',
    message: `${what}: ${message}`,
    retriable: isRetriable(error) || /connection|socket|timeout|timed out|closed/i.test(message),
  };
}
