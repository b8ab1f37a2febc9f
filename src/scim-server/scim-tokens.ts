// SCIM bearer tokens: `jsc_<token id>_<secret>`, each scoped to ONE scim application of one tenant. As with API
// keys (src/tenancy/api-keys.ts) only the SHA-256 of the 256-bit secret is stored, compared in constant time;
// the token is shown once, when issued.
import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { NotFoundError, ValidationError } from '../../kernel/errors.ts';
import { hashSecret, secretMatches } from '../tenancy/api-keys.ts';

const TOKEN_PATTERN = /^jsc_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

/** Who a SCIM request acts for: one application of one tenant. */
export interface ScimPrincipal {
  tenantId: string;
  applicationId: string;
  tokenId: string;
}

export interface ScimTokenInfo {
  id: string;
  applicationId: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const uuidOf = (hex: string) =>
  `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;

/** Issues a token for a scim application of the tenant; the token itself is returned once, never stored. */
export async function issueScimToken(
  em: EntityManager,
  request: { tenantId: string; applicationId: string; name: string },
): Promise<ScimTokenInfo & { token: string }> {
  const k = em.getKysely();
  const { rows } = await sql<{ type: string; name: string }>`
    select type, name from application where tenant_id = ${request.tenantId} and id = ${request.applicationId}`.execute(
    k,
  );
  const application = rows[0];
  if (application === undefined)
    throw new NotFoundError(`application ${request.applicationId} not found`, {
      details: { applicationId: request.applicationId },
    });
  if (application.type !== 'scim')
    throw new ValidationError(
      `application ${application.name} is of type ${application.type}: SCIM tokens are for applications of type scim, which identity providers provision into`,
      { details: { applicationId: request.applicationId, type: application.type } },
    );
  const id = randomUUID();
  const secret = randomBytes(32).toString('base64url');
  const created = await sql<{ created_at: Date | string }>`
    insert into scim_token (id, tenant_id, application_id, name, secret_hash)
    values (${id}, ${request.tenantId}, ${request.applicationId}, ${request.name}, ${hashSecret(secret)})
    returning created_at`.execute(k);
  return {
    id,
    applicationId: request.applicationId,
    name: request.name,
    createdAt: new Date(created.rows[0]?.created_at ?? Date.now()).toISOString(),
    lastUsedAt: null,
    revokedAt: null,
    token: `jsc_${id.replaceAll('-', '')}_${secret}`,
  };
}

export async function listScimTokens(
  em: EntityManager,
  tenantId: string,
  applicationId: string,
): Promise<ScimTokenInfo[]> {
  const { rows } = await sql<{
    id: string;
    name: string;
    created_at: Date | string;
    last_used_at: Date | string | null;
    revoked_at: Date | string | null;
  }>`
    select id, name, created_at, last_used_at, revoked_at from scim_token
    where tenant_id = ${tenantId} and application_id = ${applicationId} order by created_at, id`.execute(
    em.getKysely(),
  );
  return rows.map((row) => ({
    id: row.id,
    applicationId,
    name: row.name,
    createdAt: new Date(row.created_at).toISOString(),
    lastUsedAt: row.last_used_at === null ? null : new Date(row.last_used_at).toISOString(),
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at).toISOString(),
  }));
}

/** Revokes a token of the application; a token of another application or tenant is not found. */
export async function revokeScimToken(
  em: EntityManager,
  request: { tenantId: string; applicationId: string; tokenId: string },
): Promise<void> {
  const { rows } = await sql<{ id: string }>`
    update scim_token set revoked_at = coalesce(revoked_at, now())
    where tenant_id = ${request.tenantId} and application_id = ${request.applicationId} and id = ${request.tokenId}
    returning id`.execute(em.getKysely());
  if (rows.length === 0)
    throw new NotFoundError(`SCIM token ${request.tokenId} not found`, {
      details: { tokenId: request.tokenId },
    });
}

/** The principal of a bearer token; undefined when it is not a live SCIM token. Records its use once a minute. */
export async function authenticateScimToken(
  em: EntityManager,
  bearer: string,
  now: Date,
): Promise<ScimPrincipal | undefined> {
  const match = TOKEN_PATTERN.exec(bearer);
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  const tokenId = uuidOf(match[1]);
  const k = em.getKysely();
  // The one lookup before the tenant is known: by the token's id.
  const { rows } = await sql<{
    tenant_id: string;
    application_id: string;
    secret_hash: string;
    last_used_at: Date | string | null;
  }>`
    select t.tenant_id, t.application_id, t.secret_hash, t.last_used_at from scim_token t
    join application a on a.id = t.application_id and a.tenant_id = t.tenant_id and a.type = 'scim'
    where t.id = ${tokenId} and t.revoked_at is null`.execute(k);
  const row = rows[0];
  if (row === undefined || !secretMatches(match[2], row.secret_hash)) return undefined;
  if (row.last_used_at === null || now.getTime() - new Date(row.last_used_at).getTime() >= 60_000)
    await sql`update scim_token set last_used_at = ${now.toISOString()} where id = ${tokenId}`.execute(k);
  return { tenantId: row.tenant_id, applicationId: row.application_id, tokenId };
}
