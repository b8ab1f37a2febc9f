// Classification and rules at inbound, over an identity's merged attributes: the plan's rules whose
// condition holds set Vault attributes; then its classifications, tried in order, give the identity its
// one integer (the first whose condition holds).
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Attributes } from '../../kernel/contracts/identity-events.ts';
import { overBudgetAt } from '../plan/expression-budget.ts';
import { celValues, toAttributeValue } from './cel-values.ts';
import type { PlanCache, PlanInForce } from './plan-cache.ts';

export type Classify = (tenantId: string, attributes: Attributes) => number | undefined;
export type ApplyRules = (
  tenantId: string,
  attributes: Attributes,
) => { attributes: Attributes; rules: string[] } | undefined;

/** Loads the plans of a batch's tenants once, then evaluates rules synchronously. */
export function createRules(plans: PlanCache) {
  return async (tx: EntityManager, tenantIds: string[]): Promise<ApplyRules> => {
    const inForce = new Map<string, PlanInForce | undefined>();
    for (const tenantId of tenantIds) inForce.set(tenantId, await plans.get(tx, tenantId));
    return (tenantId, attributes) => {
      const plan = inForce.get(tenantId);
      const rules = plan?.compiled.plan.rules;
      if (plan === undefined || rules === undefined) return undefined;
      const identity = celValues(plan.compiled.plan.vault.attributes, attributes);
      const set: Attributes = {};
      const applied: string[] = [];
      for (const [index, rule] of rules.entries()) {
        try {
          if (plan.compiled.expressions.get(`rules[${String(index)}].when`)?.({ identity }) !== true)
            continue;
          for (const attribute of Object.keys(rule.set)) {
            const expression = plan.compiled.expressions.get(`rules[${String(index)}].set.${attribute}`);
            if (expression !== undefined) set[attribute] = toAttributeValue(expression({ identity }));
          }
          applied.push(rule.name);
        } catch (error) {
          // Over budget: the identity fails (its event is dead-lettered), never silently.
          const overBudget = overBudgetAt(error, { tenantId });
          if (overBudget !== undefined) throw overBudget;
          // An attribute the rule reads is missing on this identity: the rule does not apply.
        }
      }
      return applied.length === 0 ? undefined : { attributes: set, rules: applied };
    };
  };
}

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
        } catch (error) {
          const overBudget = overBudgetAt(error, { tenantId });
          if (overBudget !== undefined) throw overBudget;
          // An attribute the condition reads is missing on this identity: the condition does not hold.
        }
      }
      return undefined;
    };
  };
}
