// Classification at inbound: the plan's classifications, tried in order against an identity's merged
// attributes; the first whose condition holds gives the identity its one integer.
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Attributes, AttributeValue } from '../../actors/identity.events.ts';
import type { AttributeSpec } from '../plan/plan.schema.ts';
import type { PlanCache, PlanInForce } from './plan-cache.ts';

export type Classify = (tenantId: string, attributes: Attributes) => number | undefined;

/** Loads the plans of a batch's tenants once, then classifies synchronously. */
export function createClassifier(plans: PlanCache) {
  return async (tx: EntityManager, tenantIds: string[]): Promise<Classify> => {
    const inForce = new Map<string, PlanInForce | undefined>();
    for (const tenantId of tenantIds) inForce.set(tenantId, await plans.get(tx, tenantId));
    return (tenantId, attributes) => {
      const plan = inForce.get(tenantId);
      const classifications = plan?.compiled.plan.classifications;
      if (plan === undefined || classifications === undefined) return undefined;
      const identity = celValues(plan.compiled.plan.vault.attributes, attributes);
      for (const [index, classification] of classifications.entries()) {
        const when = plan.compiled.expressions.get(`classifications[${String(index)}].when`);
        try {
          if (when?.({ identity }) === true) return classification.value;
        } catch {
          // An attribute the condition reads is missing on this identity: the condition does not hold.
        }
      }
      return undefined;
    };
  };
}

/** CEL wants ints as BigInt; attributes arrive as JSON numbers. Only declared attributes are visible. */
function celValues(declared: Record<string, AttributeSpec>, attributes: Attributes): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(declared)) {
    const value = attributes[name];
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
