// The durable provenance of a join: how an application object came to be joined to its identity —
// projected (it created the identity), provisioned (an export created it), by a joining rule, or by hand —
// recorded with its hard join (identity_source), so an administrator can tell a rule's join from a
// person's decision long after.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';

export type JoinProvenance = 'projected' | 'provisioned' | `rule:${string}` | `manual:${string}`;

export const joinProvenance = {
  projected: 'projected',
  /** Joinery created the object with an export (the create's result named its anchor). */
  provisioned: 'provisioned',
  rule: (name: string): JoinProvenance => `rule:${name}`,
  manual: (serviceAccountId: string): JoinProvenance => `manual:${serviceAccountId}`,
} as const;

export interface NewHardJoin {
  tenantId: string;
  applicationId: string;
  externalId: string;
  identityId: string;
  provenance: JoinProvenance;
}

/**
 * The hard joins the Inbound stage decided, with their provenance, in one statement. A hard join already
 * recorded is kept (hard joins are permanent); one recorded without provenance (by the identity actor
 * racing this batch) gains it.
 */
export async function recordHardJoins(tx: EntityManager, joins: NewHardJoin[]): Promise<void> {
  if (joins.length === 0) return;
  await sql`
    insert into identity_source (tenant_id, application_id, external_id, identity_id, provenance, created_at)
    select distinct on (tenant_id, application_id, external_id)
      tenant_id, application_id, external_id, identity_id, provenance, now()
    from jsonb_to_recordset(${JSON.stringify(
      joins.map((join) => ({
        tenant_id: join.tenantId,
        application_id: join.applicationId,
        external_id: join.externalId,
        identity_id: join.identityId,
        provenance: join.provenance,
      })),
    )}::jsonb) as u(tenant_id uuid, application_id uuid, external_id text, identity_id uuid, provenance text)
    on conflict (tenant_id, application_id, external_id) do update set provenance = excluded.provenance
    where identity_source.provenance is null and identity_source.identity_id = excluded.identity_id`.execute(
    tx.getKysely(),
  );
}

/** The hard join of an object the Inbound stage joined: by the joining rule that matched it, else projected. */
export function hardJoinOf(
  object: { tenantId: string; applicationId: string; externalId: string },
  identityId: string,
  match: { kind: string; rule?: string } | undefined,
): NewHardJoin {
  const { tenantId, applicationId, externalId } = object;
  const provenance =
    match?.kind === 'joined' && match.rule !== undefined
      ? joinProvenance.rule(match.rule)
      : joinProvenance.projected;
  return { tenantId, applicationId, externalId, identityId, provenance };
}
