// SIEM destinations and their delivery positions in PostgreSQL. A destination's secret is stored wrapped
// by the master key (AES-256-GCM, the destination bound as associated data) and opened only for the
// delivery worker; the API answers whether one is set, never what it is.
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { ConflictError, NotFoundError, ValidationError } from '../../kernel/errors.ts';
import {
  tryUnwrapPrivateKey,
  wrapPrivateKey,
  notOpenedAdvice,
  type MasterKeyring,
} from '../agent-gateway/master-key.ts';
import { Value } from 'typebox/value';
import {
  KafkaSettingsSchema,
  SyslogSettingsSchema,
  WebhookSettingsSchema,
  type DestinationBody,
  type SiemDestination,
  type SiemFormat,
} from './destination.schema.ts';

interface DestinationRow {
  id: string;
  tenant_id: string;
  name: string;
  kind: 'syslog' | 'kafka' | 'webhook';
  format: SiemFormat;
  settings: Record<string, unknown>;
  secret: string | null;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

interface DeliveryRow {
  destination_id: string;
  delivered: string | null;
  last_delivered_at: Date | null;
  last_event_at: Date | null;
  failures: number | null;
  last_error: string | null;
  last_error_at: Date | null;
}

const secretContext = (tenantId: string, id: string) => `siem destination ${tenantId}/${id}`;

const iso = (value: Date | null) => (value === null ? null : new Date(value).toISOString());

/** A destination as the API shows it: no secret, whether one is set, and how delivery goes. */
function present(row: DestinationRow, delivery: DeliveryRow | undefined) {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    format: row.format,
    enabled: row.enabled,
    settings: row.settings,
    ...(row.kind === 'webhook' ? { secretSet: row.secret !== null } : {}),
    ...(row.kind === 'syslog' ? { tlsKeySet: row.secret !== null } : {}),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    delivery: {
      delivered: Number(delivery?.delivered ?? 0),
      lastDeliveredAt: iso(delivery?.last_delivered_at ?? null),
      lastEventAt: iso(delivery?.last_event_at ?? null),
      failures: delivery?.failures ?? 0,
      lastError: delivery?.last_error ?? null,
      lastErrorAt: iso(delivery?.last_error_at ?? null),
    },
  };
}
export type PresentedDestination = ReturnType<typeof present>;

const deliverySummary = sql`select destination_id, sum(delivered)::text as delivered,
  max(last_delivered_at) as last_delivered_at, max(last_event_at) as last_event_at,
  sum(failures)::int as failures,
  (array_agg(last_error order by last_error_at desc nulls last))[1] as last_error,
  max(last_error_at) as last_error_at
  from siem_delivery`;

export async function listDestinations(em: EntityManager, tenantId: string): Promise<PresentedDestination[]> {
  const db = em.getKysely();
  const { rows } = await sql<DestinationRow>`
    select * from siem_destination where tenant_id = ${tenantId} order by name, id`.execute(db);
  const { rows: deliveries } = await sql<DeliveryRow>`${deliverySummary}
    where destination_id in (select id from siem_destination where tenant_id = ${tenantId})
    group by destination_id`.execute(db);
  const byId = new Map(deliveries.map((delivery) => [delivery.destination_id, delivery]));
  return rows.map((row) => present(row, byId.get(row.id)));
}

export async function getDestination(
  em: EntityManager,
  tenantId: string,
  id: string,
): Promise<PresentedDestination> {
  const db = em.getKysely();
  const { rows } = await sql<DestinationRow>`
    select * from siem_destination where tenant_id = ${tenantId} and id = ${id}`.execute(db);
  const row = rows[0];
  if (row === undefined)
    throw new NotFoundError(`SIEM destination ${id} not found`, { details: { destinationId: id } });
  const { rows: deliveries } = await sql<DeliveryRow>`${deliverySummary}
    where destination_id = ${id} group by destination_id`.execute(db);
  return present(row, deliveries[0]);
}

/**
 * Creates or replaces the destination `id` (PUT semantics). A secret omitted on a replace keeps the stored
 * one; a webhook needs one, and storing any needs the master key. Answers whether it was created.
 */
