// How the group modules name things: a Vault group's id (derived, so a replayed import finds the same
// group) and a batch's application objects as one JSON document that one statement joins against.
import { v5 as uuidv5 } from 'uuid';

/** An application object, by what identifies it. */
export type ObjectKey = { tenantId: string; applicationId: string; externalId: string };

/** Namespace of Vault group ids (uuid v5 of tenant, source application and external id). */
const GROUP_NAMESPACE = '3b0e4c1d-8f5a-4e62-b7c9-6d2a9e1f4a77';

/** The id of the Vault group a group object of a source application is. */
export function vaultGroupId(object: ObjectKey): string {
  return uuidv5(`${object.tenantId}|${object.applicationId}|${object.externalId}`, GROUP_NAMESPACE);
}

/** The objects' keys for `jsonb_to_recordset(…) as u(tenant_id uuid, application_id uuid, external_id text)`. */
export const keysDocument = (objects: ObjectKey[]): string =>
  JSON.stringify(
    objects.map((object) => ({
      tenant_id: object.tenantId,
      application_id: object.applicationId,
      external_id: object.externalId,
    })),
  );
