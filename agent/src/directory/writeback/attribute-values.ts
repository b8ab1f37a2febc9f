// Attribute values between an export and LDAP: the instruction's values as LDAP writes them (strings, or
// bytes for binary attributes), and reading and comparing what an entry holds.
import { Attribute, type Entry } from 'ldapts';
import type { AttributeValue, Attributes } from '../../../../kernel/contracts/identity-events.ts';
import { knownBinary } from '../ldap-records.ts';

/** Attribute type → the values to write; empty means "remove the attribute". */
export type WritableAttributes = Record<string, string[] | Buffer[]>;

/** Attributes whose values travel base64-encoded (as the sources read them) and are written as bytes. */
const binaryAttributes = new Set(knownBinary.map((name) => name.toLowerCase()));

// Never written from `attributes`: anchors are the directory's own, objectClass is chosen per kind, and
// membership and passwords come in their own fields (members, the sealed secret).
const readOnlyAttributes = new Set(
  ['dn', 'objectGUID', 'objectSid', 'entryUUID', 'objectClass', 'member', 'memberOf', 'unicodePwd'].map(
    (name) => name.toLowerCase(),
  ),
);

/** The instruction's attributes as LDAP values: arrays of strings, or Buffers for binary attributes. */
export function toWritableAttributes(attributes: Attributes): WritableAttributes {
  const written: WritableAttributes = {};
  for (const [type, value] of Object.entries(attributes)) {
    if (readOnlyAttributes.has(type.toLowerCase())) continue;
    const values = toValues(value).map((v) => (typeof v === 'boolean' ? (v ? 'TRUE' : 'FALSE') : String(v)));
    written[type] = isBinary(type) ? values.map((v) => Buffer.from(v, 'base64')) : values;
  }
  return written;
}

export function toValues(value: AttributeValue | undefined): (string | number | boolean)[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function isBinary(type: string): boolean {
  const name = type.toLowerCase();
  return binaryAttributes.has(name) || name.endsWith(';binary');
}

export function attribute(type: string, values: string[] | Buffer[]): Attribute {
  return new Attribute({ type, values });
}

export function hasValue(value: AttributeValue | undefined): boolean {
  return toValues(value).some((v) => v !== '');
}

export function first<T>(values: readonly T[] | undefined): T | undefined {
  return values?.[0];
}

/** The entry's values of `type` (matched case-insensitively), as an array. */
export function presentValues(entry: Entry, type: string): (string | Buffer)[] {
  const key = Object.keys(entry).find((name) => name.toLowerCase() === type.toLowerCase());
  const value = key === undefined ? undefined : entry[key];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** Whether the entry already holds exactly these values (strings compared case-insensitively). */
export function sameValues(entry: Entry, written: WritableAttributes): boolean {
  return Object.entries(written).every(([type, values]) => {
    const present = presentValues(entry, type).map((v) =>
      Buffer.isBuffer(v) ? v.toString('base64') : v.toLowerCase(),
    );
    const wanted = values.map((v) => (Buffer.isBuffer(v) ? v.toString('base64') : v.toLowerCase()));
    return present.length === wanted.length && wanted.every((v) => present.includes(v));
  });
}
