// What the OpenLDAP and Active Directory sources share: paged reading through the reconnecting
// connection, the directory's schema (which attributes are single-valued, which are binary), and turning
// an ldapts Entry into the attributes of a DirectoryRecord.
import type { Client, Control, Entry, SearchOptions } from 'ldapts';
import type { AttributeValue, Attributes } from '../../../kernel/contracts/identity-events.ts';
import { UnavailableError } from '../../../kernel/errors.ts';
import type { DirectoryObjectClass } from '../contracts.ts';
import type { LdapDirectoryOptions } from './directory-options.ts';
import type { LdapConnection } from './ldap-connection.ts';

export const objectClasses: readonly DirectoryObjectClass[] = ['user', 'group', 'contact'];

/**
 * Binary whatever the schema says (some servers publish them with a string syntax): read as bytes and sent
 * base64-encoded, and written back as bytes.
 */
export const knownBinary: readonly string[] = [
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
  'sIDHistory',
  'audio',
];

/** LDAP syntaxes whose values are bytes: Octet String, Binary, JPEG, Certificate (List, Pair), Audio, Fax. */
const binarySyntaxes = new Set(
  ['40', '5', '28', '8', '9', '10', '4', '23'].map((n) => `1.3.6.1.4.1.1466.115.121.1.${n}`),
);

/** Never sent: secrets, and bookkeeping that changes without the object changing. */
const skipped = new Set(
  [
    'userPassword',
    'authPassword',
    'unicodePwd',
    'dBCSPwd',
    'supplementalCredentials',
    'ntPwdHistory',
    'lmPwdHistory',
    'nTSecurityDescriptor',
    'dSCorePropagationData',
    'instanceType',
    'replPropertyMetaData',
    'msDS-KeyCredentialLink',
  ].map((name) => name.toLowerCase()),
);

/** An attribute name the import contract accepts (options such as ;binary are stripped first). */
const attributeName = /^[A-Za-z][A-Za-z0-9_.-]{0,127}$/;
const rangedName = /^([^;]+);range=(\d+)-(\d+|\*)$/i;

export interface DirectorySchema {
  /** Lower-case names of single-valued attributes: sent as a scalar, everything else as an array. */
  singleValued: ReadonlySet<string>;
  binary: ReadonlySet<string>;
  /** The names to request as Buffers, in the casing the server returns them. */
  bufferNames: string[];
}

/** An LDAP failure, named by operation and base; the directory's own message is kept as the cause. */
export function directoryFailure(operation: string, base: string, cause: unknown): UnavailableError {
  return new UnavailableError(`${operation} under ${base} failed`, { cause });
}

/** One operation on the connection; a failure names the operation and base (never attribute values). */
export async function inDirectory<T>(
  connection: LdapConnection,
  operation: string,
  base: string,
  use: (client: Client) => Promise<T>,
): Promise<T> {
  try {
    return await connection.withClient(use);
  } catch (error) {
    throw directoryFailure(operation, base, error);
  }
}

export interface SearchRequest {
  operation: string;
  base: string;
  filter: string;
  scope?: SearchOptions['scope'];
  attributes: string[];
  bufferNames?: string[];
  controls?: Control[];
  pageSize: number;
}

/**
 * A paged search, one page per connection use: the pages are yielded as they arrive, so a full import
 * of a large directory never holds more than one page. A connection lost mid-search fails the search
 * (the server's paging cookie belongs to the lost connection); the agent retries the whole run.
 */
export async function* searchPages(
  connection: LdapConnection,
  request: SearchRequest,
): AsyncGenerator<Entry[]> {
  let pages: AsyncGenerator<{ searchEntries: Entry[] }> | undefined;
  try {
    for (;;) {
      const next = await inDirectory(connection, request.operation, request.base, (client) => {
        pages ??= client.searchPaginated(
          request.base,
          {
            scope: request.scope ?? 'sub',
            filter: request.filter,
            attributes: request.attributes,
            explicitBufferAttributes: request.bufferNames ?? [],
            paged: { pageSize: request.pageSize },
          },
          request.controls,
        );
        return pages.next();
      });
      if (next.done === true) return;
      if (next.value.searchEntries.length > 0) yield next.value.searchEntries;
    }
  } finally {
    await pages?.return(undefined).catch(() => undefined);
  }
}

