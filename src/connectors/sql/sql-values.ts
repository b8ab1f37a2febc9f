// Values between SQL rows and application attributes — pure. Read: each column a declared attribute names
// becomes a value of the attribute's type (timestamps as ISO strings, numbers, booleans; null is absent);
// a value that cannot be one is a problem for the row, said with its column. Written: attribute values
// become driver parameters (arrays stay arrays on PostgreSQL, JSON text on MySQL; timestamps as MySQL
// reads them).
import type { AttributeValue, Attributes } from '../../../kernel/contracts/identity-events.ts';
import type { SqlDialect } from './sql-statements.ts';

export type AttributeType = 'string' | 'int' | 'bool' | 'double' | 'bytes' | 'timestamp';

export interface SqlAttribute {
  type: AttributeType;
  multiValued: boolean;
}

type Scalar = string | number | boolean;

/** A value read, or why it cannot be the attribute's type. */
type Read<T> = { value: T } | { problem: string };

const sqlTimestamp =
  /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * A timestamp as SQL writes it (`2026-12-06 14:00:00.123456+00`, `2026-12-06 14:00:00`, `2026-12-06`) or a
 * Date, as an ISO string. Without an offset it is UTC (the connector's sessions run in UTC).
 */
export function isoTimestamp(value: unknown): string | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (typeof value !== 'string') return null;
  const match = sqlTimestamp.exec(value.trim());
  if (match === null) return null;
  const [, date, hoursMinutes, seconds, fraction, zone] = match;
  const offset =
    zone === undefined || zone.toUpperCase() === 'Z'
      ? 'Z'
      : zone.length === 3
        ? `${zone}:00`
        : zone.includes(':')
          ? zone
          : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const time = `${hoursMinutes ?? '00:00'}:${seconds ?? '00'}.${(fraction ?? '').padEnd(3, '0').slice(0, 3)}`;
  const parsed = new Date(`${date ?? ''}T${time}${offset}`);
  return Number.isNaN(parsed.getTime()) ? null : parsed.toISOString();
}

/** changedOverlap's default for a date or timestamp change column, seconds; a number column's is 0. */
export const DEFAULT_TIMESTAMP_OVERLAP_SECONDS = 300;

const wholeNumber = /^-?\d+$/;
const decimalNumber = /^-?\d+\.\d+$/;

/**
 * Where a delta reads from: the last run's cursor (the highest change value it read, as text) less the
 * overlap — `overlap` seconds for a timestamp (its fraction and offset kept, so microseconds stay exact),
 * `overlap` values for a number (integers as bigint: a version column may pass 2^53). A cursor that is
 * neither (a text column) is read from as it is. `overlap` null: the default for the cursor's kind.
 */
export function deltaStart(cursor: string, overlap: number | null): string {
  const text = cursor.trim();
  if (wholeNumber.test(text))
    return overlap === null || overlap === 0 ? text : String(BigInt(text) - BigInt(overlap));
  if (decimalNumber.test(text))
    return overlap === null || overlap === 0 ? text : String(Number(text) - overlap);
  const match = sqlTimestamp.exec(text);
  const seconds = overlap ?? DEFAULT_TIMESTAMP_OVERLAP_SECONDS;
  if (match === null || seconds === 0) return text;
  const [, date = '', hoursMinutes = '00:00', second = '00', fraction, zone] = match;
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const [hours, minutes] = hoursMinutes.split(':').map(Number) as [number, number];
  // The wall clock moved back in the cursor's own offset: exact, whatever the offset is.
  const shifted = new Date(Date.UTC(year, month - 1, day, hours, minutes, Number(second)) - seconds * 1000);
  const wall = shifted.toISOString().slice(0, 19).replace('T', ' ');
  return `${wall}${fraction === undefined ? '' : `.${fraction}`}${zone ?? ''}`;
}

