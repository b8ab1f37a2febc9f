// The values joining rules look identities up by, in one narrow table shared by every tenant and keyed by
// tenant, attribute and value: `identity_join_key`. A plan that starts comparing an attribute adds rows for
// its tenant's identities (never a column or an index on a shared table), and the identity host keeps the
// rows of the identities it writes in step with their snapshots, in the same transaction.
//
// A value is a key as the joining rules compare it: a string, whole number or boolean as its text; each element of
// a multi-valued attribute; nothing for null, objects, or text longer than MAX_KEY_BYTES (a B-tree entry has
// a size limit). Case-insensitive rules look up `lower(value)`, which has an index of its own.
//
// A tenant's keys change shape only while no identity of the tenant is written: the host takes the tenant's
// join-key lock shared for its batch, a plan apply takes it exclusively before it adds or drops an
// attribute's keys — so the apply sees every batch that read the previous plan committed, and a batch that
// starts after it reads the new plan.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { Attributes } from '../kernel/contracts/identity-events.ts';

/** The longest key kept, in UTF-8 bytes: a longer value is not joined on (it cannot be an index key). */
export const MAX_KEY_BYTES = 1_024;

/** The advisory-lock class of a tenant's join keys (its second key is the tenant's hash). */
const LOCK_CLASS = 0x4a4e4b; // "JNK"

/** The key texts of one attribute value. */
export function keyValues(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap((element: unknown) => keyValues(element));
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8') <= MAX_KEY_BYTES ? [value] : [];
  // Whole numbers only: their text is the same here and in PostgreSQL's jsonb (rebuildJoinKeys); a fraction
  // or an exponent form (1e21) is written differently by the two, so it is not joined on.
  if (typeof value === 'number')
    return Number.isInteger(value) && Math.abs(value) < 1e21 ? [String(value)] : [];
  if (typeof value === 'boolean' || typeof value === 'bigint') return [String(value)];
  return [];
}

export interface JoinKeyRow {
  tenant_id: string;
  attribute: string;
  value: string;
  identity_id: string;
}

function rowsOf(
  tenantId: string,
  identityId: string,
  attributes: Attributes,
  compared: readonly string[],
): Map<string, JoinKeyRow> {
  const rows = new Map<string, JoinKeyRow>();
  for (const attribute of compared)
    for (const value of keyValues(attributes[attribute]))
      rows.set(`${attribute}\u0000${value}`, {
        tenant_id: tenantId,
        attribute,
        value,
        identity_id: identityId,
      });
  return rows;
}

/** An identity written by a batch: its attributes before (none when new) and after. */
export interface WrittenIdentity {
  tenantId: string;
  identityId: string;
  before: Attributes | undefined;
  after: Attributes;
}

/**
 * The key rows to delete and insert for a batch's identities, given the attributes each tenant's joining
 * rules compare. Pure: an identity whose compared values did not change costs nothing.
 */
export function joinKeyChanges(
  written: readonly WrittenIdentity[],
  compared: (tenantId: string) => readonly string[],
): { deleted: JoinKeyRow[]; inserted: JoinKeyRow[] } {
  const deleted: JoinKeyRow[] = [];
  const inserted: JoinKeyRow[] = [];
  for (const { tenantId, identityId, before, after } of written) {
    const attributes = compared(tenantId);
    if (attributes.length === 0) continue;
    const old =
      before === undefined ? new Map<string, JoinKeyRow>() : rowsOf(tenantId, identityId, before, attributes);
    const next = rowsOf(tenantId, identityId, after, attributes);
    for (const [key, row] of old) if (!next.has(key)) deleted.push(row);
    for (const [key, row] of next) if (!old.has(key)) inserted.push(row);
  }
  return { deleted, inserted };
}

/** Writes a batch's key changes: two statements at most, none when nothing changed. */
export async function writeJoinKeyChanges(
  tx: EntityManager,
  changes: { deleted: JoinKeyRow[]; inserted: JoinKeyRow[] },
): Promise<void> {
  const k = tx.getKysely();
  if (changes.deleted.length > 0)
    await sql`
      delete from identity_join_key j
      using jsonb_to_recordset(${JSON.stringify(changes.deleted)}::jsonb)
        as u(tenant_id uuid, attribute text, value text, identity_id uuid)
      where j.tenant_id = u.tenant_id and j.attribute = u.attribute and j.value = u.value
        and j.identity_id = u.identity_id`.execute(k);
  if (changes.inserted.length > 0)
    await sql`
      insert into identity_join_key (tenant_id, attribute, value, identity_id)
      select tenant_id, attribute, value, identity_id
      from jsonb_to_recordset(${JSON.stringify(changes.inserted)}::jsonb)
        as u(tenant_id uuid, attribute text, value text, identity_id uuid)
      on conflict do nothing`.execute(k);
}

/**
 * Holds the tenants' join keys steady until the transaction ends: `shared` for a batch that writes
 * identities, `exclusive` for a plan apply that adds or drops attributes. Taken in one order (no deadlock).
 */
export async function lockJoinKeys(
  tx: EntityManager,
  tenantIds: readonly string[],
  mode: 'shared' | 'exclusive',
): Promise<void> {
  if (tenantIds.length === 0) return;
  const lock = mode === 'shared' ? sql`pg_advisory_xact_lock_shared` : sql`pg_advisory_xact_lock`;
  await sql`
    select ${lock}(${LOCK_CLASS}, hashtext(t::text))
    from unnest(${[...new Set(tenantIds)].sort()}::uuid[]) as t order by t`.execute(tx.getKysely());
}

/**
 * The keys of some attributes for every identity of a tenant, from their snapshots, in one statement (a plan
 * that starts comparing them); and the rows of attributes it no longer compares, dropped. The caller holds
 * the tenant's join keys exclusively.
 */
export async function rebuildJoinKeys(
  tx: EntityManager,
  tenantId: string,
  change: { added: readonly string[]; dropped: readonly string[] },
): Promise<void> {
  const k = tx.getKysely();
  if (change.dropped.length > 0)
    await sql`
      delete from identity_join_key
      where tenant_id = ${tenantId} and attribute = any(${[...change.dropped]}::text[])`.execute(k);
  if (change.added.length === 0) return;
  // As keyValues: scalars as text, arrays by element, nothing for null or objects or over-long text.
  await sql`
    insert into identity_join_key (tenant_id, attribute, value, identity_id)
    select i.tenant_id, a.attribute, v.value, i.id
    from identity i
    cross join unnest(${[...change.added]}::text[]) as a(attribute)
    cross join lateral (
      select e.value
      from (select i.snapshot->'context'->'attributes'->a.attribute as json) x
      cross join lateral (
        select jsonb_array_elements(x.json) as element where jsonb_typeof(x.json) = 'array'
        union all select x.json where jsonb_typeof(x.json) in ('string', 'number', 'boolean')) el
      cross join lateral (select el.element #>> '{}' as value) e
      where (jsonb_typeof(el.element) in ('string', 'boolean')
          or (jsonb_typeof(el.element) = 'number' and e.value ~ '^-?[0-9]+$'))
        and octet_length(e.value) <= ${MAX_KEY_BYTES}) v
    where i.tenant_id = ${tenantId}
    on conflict do nothing`.execute(k);
}
