// Values as the Vault declares them: what an inbound mapper gives (an application object's attribute, or
// a CEL result) is coerced to the Vault attribute's declared type before it reaches the identity. A
// directory sends every attribute its schema calls multi-valued as a list, even with one value: a
// single-valued Vault attribute must still hold one scalar, or `GET /v1/identities?attribute=…&value=…`,
// the joining rules and the outbound mappers never see it.
//
// The rule (docs/configuration.md, "Values in the Vault"):
// - single-valued: a one-value list is its value, an empty list is null (no value), a list of several
//   takes the first in the order the source gave them (the object's other values stay in its repository
//   row); a scalar is converted where that is unambiguous (a number or a boolean for a string, a decimal
//   string for an int or a double, "true"/"false" for a bool), anything else cannot be coerced;
// - multi-valued: always a list (a scalar becomes a list of one), each value coerced as above;
// - a value that cannot be coerced is not written: the mapper supplies nothing for that object, as when
//   an expression needs an attribute the object lacks, and the identity keeps what it had.
import type { Attributes, AttributeValue } from '../../kernel/contracts/identity-events.ts';
import type { AttributeSpec } from '../plan/plan.schema.ts';

type Scalar = string | number | boolean;

/** A mapped value as the Vault attribute takes it, or why it cannot take it. */
export type VaultValue =
  | {
      ok: true;
      value: AttributeValue;
      /** Several values for a single-valued attribute: how many. */ of?: number;
    }
  | { ok: false; reason: string };

/** What the coercion of one object's mapped attributes did besides converting: for logs and tests. */
export interface VaultValueNote {
  attribute: string;
  /** `first-of-several`: the first value was kept; `uncoercible`: nothing was written. */
  kind: 'first-of-several' | 'uncoercible';
  reason: string;
}

const integer = /^[+-]?\d+$/;
const decimal = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** One scalar as the declared scalar type, or undefined when that conversion would be a guess. */
function coerceScalar(type: NonNullable<AttributeSpec['type']>, value: Scalar): Scalar | undefined {
  switch (type) {
    case 'string':
      return typeof value === 'string' ? value : String(value);
    case 'int': {
      const number = typeof value === 'string' && integer.test(value.trim()) ? Number(value.trim()) : value;
      return typeof number === 'number' && Number.isSafeInteger(number) ? number : undefined;
    }
    case 'double': {
      if (typeof value === 'number') return value;
      return typeof value === 'string' && decimal.test(value.trim()) ? Number(value.trim()) : undefined;
    }
    case 'bool': {
      if (typeof value === 'boolean') return value;
      // LDAP's Boolean syntax is TRUE/FALSE (RFC 4517 3.3.3); CSV and SQL sources say true/false.
      const word = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
      return word === 'true' ? true : word === 'false' ? false : undefined;
    }
    case 'bytes': // base64, as the connectors send binary values
    case 'timestamp': // kept as the source wrote it
      return typeof value === 'string' ? value : undefined;
  }
}

/** A mapped value as the declared Vault attribute takes it. Pure. */
export function toVaultValue(spec: AttributeSpec, value: AttributeValue): VaultValue {
  const type = spec.type ?? 'string';
  if (value === null) return { ok: true, value: null };
  const values = Array.isArray(value) ? value : [value];
  const coerced: Scalar[] = [];
  // A single-valued attribute looks at the first value only: the others are not written anywhere.
  for (const item of spec.multiValued === true ? values : values.slice(0, 1)) {
    const converted = coerceScalar(type, item);
    if (converted === undefined)
      // The value itself is not named: the attribute may be sensitive, and reasons end up in logs.
      return { ok: false, reason: `a ${typeof item} value that cannot be read as ${type}` };
    coerced.push(converted);
  }
  if (spec.multiValued === true) return { ok: true, value: coerced };
  const [first] = coerced;
  if (first === undefined) return { ok: true, value: null };
  return values.length > 1 ? { ok: true, value: first, of: values.length } : { ok: true, value: first };
}

/**
 * An object's mapped attributes as the Vault declares them (`vault.attributes` of the plan): each value
 * coerced, those that cannot be left out, with a note of each choice made. An attribute the plan does not
 * declare is passed as it is (a valid plan maps only to declared ones). Pure.
 */
export function toVaultAttributes(
  declared: Record<string, AttributeSpec>,
  mapped: Attributes,
): { attributes: Attributes; notes: VaultValueNote[] } {
  const attributes: Attributes = {};
  const notes: VaultValueNote[] = [];
  for (const [attribute, value] of Object.entries(mapped)) {
    const spec = declared[attribute];
    // A sensitive value arrives sealed (src/secrets/sensitive-values.ts): it is kept as its source sent it.
    if (spec === undefined || spec.sensitive === true) {
      attributes[attribute] = value;
      continue;
    }
    const result = toVaultValue(spec, value);
    if (!result.ok) {
      notes.push({
        attribute,
        kind: 'uncoercible',
        reason: `${attribute}: ${result.reason}; not written`,
      });
      continue;
    }
    attributes[attribute] = result.value;
    if (result.of !== undefined)
      notes.push({
        attribute,
        kind: 'first-of-several',
        reason: `${attribute} is single-valued: the first of ${String(result.of)} values kept`,
      });
  }
  return { attributes, notes };
}
