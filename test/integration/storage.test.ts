import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import { assertSchemaCurrent, migrate, migrationState, openDatabase } from '../../src/storage/database.ts';
import { Application } from '../../src/storage/entities/application.entity.ts';
import { Tenant } from '../../src/storage/entities/tenant.entity.ts';
import { createTenant, authenticate } from '../../src/tenancy/tenants.ts';
import { SchemaMismatchError } from '../../kernel/errors.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';
import { insertOutbox } from '../../streams/outbox.ts';
import { recordHeaders } from '../../streams/cloudevents.ts';

describe('storage on PostgreSQL (real, MikroORM)', () => {
  let database: TestDatabase;
  let orm: MikroORM;

  beforeAll(async () => {
    database = await createTestDatabase();
    orm = await openDatabase({ url: database.url, poolSize: 4, logger: silentLogger });
  });
  afterAll(async () => {
    await orm.close();
    await database.drop();
  });

  it('refuses a database whose migrations are pending, then migrates it', async () => {
    const before = await migrationState(orm);
    expect(before.executed).toEqual([]);
    expect(() => {
      assertSchemaCurrent(before);
    }).toThrow(/pending migration.*run `joinery migrate`/);
    const applied = await migrate(orm);
    expect(applied.length).toBeGreaterThan(0);
    assertSchemaCurrent(await migrationState(orm));
    expect(await migrate(orm)).toEqual([]);
  });

  it('writes and reads tenants and applications through MikroORM', async () => {
    const issued = await createTenant(orm.em, { tenant: uniqueName('acme') });
    const em = orm.em.fork();
    em.setFilterParams('tenant', { tenantId: issued.tenantId });
    em.create(Application, {
      id: randomUUID(),
      tenant: em.getReference(Tenant, issued.tenantId),
      name: 'Workday',
      type: 'csv',
      createdAt: new Date(),
      updatedAt: new Date(),
    });
    await em.flush();
    const found = await orm.em
      .fork()
      .findOne(Application, { name: 'Workday' }, { filters: { tenant: { tenantId: issued.tenantId } } });
    expect(found?.mode).toBe('sandbox');
    expect(await authenticate(orm.em.fork(), issued.apiKey)).toEqual({
      tenantId: issued.tenantId,
      serviceAccountId: issued.serviceAccountId,
      scopes: ['admin'],
      lastUsedAt: null,
    });
  });

  it("never returns another tenant's rows to a tenant-scoped query", async () => {
    const a = await createTenant(orm.em, { tenant: uniqueName('tenant-a') });
    const b = await createTenant(orm.em, { tenant: uniqueName('tenant-b') });
    const em = orm.em.fork();
    em.create(Application, {
      id: randomUUID(),
      tenant: em.getReference(Tenant, a.tenantId),
      name: 'AD',
      type: 'active-directory',
      createdAt: new Date(),
      updatedAt: new Date(),
    });
    await em.flush();
    const asB = orm.em.fork();
    asB.setFilterParams('tenant', { tenantId: b.tenantId });
    expect(await asB.find(Application, { name: 'AD' })).toEqual([]);
  });

  it('fails a tenant-owned query that has no tenant, instead of reading every tenant', async () => {
    await expect(orm.em.fork().find(Application, {})).rejects.toThrow(/tenant/);
  });

  it('refuses a database that ran a migration this build does not know', async () => {
    await orm.em
      .getConnection()
      .execute(
        `insert into joinery_migrations (name, executed_at) values ('Migration29991231000000_future', now())`,
      );
    const state = await migrationState(orm);
    expect(state.unknown).toEqual(['Migration29991231000000_future']);
    expect(() => {
      assertSchemaCurrent(state);
    }).toThrow(SchemaMismatchError);
    await expect(migrate(orm)).rejects.toThrow(/newer than this build/);
    await orm.em
      .getConnection()
      .execute(`delete from joinery_migrations where name = 'Migration29991231000000_future'`);
  });

  it('carries the messages waiting in a one-row-per-message outbox over to the batched one, and back', async () => {
    const connection = orm.em.getConnection();
    const batched = 'Migration20261123154708_outbox_batches';
    await orm.migrator.down({ to: 'Migration20261123111317_identity_created_index' });
    await connection.execute(
      `insert into outbox (tenant_id, topic, key, value, headers) values
        (null, 'joinery.logstream', 'k1', '\\x01ff'::bytea, '{"ce_id":"a"}'),
        (null, 'joinery.identity', null, null, '{"ce_id":"b"}')`,
    );
    await orm.migrator.up({ to: batched });
    const waiting = await connection.execute<{ topic: string; key: string | null; value: Buffer | null }[]>(
      'select topic, key, value, headers from outbox_message order by outbox_id, position',
    );
    expect(waiting).toEqual([
      { topic: 'joinery.logstream', key: 'k1', value: Buffer.from([1, 255]), headers: { ce_id: 'a' } },
      { topic: 'joinery.identity', key: null, value: null, headers: { ce_id: 'b' } },
    ]);
    await orm.migrator.down({ to: 'Migration20261123111317_identity_created_index' });
    const back = await connection.execute('select topic, key, value, headers from outbox order by id');
    expect(back).toEqual(waiting);
    await connection.execute('delete from outbox');
    await migrate(orm);
    // JSON values (CloudEvents' data) are stored as JSON since 2026-12-04, text as text, bytes as base64: the
    // view reads all three, each as the bytes the relay publishes. A CloudEvent's headers are stored as its
    // id, type, source and time; the view shows them whole.
    const data = { name: 'Zoë "Z" \\ Ångström', n: 1.5, nested: { b: [true, null], a: '\u2028' } };
    const tenantId = randomUUID();
    const headers = recordHeaders({
      id: 'joinery.imports/3/42/0',
      type: 'joinery.log.v1',
      source: '/joinery/engine',
      time: '2026-12-04T21:00:00.000Z',
      tenantId,
    });
    await orm.em.fork().transactional((tx) =>
      insertOutbox(tx, [
        { tenantId, topic: 'joinery.logstream', key: 'k0', value: { json: data }, headers },
        { tenantId: null, topic: 'joinery.logstream', key: 'k1', value: '{"name":"Zoë"}', headers: {} },
        { tenantId: null, topic: 'joinery.logstream', key: 'k2', value: Buffer.from([1, 255]), headers: {} },
      ]),
    );
    const stored = [
      { key: 'k0', value: Buffer.from(JSON.stringify(data)) },
      { key: 'k1', value: Buffer.from('{"name":"Zoë"}') },
      { key: 'k2', value: Buffer.from([1, 255]) },
    ];
    const view = 'select key, value from outbox_message order by position';
    expect(await connection.execute(view)).toEqual(stored);
    const firstStored = async () =>
      (await connection.execute<{ messages: Record<string, unknown>[] }[]>('select messages from outbox'))[0]
        ?.messages[0];
    expect(await firstStored()).toEqual({
      tenantId,
      topic: 'joinery.logstream',
      key: 'k0',
      ce: ['joinery.imports/3/42/0', 'joinery.log.v1', '/joinery/engine', '2026-12-04T21:00:00.000Z'],
      json: data,
    });
    const headersView = 'select headers from outbox_message order by position';
    expect(await connection.execute(headersView)).toEqual([{ headers }, { headers: {} }, { headers: {} }]);
    // Back to the version that reads text and bytes only: the waiting JSON value becomes its text, unchanged.
    await orm.migrator.down({ to: 'Migration20261203220000_identity_join_columns' });
    expect(await connection.execute(view)).toEqual(stored);
    expect(await connection.execute(headersView)).toEqual([{ headers }, { headers: {} }, { headers: {} }]);
    expect(await firstStored()).toEqual({
      tenantId,
      topic: 'joinery.logstream',
      key: 'k0',
      text: JSON.stringify(data),
      headers,
    });
    await migrate(orm);
    await connection.execute('delete from outbox');
  });
});