function describe(value: unknown): string {
  const text = typeof value === 'string' ? `"${value}"` : Buffer.isBuffer(value) ? 'bytes' : String(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

function readScalar(value: unknown, type: AttributeType): Read<Scalar> {
  switch (type) {
    case 'string':
      if (typeof value === 'string') return { value };
      if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
        return { value: String(value) };
      if (value instanceof Date) return { value: isoTimestamp(value) ?? String(value) };
      if (Buffer.isBuffer(value)) return { value: value.toString('utf8') };
      return { value: JSON.stringify(value) };
    case 'int': {
      const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof number === 'number' && Number.isSafeInteger(number)) return { value: number };
      if (
        typeof number === 'bigint' &&
        number <= BigInt(Number.MAX_SAFE_INTEGER) &&
        number >= -BigInt(Number.MAX_SAFE_INTEGER)
      )
        return { value: Number(number) };
      return { problem: `${describe(value)} is not an integer (or too large for one)` };
    }
    case 'double': {
      const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof number === 'number' && Number.isFinite(number)) return { value: number };
      if (typeof number === 'bigint') return { value: Number(number) };
      return { problem: `${describe(value)} is not a number` };
    }
    case 'bool':
      if (typeof value === 'boolean') return { value };
      if (value === 0 || value === 1) return { value: value === 1 };
      if (typeof value === 'string' && /^(t|true|1|y|yes)$/i.test(value)) return { value: true };
      if (typeof value === 'string' && /^(f|false|0|n|no)$/i.test(value)) return { value: false };
      // MySQL's BIT(1).
      if (Buffer.isBuffer(value) && value.length === 1) return { value: value[0] !== 0 };
      return { problem: `${describe(value)} is not a boolean` };
    case 'timestamp': {
      const iso = isoTimestamp(value);
      return iso === null ? { problem: `${describe(value)} is not a timestamp` } : { value: iso };
    }
    case 'bytes':
      if (Buffer.isBuffer(value)) return { value: value.toString('base64') };
      if (typeof value === 'string') return { value };
      return { problem: `${describe(value)} is not bytes` };
  }
}

/** A column's value as the attribute's value; undefined when absent (null). */
export function readAttribute(value: unknown, attribute: SqlAttribute): Read<AttributeValue> | undefined {
  if (value === null || value === undefined) return undefined;
  if (!attribute.multiValued) return readScalar(value, attribute.type);
  let items: unknown = value;
  // A JSON array (MySQL has no array columns).
  if (typeof value === 'string' && value.trimStart().startsWith('[')) {
    try {
      items = JSON.parse(value) as unknown;
    } catch {
      items = value;
    }
  }
  const list: Scalar[] = [];
  for (const item of Array.isArray(items) ? (items as unknown[]) : [items]) {
    if (item === null || item === undefined) continue;
    const read = readScalar(item, attribute.type);
    if ('problem' in read) return read;
    list.push(read.value);
  }
  return { value: list };
}

/** A row's key as the object's external id, or why it cannot be one. */
export function readKey(value: unknown): Read<string> {
  if (value === null || value === undefined) return { problem: 'the key is null' };
  const text =
    typeof value === 'string'
      ? value
      : typeof value === 'number' || typeof value === 'bigint'
        ? String(value)
        : value instanceof Date
          ? value.toISOString()
          : Buffer.isBuffer(value)
            ? value.toString('hex')
            : null;
  if (text === null) return { problem: `the key ${describe(value)} is neither text nor a number` };
  if (text === '') return { problem: 'the key is empty' };
  if (text.length > 1024) return { problem: 'the key is longer than 1024 characters' };
  return { value: text };
}

/**
 * A row's declared attributes: each attribute takes the column named as it (or, when none is, the one
 * column whose name matches it ignoring case — PostgreSQL folds unquoted aliases to lower case).
 */
export function readRow(
  row: Record<string, unknown>,
  attributes: ReadonlyMap<string, SqlAttribute>,
): { attributes: Attributes } | { problem: string } {
  const result: Attributes = {};
  const folded = new Map<string, string[]>();
  for (const name of Object.keys(row)) {
    const lower = name.toLowerCase();
    folded.set(lower, [...(folded.get(lower) ?? []), name]);
  }
  for (const [name, attribute] of attributes) {
    const columnName = Object.hasOwn(row, name) ? name : folded.get(name.toLowerCase())?.[0];
    if (columnName === undefined) continue;
    const read = readAttribute(row[columnName], attribute);
    if (read === undefined) continue;
    if ('problem' in read) return { problem: `column ${columnName}: ${read.problem}` };
    result[name] = read.value;
  }
  return { attributes: result };
}

/** `2026-12-06 14:00:00.123`: how MySQL reads a DATETIME (the session is UTC). */
function mysqlDateTime(iso: string): string {
  return iso.replace('T', ' ').replace(/Z$/, '');
}

/** An attribute value as a parameter of a statement. */
export function writeParameter(
  dialect: SqlDialect,
  value: AttributeValue | undefined,
  type: AttributeType,
): unknown {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return dialect === 'postgresql' ? value : JSON.stringify(value);
  if (dialect === 'mysql') {
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (type === 'timestamp') {
      const iso = isoTimestamp(value);
      if (iso !== null) return mysqlDateTime(iso);
    }
  }
  return value;
}