export async function searchAll(connection: LdapConnection, request: SearchRequest): Promise<Entry[]> {
  const entries: Entry[] = [];
  for await (const page of searchPages(connection, request)) entries.push(...page);
  return entries;
}

/** Reads the directory's attribute types from its subschema entry (RFC 4512; AD publishes one too). */
export async function readDirectorySchema(connection: LdapConnection): Promise<DirectorySchema> {
  const root = await inDirectory(connection, 'reading the rootDSE', '(rootDSE)', (client) =>
    client.search('', { scope: 'base', filter: '(objectClass=*)', attributes: ['subschemaSubentry'] }),
  );
  const subschema = firstString(root.searchEntries[0]?.subschemaSubentry);
  const types =
    subschema === undefined
      ? []
      : await inDirectory(connection, 'reading the schema', subschema, async (client) => {
          const { searchEntries } = await client.search(subschema, {
            scope: 'base',
            filter: '(objectClass=*)',
            attributes: ['attributeTypes'],
          });
          return strings(searchEntries[0]?.attributeTypes);
        });
  return parseAttributeTypes(types);
}

/** Pure: the single-valued and binary attribute names of RFC 4512 attributeTypes descriptions. */
export function parseAttributeTypes(descriptions: readonly string[]): DirectorySchema {
  const singleValued = new Set<string>();
  const binary = new Set<string>(knownBinary.map((name) => name.toLowerCase()));
  const bufferNames = new Set<string>(knownBinary);
  for (const description of descriptions) {
    const names = namesOf(description);
    const syntax = /\bSYNTAX\s+'?([0-9.]+)/.exec(description)?.[1];
    const isBinary = syntax !== undefined && binarySyntaxes.has(syntax);
    for (const name of names) {
      if (/\bSINGLE-VALUE\b/.test(description)) singleValued.add(name.toLowerCase());
      if (isBinary) {
        binary.add(name.toLowerCase());
        bufferNames.add(name);
      }
    }
  }
  for (const name of [...bufferNames]) {
    bufferNames.add(name.toLowerCase());
    bufferNames.add(`${name};binary`);
  }
  return { singleValued, binary, bufferNames: [...bufferNames] };
}

function namesOf(description: string): string[] {
  const list = /\bNAME\s+\(([^)]*)\)/.exec(description)?.[1];
  if (list !== undefined) return [...list.matchAll(/'([^']+)'/g)].map((match) => match[1] ?? '');
  const single = /\bNAME\s+'([^']+)'/.exec(description)?.[1];
  return single === undefined ? [] : [single];
}

/**
 * Pure: an entry's attributes as the import contract carries them. Multi-valued attributes stay arrays
 * (even with one value), single-valued ones are scalars, binary values are base64, secrets and
 * bookkeeping noise are left out. Ranged values must have been completed before (see readRangedValues).
 */
export function entryAttributes(entry: Entry, schema: DirectorySchema): Attributes {
  const attributes: Attributes = {};
  for (const [key, raw] of Object.entries(entry)) {
    if (key === 'dn') continue;
    const name = key.replace(/;binary$/i, '');
    const lower = name.toLowerCase();
    if (skipped.has(lower) || !attributeName.test(name)) continue;
    const values = (Array.isArray(raw) ? raw : [raw]).map((value: string | Buffer) =>
      Buffer.isBuffer(value) ? value.toString('base64') : value,
    );
    if (values.length === 0) continue; // requested but absent
    const [only] = values;
    const value: AttributeValue =
      schema.singleValued.has(lower) && values.length === 1 && only !== undefined ? only : values;
    attributes[name] = value;
  }
  return attributes;
}

/**
 * The values of an attribute the server returned in ranges (AD's MaxValRange, 1500 by default: a large
 * group's `member;range=0-1499`), read range after range until the server answers with an end of `*`.
 * `step` bounds each request (`*` otherwise: the server decides how many it sends).
 */
