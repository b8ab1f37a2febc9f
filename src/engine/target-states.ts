// What Joinery last decided per object and target application (outbound_object): read for a batch, and
// written back set-based, by the Outbound stage for identities and by the groups module for Vault groups
// (a group's row carries the group's id where an identity's carries the identity's).
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { Attributes } from '../../kernel/contracts/identity-events.ts';
import type { NewExport } from './export-queue.ts';
import type { TargetState } from './outbound.ts';
import { applicationMode, type ApplicationPlan } from '../plan/plan.schema.ts';

export interface KeyedTargetState extends TargetState {
  tenantId: string;
  applicationId: string;
  /** The identity's id, or the Vault group's. */
  ownerId: string;
}

/** The batch's target states in the given applications, keyed `<owner id>|<application id>`. */
export async function readTargetStates(
  tx: EntityManager,
  ownerIds: string[],
  applicationIds: string[],
): Promise<Map<string, TargetState>> {
  const { rows } = await sql<{
    identity_id: string;
    application_id: string;
    object_class: string;
    external_id: string | null;
    desired: Attributes;
    state: 'provisioned' | 'deprovisioned';
    enabled: boolean;
    sandbox: boolean;
  }>`
    select identity_id, application_id, object_class, external_id, desired, state, enabled, sandbox
    from outbound_object
    where identity_id = any(${ownerIds}::uuid[]) and application_id = any(${applicationIds}::uuid[])`.execute(
    tx.getKysely(),
  );
  return new Map(
    rows.map((row) => [
      `${row.identity_id}|${row.application_id}`,
      {
        objectClass: row.object_class,
        externalId: row.external_id,
        desired: row.desired,
        state: row.state,
        enabled: row.enabled,
        ...(row.sandbox ? { sandbox: true } : {}),
      },
    ]),
  );
}

/**
 * Writes the new target states in one statement. A known anchor is kept when the decision had none: a
 * create's result may have recorded it since the batch read the state (an anchor whose object was
 * deleted is cleared by the delete's result, see export-queue.ts).
 */
export async function saveTargetStates(
  tx: EntityManager,
  states: KeyedTargetState[],
  now: Date,
): Promise<void> {
  if (states.length === 0) return;
  await sql`
    insert into outbound_object (tenant_id, application_id, identity_id, object_class, external_id, desired, state, enabled, sandbox, updated_at)
    select tenant_id, application_id, identity_id, object_class, external_id, desired, state, enabled, sandbox, ${now}
    from jsonb_to_recordset(${JSON.stringify(
      states.map((state) => ({
        tenant_id: state.tenantId,
        application_id: state.applicationId,
        identity_id: state.ownerId,
        object_class: state.objectClass,
        external_id: state.externalId,
        desired: state.desired,
        state: state.state,
        enabled: state.enabled,
        sandbox: state.sandbox === true,
      })),
    )}::jsonb) as u(tenant_id uuid, application_id uuid, identity_id uuid, object_class text, external_id text,
      desired jsonb, state text, enabled boolean, sandbox boolean)
    on conflict (tenant_id, application_id, identity_id) do update set
      object_class = excluded.object_class, external_id = coalesce(excluded.external_id, outbound_object.external_id),
      desired = excluded.desired, state = excluded.state, enabled = excluded.enabled, sandbox = excluded.sandbox,
      updated_at = excluded.updated_at`.execute(tx.getKysely());
}

/** How an application's mode queues its operations: delivered (live), held for approval, or a report. */
export function queuedStatus(
  application: ApplicationPlan,
): Pick<NewExport, 'status'> & { holdReason?: string } {
  const mode = applicationMode(application);
  if (mode === 'live') return { status: 'pending' };
  if (mode === 'approval') return { status: 'held', holdReason: 'approval' };
  return { status: 'sandbox' };
}
