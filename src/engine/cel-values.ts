// Values between Vault attributes (JSON) and CEL: CEL's ints are BigInt, attributes are JSON numbers.
import type { Attributes, AttributeValue } from '../../kernel/contracts/identity-events.ts';
import type { AttributeSpec } from '../plan/plan.schema.ts';

/** CEL wants ints as BigInt; attributes arrive as JSON numbers. Only declared attributes are visible. */
export function celValues(
  declared: Record<string, AttributeSpec>,
  attributes: Attributes,
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(declared)) {
    // Own values only: an attribute named like an Object method must not read the method.
    const value = Object.hasOwn(attributes, name) ? attributes[name] : undefined;
    if (value === undefined || value === null) continue;
    values[name] = spec.type === 'int' ? toBigInt(value) : value;
  }
  return values;
}

function toBigInt(value: AttributeValue): unknown {
  if (Array.isArray(value))
    return value.map((item) => (typeof item === 'number' ? BigInt(Math.trunc(item)) : item));
  return typeof value === 'number' ? BigInt(Math.trunc(value)) : value;
}

/** A CEL result as an attribute value (BigInt back to number; anything else structured as JSON text). */
export function toAttributeValue(value: unknown): AttributeValue {
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null)
    return value;
  if (Array.isArray(value))
    return value.map((item) => (typeof item === 'bigint' ? Number(item) : item) as string | number | boolean);
  return JSON.stringify(value);
}
