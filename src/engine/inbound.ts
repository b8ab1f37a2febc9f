// From a changed repository object to its identity's inbound event: find the identity through the hard
// join, or project a new one when the application creates identities (its id derived from the object,
// so a replayed import projects the same identity, never a second one), and map the object's attributes
// to Vault attributes with the plan's inbound mappers. Objects that join nothing are left unjoined.
//
// Without a hard join, the application's joining rules are tried in order: one match joins, several are
// held as an ambiguous join (never a guess), none projects or leaves the object unjoined.
//
// Each mapped attribute carries its mapper's authority; the identity keeps the value of the highest.
//
// Not yet: classification and rules; the joining rules' lookups scan the
// tenant's identities (correct, not yet indexed for bulk loads).
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { v5 as uuidv5 } from 'uuid';
import type { Attributes } from '../../actors/identity.events.ts';
import { encodeMessage } from '../../streams/cloudevents.ts';
import type { MessageData } from '../../streams/messages.ts';
import type { OutboxRow } from '../../streams/outbox.ts';
import type { PlanCache, PlanInForce } from './plan-cache.ts';
import { celValues, toAttributeValue } from './cel-values.ts';
import type { ApplicationPlan, AttributeSpec } from '../plan/plan.schema.ts';

type ImportObject = MessageData<'joinery.import.object.v1'>;

/** Namespace of projected identity ids (uuid v5 of tenant, application and object). */
const PROJECTION_NAMESPACE = '7f1d3c52-5d0e-4d1b-9a55-2a4a3c8e6b10';

export interface InboundForwarder {
  forward(tx: EntityManager, objects: ImportObject[]): Promise<OutboxRow[]>;
  readonly counters: { forwarded: number; projected: number; unjoined: number; ambiguous: number };
}

export function createInboundForwarder(options: {
  plans: PlanCache;
  identityTopic: string;
  source: string;
}): InboundForwarder {
  const counters = { forwarded: 0, projected: 0, unjoined: 0, ambiguous: 0 };
  return {
    counters,
    async forward(tx, objects) {
      if (objects.length === 0) return [];
      const { rows } = await sql<{
        tenant_id: string;
        application_id: string;
        external_id: string;
        identity_id: string;
      }>`
        select s.tenant_id, s.application_id, s.external_id, s.identity_id
        from identity_source s
        join jsonb_to_recordset(${JSON.stringify(
          objects.map((o) => ({
            tenant_id: o.tenantId,
            application_id: o.applicationId,
            external_id: o.externalId,
          })),
        )}::jsonb) as u(tenant_id uuid, application_id uuid, external_id text)
          on s.tenant_id = u.tenant_id and s.application_id = u.application_id and s.external_id = u.external_id`.execute(
        tx.getKysely(),
      );
      const joined = new Map(
        rows.map((row) => [`${row.tenant_id}|${row.application_id}|${row.external_id}`, row.identity_id]),
      );
      const plans = new Map<string, PlanInForce | undefined>();
      const outbox: OutboxRow[] = [];
      for (const object of objects) {
        if (!plans.has(object.tenantId))
          plans.set(object.tenantId, await options.plans.get(tx, object.tenantId));
        const application = plans.get(object.tenantId)?.applications.get(object.applicationId);
        const plan = plans.get(object.tenantId);
        if (plan === undefined || application === undefined) continue; // not configured: repository only
        let identityId = joined.get(`${object.tenantId}|${object.applicationId}|${object.externalId}`);
        if (identityId === undefined) {
          const match = await matchJoiningRules(tx, object, application.plan);
          if (match.kind === 'ambiguous') {
            counters.ambiguous++;
            await recordJoin(tx, object, 'ambiguous', null, {
              rule: match.rule,
              identityIds: match.identityIds,
            });
            continue;
          }
          if (match.kind === 'joined') identityId = match.identityId;
        }
        if (identityId === undefined && application.plan.createsIdentities === true) {
          identityId = uuidv5(
            `${object.tenantId}|${object.applicationId}|${object.externalId}`,
            PROJECTION_NAMESPACE,
          );
          counters.projected++;
        }
        if (identityId === undefined) {
          counters.unjoined++;
          await recordJoin(tx, object, 'unjoined', null, null);
          continue;
        }
        await recordJoin(tx, object, 'joined', identityId, null);
        const attributes = mapInbound(plan, application.index, object.attributes ?? {});
        const authority = Object.fromEntries(
          (application.plan.inbound ?? []).flatMap((mapper) =>
            mapper.authority === undefined || !(mapper.vault in attributes)
              ? []
              : [[mapper.vault, mapper.authority]],
          ),
        );
        const data: MessageData<'joinery.identity.event.v1'> = {
          tenantId: object.tenantId,
          identityId,
          event: {
            type: 'inbound.changed',
            at: object.observedAt,
            source: { applicationId: object.applicationId, externalId: object.externalId },
            attributes,
            ...(Object.keys(authority).length === 0 ? {} : { authority }),
          },
        };
        const message = encodeMessage({
          id: `import/${object.applicationId}/${object.externalId}/${object.observedAt}`,
          type: 'joinery.identity.event.v1',
          source: options.source,
          time: object.observedAt,
          tenantId: object.tenantId,
          data,
        });
        outbox.push({
          tenantId: object.tenantId,
          topic: options.identityTopic,
          key: identityId,
          value: message.value as Buffer,
          headers: message.headers as Record<string, string>,
        });
        counters.forwarded++;
      }
      return outbox;
    },
  };
}