export async function putDestination(
  em: EntityManager,
  keyring: MasterKeyring | undefined,
  tenantId: string,
  id: string,
  body: DestinationBody,
): Promise<{ created: boolean; destination: PresentedDestination }> {
  const db = em.getKysely();
  const secret = body.kind === 'webhook' ? body.secret : body.kind === 'syslog' ? body.tlsKey : undefined;
  if (body.kind === 'syslog' && body.tlsKey !== undefined && body.settings.tls?.cert === undefined)
    throw new ValidationError('body/tlsKey: a TLS client key needs settings.tls.cert, its certificate');
  if (body.kind === 'webhook' && secret === undefined) {
    const { rows: kept } = await sql<{ id: string }>`
      select id from siem_destination
      where tenant_id = ${tenantId} and id = ${id} and kind = 'webhook' and secret is not null`.execute(db);
    if (kept.length === 0)
      throw new ValidationError(
        'body/secret: a webhook destination needs its HMAC key (32 characters or more)',
      );
  }
  if (secret !== undefined && keyring === undefined)
    throw new ConflictError(
      'storing a SIEM destination secret needs the master key: set security.masterKey (JOINERY_MASTER_KEY)',
    );
  const wrapped =
    secret === undefined || keyring === undefined
      ? null
      : wrapPrivateKey(keyring, Buffer.from(secret, 'utf8'), secretContext(tenantId, id));
  const now = new Date();
  const { rows } = await sql<{ inserted: boolean }>`
    insert into siem_destination (id, tenant_id, name, kind, format, settings, secret, enabled, created_at, updated_at)
    values (${id}, ${tenantId}, ${body.name}, ${body.kind}, ${body.format}, ${JSON.stringify(body.settings)}::jsonb,
      ${wrapped}, ${body.enabled ?? true}, ${now}, ${now})
    on conflict (id) do update set name = excluded.name, kind = excluded.kind, format = excluded.format,
      settings = excluded.settings, enabled = excluded.enabled, updated_at = excluded.updated_at,
      secret = case when excluded.kind <> siem_destination.kind then excluded.secret
        else coalesce(excluded.secret, siem_destination.secret) end
      where siem_destination.tenant_id = excluded.tenant_id
    returning (xmax = 0) as inserted`
    .execute(db)
    .catch((error: unknown) => {
      if ((error as { code?: string }).code === '23505')
        throw new ConflictError(`a SIEM destination named "${body.name}" exists already`, {
          details: { name: body.name },
        });
      // The id is another tenant's destination: row-level security refuses to update what it cannot see.
      if ((error as { code?: string }).code === '42501')
        throw new NotFoundError(`SIEM destination ${id} not found`, { details: { destinationId: id } });
      throw error;
    });
  const row = rows[0];
  // No row: the id is another tenant's destination — as if it did not exist, but it cannot be taken.
  if (row === undefined)
    throw new NotFoundError(`SIEM destination ${id} not found`, { details: { destinationId: id } });
  return { created: row.inserted, destination: await getDestination(em, tenantId, id) };
}

export async function deleteDestination(em: EntityManager, tenantId: string, id: string): Promise<void> {
  const { rows } = await sql<{ id: string }>`
    delete from siem_destination where tenant_id = ${tenantId} and id = ${id} returning id`.execute(
    em.getKysely(),
  );
  if (rows.length === 0)
    throw new NotFoundError(`SIEM destination ${id} not found`, { details: { destinationId: id } });
}

export const newDestinationId = (): string => randomUUID();

/** A destination the worker could not open (its secret under a master key no longer configured). */
export interface UnusableDestination {
  id: string;
  tenantId: string;
  reason: string;
}

/** Stored settings this build does not read (written by another version): named, not delivered to. */
const unreadable = (row: DestinationRow): UnusableDestination => ({
  id: row.id,
  tenantId: row.tenant_id,
  reason: `its ${row.kind} settings do not match this version's schema: PUT the destination again`,
});

