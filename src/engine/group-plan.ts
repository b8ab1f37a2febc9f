// What the plan in force says about groups, pure: whether a tenant's plan has any, which imported objects
// are groups, which applications receive a source application's groups, and a group's attributes there.
import type { Attributes } from '../../kernel/contracts/identity-events.ts';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { ExpressionBudgetError } from '../../kernel/errors.ts';
import { groupClasses } from '../plan/check-plan.ts';
import type { ApplicationPlan, AttributeSpec, GroupExport } from '../plan/plan.schema.ts';
import { toAttributeValue } from './cel-values.ts';
import type { PlanInForce } from './plan-cache.ts';

type ImportObject = MessageData<'joinery.import.object.v1'>;

/** Whether a plan has groups at all: without them the group forwarder costs nothing per batch. */
export function usesGroups(plan: PlanInForce): boolean {
  return [...plan.applications.values()].some(({ plan: application }) => groupClasses(application).size > 0);
}

/** Whether an object is of a group class, in the tenants whose plans use groups. */
export function groupTest(withGroups: Map<string, PlanInForce>): (object: ImportObject) => boolean {
  return (object) => {
    const application = withGroups.get(object.tenantId)?.applications.get(object.applicationId);
    return application !== undefined && groupClasses(application.plan).has(object.objectClass);
  };
}

/** An application that receives groups (export.groups), as the group decision uses it. */
export interface GroupTarget {
  applicationId: string;
  index: number;
  plan: ApplicationPlan;
  groups: GroupExport;
  membersAttribute: string;
  reference: 'dn' | 'externalId';
}

/** The applications that receive the groups of a source application. */
export function groupTargetsOf(plan: PlanInForce, sourceApplicationId: string): GroupTarget[] {
  const source = plan.applications.get(sourceApplicationId)?.plan.name;
  if (source === undefined) return [];
  return [...plan.applications].flatMap(([applicationId, { plan: application, index }]) => {
    const groups = application.export?.groups;
    if (groups === undefined || !groups.from.includes(source)) return [];
    const membersAttribute = groupClasses(application).get(groups.objectClass)?.members ?? 'member';
    const reference =
      groups.memberReference ??
      (application.type === 'ldap' || application.type === 'active-directory' ? 'dn' : 'externalId');
    return [{ applicationId, index, plan: application, groups, membersAttribute, reference }];
  });
}

/** The declared attributes of the source application's group class (what `group` shows expressions). */
export function sourceGroupSpecs(
  plan: PlanInForce,
  applicationId: string,
  objectClass: string,
): Record<string, AttributeSpec> {
  return plan.applications.get(applicationId)?.plan.objectClasses[objectClass]?.attributes ?? {};
}

/** The group's attributes in the target: each export.groups.attributes expression, null when it fails. */
export function mapGroup(plan: PlanInForce, target: GroupTarget, group: Record<string, unknown>): Attributes {
  const attributes: Attributes = {};
  for (const name of Object.keys(target.groups.attributes ?? {})) {
    const expression = plan.compiled.expressions.get(
      `applications[${String(target.index)}].export.groups.attributes.${name}`,
    );
    try {
      attributes[name] = expression === undefined ? null : toAttributeValue(expression({ group }));
    } catch (error) {
      // Over budget: this group is not decided in this target (decideGroupExports reports it).
      if (error instanceof ExpressionBudgetError) throw error;
      // An attribute the expression needs is missing on this group: the target attribute has no value.
      attributes[name] = null;
    }
  }
  return attributes;
}