type JoinMatch =
  | { kind: 'none' }
  | { kind: 'joined'; identityId: string }
  | { kind: 'ambiguous'; rule: string; identityIds: string[] };

/** The application's joining rules, in priority order, against the Vault's live identities. */
async function matchJoiningRules(
  tx: EntityManager,
  object: ImportObject,
  application: ApplicationPlan,
): Promise<JoinMatch> {
  const attributes = object.attributes ?? {};
  for (const rule of application.joining ?? []) {
    const comparisons = (rule.all ?? rule.any ?? []).flatMap((match) => {
      const value = attributes[match.source];
      if (value === undefined || value === null || Array.isArray(value)) return [];
      const vault = sql`(snapshot->'context'->'attributes'->>${match.vault})`;
      return [
        match.ignoreCase === true
          ? sql`lower(${vault}) = lower(${String(value)})`
          : sql`${vault} = ${String(value)}`,
      ];
    });
    // AND needs every comparison; OR needs at least one.
    if (comparisons.length === 0 || (rule.all !== undefined && comparisons.length < rule.all.length))
      continue;
    const condition = sql.join(comparisons, rule.all !== undefined ? sql` and ` : sql` or `);
    const { rows } = await sql<{ id: string }>`
      select id from identity where tenant_id = ${object.tenantId} and state <> 'deleted' and (${condition})
      order by id limit 10`.execute(tx.getKysely());
    const [first, second] = rows;
    if (first !== undefined && second === undefined) return { kind: 'joined', identityId: first.id };
    if (first !== undefined)
      return { kind: 'ambiguous', rule: rule.name, identityIds: rows.map((row) => row.id) };
  }
  return { kind: 'none' };
}

async function recordJoin(
  tx: EntityManager,
  object: ImportObject,
  state: 'joined' | 'unjoined' | 'ambiguous',
  identityId: string | null,
  candidates: { rule: string; identityIds: string[] } | null,
): Promise<void> {
  await sql`
    update repository_object set join_state = ${state}, identity_id = ${identityId},
      join_candidates = ${candidates === null ? null : JSON.stringify(candidates)}::jsonb
    where tenant_id = ${object.tenantId} and application_id = ${object.applicationId} and external_id = ${object.externalId}`.execute(
    tx.getKysely(),
  );
}

/** The Vault attributes an object supplies, through the application's inbound mappers. */
function mapInbound(plan: PlanInForce, applicationIndex: number, source: Attributes): Attributes {
  const application = plan.compiled.plan.applications[applicationIndex];
  if (application === undefined) return {};
  const result: Attributes = {};
  // Expressions see the object as CEL does (ints as BigInt), computed once for all of them.
  let celSource: Record<string, unknown> | undefined;
  application.inbound?.forEach((mapper, index) => {
    if (mapper.from !== undefined) {
      if (mapper.from in source) result[mapper.vault] = source[mapper.from] ?? null;
      return;
    }
    const expression = plan.compiled.expressions.get(
      `applications[${String(applicationIndex)}].inbound[${String(index)}].expression`,
    );
    if (expression === undefined) return;
    try {
      celSource ??= celValues(
        Object.assign(
          {},
          ...Object.values(application.objectClasses).map((objectClass) => objectClass.attributes),
        ) as Record<string, AttributeSpec>,
        source,
      );
      result[mapper.vault] = toAttributeValue(expression({ source: celSource }));
    } catch {
      // An attribute the expression needs is missing on this object: the mapper supplies nothing.
    }
  });
  return result;
}
