// The engine keeps the planner's statistics of its growing tables current itself: a batch lookup of 2,000
// identities in outbound_object must use the index, not read the whole table, even where autovacuum is
// off (as on the development machines) or has not come round yet.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { startStatisticsKeeper } from '../../streams/table-statistics.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { silentLogger } from '../support/factories.ts';

describe('table statistics (real PostgreSQL)', () => {
  let database: TestDatabase;
  let orm: MikroORM;
  beforeAll(async () => {
    database = await createTestDatabase({ migrated: true });
    orm = await openDatabase({ url: database.url, poolSize: 2, logger: silentLogger });
    await migrate(orm);
    // Autovacuum must not do the work for us while the test runs.
    await orm.em.getConnection().execute('alter table outbound_object set (autovacuum_enabled = off)');
  });
  afterAll(async () => {
    await orm.close();
    await database.drop();
  });

  /** The plan of the Outbound stage's lookup (streams/target-states.ts) for a batch of 2,000 identities. */
  const lookupPlan = async (): Promise<string> => {
    const ids = Array.from({ length: 2000 }, () => randomUUID());
    const { rows } = await sql<{ 'QUERY PLAN': string }>`
      explain select identity_id from outbound_object where identity_id = any(${ids}::uuid[])`.execute(
      orm.em.getKysely(),
    );
    // The plan's nodes, without their conditions (which list the 2,000 ids).
    return rows
      .map((row) => row['QUERY PLAN'])
      .filter((line) => !/(Cond|Filter):/.test(line))
      .join('\n');
  };

  it('analyzes a table that grew, after which batch lookups use its index', async () => {
    const connection = orm.em.getConnection();
    const [tenant] = await connection.execute<{ id: string }[]>(
      `insert into tenant (id, name, created_at) values (gen_random_uuid(), 'statistics', now()) returning id`,
    );
    await connection.execute(
      `insert into outbound_object (tenant_id, application_id, identity_id, object_class, external_id, desired, state, enabled, updated_at)
       select ?, gen_random_uuid(), gen_random_uuid(), 'user', null, jsonb_build_object('displayName', repeat('x', 500)), 'provisioned', true, now() from generate_series(1, 200000)`,
      [tenant?.id],
    );
    expect(await lookupPlan()).toMatch(/Seq Scan on outbound_object/); // never analyzed: PostgreSQL guesses

    const keeper = startStatisticsKeeper({ em: orm.em, logger: silentLogger, intervalMs: 60_000 });
    try {
      expect(await keeper.check()).toEqual(['outbound_object']);
      expect(await lookupPlan()).toMatch(/Index Scan on outbound_object_identity_id_index/);
      // Up to date now: nothing to do until it has grown by half again.
      expect(await keeper.check()).toEqual([]);
    } finally {
      await keeper.stop();
    }
  });
});
