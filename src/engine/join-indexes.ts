// Joining rules look identities up by Vault attribute values. Each attribute a rule compares gets a column
// of its own on the identity table — stored, generated from the snapshot by PostgreSQL — and an index on it
// (lower-cased for case-insensitive rules), created when a plan that needs them is applied, so a bulk load
// joins by index lookups rather than scans.
//
// Why a column and not an index on the snapshot expression: PostgreSQL decides whether an update may be HOT
// (heap-only: the new version on the same page, no index touched) by the indexed columns. An index on an
// expression of `snapshot` made every identity update write a new entry in every index of the table, since
// every update changes the snapshot. An index on the generated column lets an update that changes no joined
// value stay on its page with no index write (the table keeps room for it: `fillfactor`, see the migration
// Migration20261204000000_identity_join_columns).
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { SyncPlan } from '../plan/plan.schema.ts';

/** The (attribute, case) pairs the plan's joining rules compare. */
export function joinKeys(plan: SyncPlan): { vault: string; ignoreCase: boolean }[] {
  const keys = new Map<string, { vault: string; ignoreCase: boolean }>();
  for (const application of plan.applications)
    for (const rule of application.joining ?? [])
      for (const match of rule.all ?? rule.any ?? []) {
        const ignoreCase = match.ignoreCase === true;
        keys.set(`${match.vault}|${String(ignoreCase)}`, { vault: match.vault, ignoreCase });
      }
  return [...keys.values()];
}

/** A readable part of a name (lower case, a-z0-9_, at most 30 characters) and a digest that keeps it unique. */
function identifier(prefix: string, vault: string, digestOf: string): string {
  const digest = createHash('sha256').update(digestOf).digest('hex').slice(0, 10);
  const readable = vault
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '_')
    .slice(0, 30);
  return `${prefix}_${readable}_${digest}`;
}

/** The identity column holding a Vault attribute's value as text, for the joining rules that compare it. */
export function joinColumnName(vault: string): string {
  return identifier('join', vault, vault);
}

export function joinIndexName(key: { vault: string; ignoreCase: boolean }): string {
  return identifier('identity_join_key', key.vault, `${key.vault}|${String(key.ignoreCase)}`);
}

/**
 * The Vault attribute as a joining rule compares it, in a query on `identity`: its join column, which
 * exists for every attribute of a plan in force (ensureJoinIndexes).
 */
export function joinKeyExpression(vault: string, ignoreCase: boolean) {
  const column = sql.ref(joinColumnName(vault));
  return ignoreCase ? sql`lower(${column})` : column;
}

/** The same value read from the snapshot: for attributes no joining rule compares (no column). */
export function attributeExpression(vault: string, ignoreCase: boolean) {
  const value = sql`(snapshot->'context'->'attributes'->>${sql.lit(vault)})`;
  return ignoreCase ? sql`lower${value}` : value;
}

/** Whether the identity table has a join column for the attribute (a plan's joining rules compared it). */
export async function hasJoinColumn(tx: EntityManager, vault: string): Promise<boolean> {
  const { rows } = await sql<{ found: boolean }>`
    select exists (select 1 from pg_attribute
      where attrelid = 'identity'::regclass and attname = ${joinColumnName(vault)} and not attisdropped) as found`.execute(
    tx.getKysely(),
  );
  return rows[0]?.found === true;
}

/**
 * Creates the columns and indexes the plan's joining rules need (existing ones are kept), and returns the
 * names of the indexes. Only what is missing is altered: an ALTER TABLE or CREATE INDEX, even one that
 * finds its column or index already there, first locks the table against every identity write.
 *
 * Adding a column to a table that has rows rewrites it (PostgreSQL computes the stored value of every
 * identity) under an exclusive lock: a plan that starts comparing a new attribute holds identity writes
 * back for as long as that takes (seconds per hundred thousand identities), as building its index does.
 */
export async function ensureJoinIndexes(tx: EntityManager, plan: SyncPlan): Promise<string[]> {
  return ensureJoinColumns(tx, joinKeys(plan));
}

async function ensureJoinColumns(
  tx: EntityManager,
  keys: readonly { vault: string; ignoreCase: boolean }[],
): Promise<string[]> {
  const k = tx.getKysely();
  if (keys.length === 0) return [];
  const { rows: columns } = await sql<{ name: string }>`
    select attname as name from pg_attribute where attrelid = 'identity'::regclass and not attisdropped`.execute(
    k,
  );
  const { rows: indexes } = await sql<{ name: string }>`
    select indexname as name from pg_indexes where schemaname = current_schema() and tablename = 'identity'`.execute(
    k,
  );
  const existingColumns = new Set(columns.map((row) => row.name));
  const existingIndexes = new Set(indexes.map((row) => row.name));
  const names: string[] = [];
  for (const key of keys) {
    const column = joinColumnName(key.vault);
    if (!existingColumns.has(column)) {
      await sql`alter table identity add column if not exists ${sql.id(column)} text
        generated always as (${attributeExpression(key.vault, false)}) stored`.execute(k);
      existingColumns.add(column);
    }
    const name = joinIndexName(key);
    if (!existingIndexes.has(name))
      await sql`create index if not exists ${sql.id(name)} on identity (tenant_id, (${joinKeyExpression(
        key.vault,
        key.ignoreCase,
      )}))`.execute(k);
    names.push(name);
  }
  return names;
}

/**
 * Makes sure every tenant's plan in force has its join columns and indexes: at start-up, for a database
 * whose plans were applied before the columns existed (their indexes were on the snapshot).
 */
export async function ensureAllJoinIndexes(em: EntityManager): Promise<void> {
  await em.fork().transactional(async (tx) => {
    const { rows } = await sql<{ document: SyncPlan }>`
      select distinct on (tenant_id) document from plan_version order by tenant_id, version desc`.execute(
      tx.getKysely(),
    );
    const keys = new Map(
      rows.flatMap(({ document }) => joinKeys(document)).map((key) => [joinIndexName(key), key]),
    );
    await ensureJoinColumns(tx, [...keys.values()]);
  });
}
