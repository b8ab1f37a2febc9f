// Every batch handler (the identity actors, the Import stage) writes only for tenants that exist: the bulk
// tables have no foreign key to tenant (src/storage/entities/tenant.entity.ts), so the partition consumer
// checks once per chunk, before its handler. Tenants are few and never reused: the ones seen are
// remembered, and PostgreSQL is asked about new ones only.
import { sql } from 'kysely';
import type { BatchHandler, Rejection } from './partition-batch.ts';

/** `inner`, given only the messages of known tenants; the others are rejected (dead-lettered). */
export function withKnownTenants(inner: BatchHandler): BatchHandler {
  const knownTenants = new Set<string>();
  return async (tx, messages) => {
    const unseen = [...new Set(messages.map(({ envelope }) => envelope.tenantId))].filter(
      (id) => !knownTenants.has(id),
    );
    if (unseen.length > 0) {
      const { rows } = await sql<{
        id: string;
      }>`select id from tenant where id = any(${unseen}::uuid[])`.execute(tx.getKysely());
      for (const row of rows) knownTenants.add(row.id);
    }
    const rejected: Rejection[] = [];
    const accepted = messages.filter(({ message, envelope }) => {
      if (knownTenants.has(envelope.tenantId)) return true;
      rejected.push({ message, reason: `unknown tenant ${envelope.tenantId}`, code: 'JNY_UNKNOWN_TENANT' });
      return false;
    });
    const result = await inner(tx, accepted);
    return { ...result, rejected: [...rejected, ...result.rejected] };
  };
}
