// The audit history's daily partitions (audit_event is partitioned by range of `at`, one UTC day each):
// their names and bounds (pure), creating the ones a batch or the coming days need, and dropping the days
// every tenant's retention has passed.
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';

const DAY_MS = 86_400_000;

/** The UTC day `at` falls in, as YYYY-MM-DD. */
export function dayOf(at: Date | string): string {
  return new Date(at).toISOString().slice(0, 10);
}

/** A day's partition name: audit_event_p20261206. */
export function partitionName(day: string): string {
  return `audit_event_p${day.replaceAll('-', '')}`;
}

/** The day a partition name stands for, or undefined for another table. */
export function dayOfPartition(name: string): string | undefined {
  const match = /^audit_event_p(\d{4})(\d{2})(\d{2})$/.exec(name);
  return match === null ? undefined : `${match[1] ?? ''}-${match[2] ?? ''}-${match[3] ?? ''}`;
}

/** The day after `day`. */
export function nextDay(day: string): string {
  return dayOf(new Date(Date.parse(`${day}T00:00:00Z`) + DAY_MS));
}

/** The days from `from` for `count` days. */
export function daysFrom(from: Date, count: number): string[] {
  return Array.from({ length: count }, (_, index) => dayOf(new Date(from.getTime() + index * DAY_MS)));
}

/** The partitions of audit_event that exist, by day. */
export async function existingPartitionDays(em: EntityManager): Promise<Set<string>> {
  const { rows } = await sql<{ name: string }>`
    select c.relname as name from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'audit_event'::regclass`.execute(em.getKysely());
  return new Set(rows.flatMap((row) => dayOfPartition(row.name) ?? []));
}

/**
 * Creates the partitions of the days given that do not exist yet, in the caller's transaction. Several
 * processes may want the same day at once: a transaction-scoped advisory lock lets one create it and the
 * others see it. Returns the days created.
 */
export async function ensurePartitions(em: EntityManager, days: Iterable<string>): Promise<string[]> {
  const wanted = [...new Set(days)].sort();
  if (wanted.length === 0) return [];
  const k = em.getKysely();
  await sql`select pg_advisory_xact_lock(hashtext('audit_event partitions'))`.execute(k);
  const existing = await existingPartitionDays(em);
  const created: string[] = [];
  for (const day of wanted) {
    if (existing.has(day)) continue;
    // Names and bounds come from a validated YYYY-MM-DD, never from input as text.
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new Error(`not a day: ${day}`);
    await sql
      .raw(
        `create table ${partitionName(day)} partition of audit_event
         for values from ('${day}T00:00:00Z') to ('${nextDay(day)}T00:00:00Z')`,
      )
      .execute(k);
    created.push(day);
  }
  return created;
}

/** Drops the partitions of days that ended before `before`; returns the days dropped. */
export async function dropPartitionsBefore(em: EntityManager, before: Date): Promise<string[]> {
  const k = em.getKysely();
  await sql`select pg_advisory_xact_lock(hashtext('audit_event partitions'))`.execute(k);
  const dropped: string[] = [];
  for (const day of [...(await existingPartitionDays(em))].sort()) {
    if (Date.parse(`${nextDay(day)}T00:00:00Z`) > before.getTime()) continue;
    await sql.raw(`drop table ${partitionName(day)}`).execute(k);
    dropped.push(day);
  }
  return dropped;
}