export async function readRangedValues(
  connection: LdapConnection,
  dn: string,
  attribute: string,
  from: number,
  step?: number,
): Promise<string[]> {
  const values: string[] = [];
  let start = from;
  for (;;) {
    const requested = `${attribute};range=${String(start)}-${step === undefined ? '*' : String(start + step - 1)}`;
    const entry = await inDirectory(
      connection,
      `reading ${attribute} values from ${String(start)}`,
      dn,
      async (client) => {
        const { searchEntries } = await client.search(dn, {
          scope: 'base',
          filter: '(objectClass=*)',
          attributes: [requested],
        });
        return searchEntries[0];
      },
    );
    if (entry === undefined)
      throw directoryFailure(`reading ${attribute} values`, dn, new Error('entry is gone'));
    const ranged = Object.entries(entry).find(
      ([key]) => rangedName.exec(key)?.[1]?.toLowerCase() === attribute.toLowerCase(),
    );
    if (ranged === undefined) {
      // Fewer values than the step: some servers answer with the plain attribute.
      const plain = Object.entries(entry).find(([key]) => key.toLowerCase() === attribute.toLowerCase());
      if (plain !== undefined) values.push(...strings(plain[1]));
      return values;
    }
    const received = strings(ranged[1]);
    values.push(...received);
    const end = rangedName.exec(ranged[0])?.[3];
    if (end === undefined || end === '*' || received.length === 0) return values;
    start = Number(end) + 1;
  }
}

/** Completes every ranged attribute of an entry (`member;range=0-1499` → `member` with all values). */
export async function completeRanges(connection: LdapConnection, entry: Entry): Promise<Entry> {
  const ranged = Object.keys(entry).flatMap((key) => {
    const match = rangedName.exec(key);
    return match === null ? [] : [{ key, attribute: match[1] ?? key, end: match[3] ?? '*' }];
  });
  if (ranged.length === 0) return entry;
  const rangedKeys = new Set(ranged.map(({ key }) => key));
  const complete: Entry = {
    ...Object.fromEntries(Object.entries(entry).filter(([key]) => !rangedKeys.has(key))),
    dn: entry.dn,
  };
  for (const { key, attribute, end } of ranged) {
    const first = strings(entry[key]);
    const rest = end === '*' ? [] : await readRangedValues(connection, entry.dn, attribute, Number(end) + 1);
    complete[attribute] = [...first, ...rest];
  }
  return complete;
}

/** Escapes a value for an LDAP filter (RFC 4515). */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\*()\0]/g, (char) => `\\${char.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Whether `dn` is `base` or lies under it (compared without case or spaces after commas). */
export function isWithin(dn: string, base: string): boolean {
  const normal = (value: string) => value.toLowerCase().replace(/,\s+/g, ',');
  const d = normal(dn);
  const b = normal(base);
  return d === b || d.endsWith(`,${b}`);
}

/** The object class whose base holds `dn` most specifically (deletions carry no filterable entry). */
export function classByLocation(dn: string, options: LdapDirectoryOptions): DirectoryObjectClass | undefined {
  let best: { objectClass: DirectoryObjectClass; depth: number } | undefined;
  for (const objectClass of objectClasses) {
    const { base } = options.searches[objectClass];
    if (!isWithin(dn, base)) continue;
    if (best === undefined || base.length > best.depth) best = { objectClass, depth: base.length };
  }
  return best?.objectClass;
}

/** objectGUID bytes as the canonical GUID string: the first three groups are little-endian. */
export function canonicalGuid(bytes: Buffer): string {
  if (bytes.length !== 16) throw new Error(`a GUID has 16 bytes, not ${String(bytes.length)}`);
  const hex = (from: number, to: number, reverse: boolean) => {
    const part = [...bytes.subarray(from, to)];
    return (reverse ? part.reverse() : part).map((byte) => byte.toString(16).padStart(2, '0')).join('');
  };
  return [hex(0, 4, true), hex(4, 6, true), hex(6, 8, true), hex(8, 10, false), hex(10, 16, false)].join('-');
}

export function strings(value: Entry[string] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map((item: string | Buffer) =>
    Buffer.isBuffer(item) ? item.toString('utf8') : item,
  );
}

export function firstString(value: Entry[string] | undefined): string | undefined {
  return strings(value)[0];
}

export function firstBuffer(value: Entry[string] | undefined): Buffer | undefined {
  const first: string | Buffer | undefined = Array.isArray(value) ? value[0] : value;
  return Buffer.isBuffer(first) ? first : undefined;
}