/** Every enabled destination of every tenant, secrets opened, for the delivery worker. */
export async function loadEnabledDestinations(
  em: EntityManager,
  keyring: MasterKeyring | undefined,
): Promise<{ usable: SiemDestination[]; unusable: UnusableDestination[] }> {
  const { rows } = await sql<DestinationRow>`
    select * from siem_destination where enabled order by created_at, id`.execute(em.getKysely());
  const usable: SiemDestination[] = [];
  const unusable: UnusableDestination[] = [];
  for (const row of rows) {
    let secret: string | undefined;
    if (row.secret !== null) {
      const opened =
        keyring === undefined
          ? undefined
          : tryUnwrapPrivateKey(keyring, row.secret, secretContext(row.tenant_id, row.id));
      if (opened === undefined) {
        unusable.push({
          id: row.id,
          tenantId: row.tenant_id,
          reason: `its secret does not decrypt: ${notOpenedAdvice}`,
        });
        continue;
      }
      secret = Buffer.from(opened.privateKey).toString('utf8');
    }
    const common = {
      id: row.id,
      tenantId: row.tenant_id,
      name: row.name,
      format: row.format,
      createdAt: new Date(row.created_at),
      updatedAt: new Date(row.updated_at),
    };
    if (row.kind === 'webhook') {
      if (secret === undefined) {
        unusable.push({ id: row.id, tenantId: row.tenant_id, reason: 'a webhook without its HMAC key' });
        continue;
      }
      if (Value.Check(WebhookSettingsSchema, row.settings))
        usable.push({ ...common, kind: 'webhook', settings: row.settings, secret });
      else unusable.push(unreadable(row));
    } else if (row.kind === 'syslog') {
      if (Value.Check(SyslogSettingsSchema, row.settings))
        usable.push({ ...common, kind: 'syslog', settings: row.settings, secret });
      else unusable.push(unreadable(row));
    } else if (Value.Check(KafkaSettingsSchema, row.settings)) {
      usable.push({ ...common, kind: 'kafka', settings: row.settings, secret: undefined });
    } else {
      unusable.push(unreadable(row));
    }
  }
  return { usable, unusable };
}

/** A destination's next offset per logstream partition: where its delivery resumes. */
export async function deliveryPositions(
  em: EntityManager,
  destinationId: string,
): Promise<Map<number, bigint>> {
  const { rows } = await sql<{ partition: number; next_offset: string }>`
    select partition, next_offset from siem_delivery where destination_id = ${destinationId}`.execute(
    em.getKysely(),
  );
  return new Map(rows.map((row) => [row.partition, BigInt(row.next_offset)]));
}

/** After the destination acknowledged: its position moves on (never back), with what it took. */
export async function recordDelivered(
  em: EntityManager,
  delivered: {
    destinationId: string;
    partition: number;
    nextOffset: bigint;
    count: number;
    lastEventAt: string | undefined;
  },
): Promise<void> {
  const { destinationId, partition, nextOffset, count } = delivered;
  const lastEventAt = delivered.lastEventAt === undefined ? null : new Date(delivered.lastEventAt);
  await sql`
    insert into siem_delivery (destination_id, partition, next_offset, delivered, last_delivered_at, last_event_at, failures)
    select ${destinationId}, ${partition}, ${nextOffset.toString()}::bigint, ${count}, ${count > 0 ? new Date() : null}, ${lastEventAt}, 0
    where exists (select 1 from siem_destination where id = ${destinationId})
    on conflict (destination_id, partition) do update set
      next_offset = greatest(siem_delivery.next_offset, excluded.next_offset),
      delivered = siem_delivery.delivered + excluded.delivered,
      last_delivered_at = coalesce(excluded.last_delivered_at, siem_delivery.last_delivered_at),
      last_event_at = coalesce(excluded.last_event_at, siem_delivery.last_event_at),
      failures = 0`.execute(em.getKysely());
}

/** A failed attempt, for GET /v1/siem/destinations and the logs; the position stays. */
export async function recordFailure(
  em: EntityManager,
  failure: { destinationId: string; partition: number; nextOffset: bigint; error: string },
): Promise<void> {
  const { destinationId, partition, nextOffset } = failure;
  const error = failure.error.slice(0, 1024);
  await sql`
    insert into siem_delivery (destination_id, partition, next_offset, failures, last_error, last_error_at)
    select ${destinationId}, ${partition}, ${nextOffset.toString()}::bigint, 1, ${error}, ${new Date()}
    where exists (select 1 from siem_destination where id = ${destinationId})
    on conflict (destination_id, partition) do update set
      failures = siem_delivery.failures + 1, last_error = excluded.last_error, last_error_at = excluded.last_error_at`.execute(
    em.getKysely(),
  );
}
