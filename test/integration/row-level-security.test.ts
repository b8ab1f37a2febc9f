// Row-level security on real PostgreSQL: a session set to one tenant, as the API's tenant role, reads and
// writes none of another tenant's rows in any tenant table, and a session with no tenant reads nothing —
// whatever the SQL asks for. Every table with a tenant_id must have the policy (the next migration cannot
// forget one), and the API's requests run under it.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';
import { buildApp, type App } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { DEFAULT_TENANT_ROLE } from '../../src/storage/tenant-role.ts';
import { createPostgres } from '../../src/infra/postgres.ts';
import { daysFrom, ensurePartitions } from '../../src/audit/audit-partitions.ts';
import { createTenant, type IssuedServiceAccount } from '../../src/tenancy/tenants.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';

const role = DEFAULT_TENANT_ROLE;

interface Column {
  name: string;
  type: string;
  maxLength: number | null;
}

/**
 * The tables with a tenant_id column, as information_schema lists them — a partitioned table once: its
 * partitions are reached through it, under its policy (the audit history's days).
 */
async function tenantTables(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ table_name: string }>(`
    select c.table_name from information_schema.columns c
    join information_schema.tables t using (table_schema, table_name)
    join pg_class k on k.relname = c.table_name and k.relnamespace = current_schema()::regnamespace
    where c.table_schema = current_schema() and c.column_name = 'tenant_id' and t.table_type = 'BASE TABLE'
      and not k.relispartition
    order by 1`);
  return rows.map((row) => row.table_name);
}

/** The columns a row must be given (not null, no default, not generated). */
async function requiredColumns(client: pg.Client, table: string): Promise<Column[]> {
  const { rows } = await client.query<{
    column_name: string;
    udt_name: string;
    character_maximum_length: number | null;
  }>(
    `select column_name, udt_name, character_maximum_length from information_schema.columns
     where table_schema = current_schema() and table_name = $1 and is_nullable = 'NO'
       and column_default is null and is_generated = 'NEVER' and is_identity = 'NO'`,
    [table],
  );
  return rows.map((row) => ({
    name: row.column_name,
    type: row.udt_name,
    maxLength: row.character_maximum_length,
  }));
}

/** A value of the column's type; a check constraint's first allowed value where it has one. */
async function valueFor(client: pg.Client, table: string, column: Column): Promise<unknown> {
  const { rows } = await client.query<{ definition: string }>(
    `select pg_get_constraintdef(oid) as definition from pg_constraint
     where conrelid = $1::regclass and contype = 'c'`,
    [table],
  );
  const allowed = rows
    .map((row) => row.definition)
    .find(
      (definition) =>
        definition.includes(`(${column.name} = ANY`) || definition.includes(`((${column.name})::text = ANY`),
    );
  const first =
    allowed === undefined ? undefined : /'([^']+)'::(?:text|character varying)/.exec(allowed)?.[1];
  if (first !== undefined) return first;
  switch (column.type) {
    case 'uuid':
      return randomUUID();
    case 'text':
    case 'varchar':
      return randomBytes(8)
        .toString('hex')
        .slice(0, column.maxLength ?? 16);
    case 'int4':
    case 'int8':
      return 1;
    case 'bool':
      return false;
    case 'json':
    case 'jsonb':
      return '{}';
    case 'timestamptz':
      return new Date();
    case '_text':
      return [];
    case 'bytea':
      return Buffer.from([0]);
    default:
      throw new Error(`no test value for ${table}.${column.name} of type ${column.type}: add one here`);
  }
}

/** A row of `table` for `tenantId`, as an INSERT statement. */
async function rowFor(
  client: pg.Client,
  table: string,
  tenantId: string,
): Promise<{ text: string; values: unknown[] }> {
  const columns = (await requiredColumns(client, table)).filter((column) => column.name !== 'tenant_id');
  const values: unknown[] = [tenantId];
  for (const column of columns) values.push(await valueFor(client, table, column));
  const names = ['tenant_id', ...columns.map((column) => column.name)];
  return {
    text: `insert into "${table}" (${names.map((name) => `"${name}"`).join(', ')}) values (${names.map((_, i) => `$${String(i + 1)}`).join(', ')})`,
    values,
  };
}

/** Runs `work` in a transaction as the tenant role, with `tenantId` set (or none); rolled back after. */
async function asTenant<T>(
  client: pg.Client,
  tenantId: string | undefined,
  work: () => Promise<T>,
): Promise<T> {
  await client.query('begin');
  try {
    await client.query(`set local role ${role}`);
    if (tenantId !== undefined) await client.query(`set local joinery.tenant_id = '${tenantId}'`);
    return await work();
  } finally {
    await client.query('rollback');
  }
}

async function sqlState(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe('row-level security (real PostgreSQL): a session set to one tenant sees only its rows', () => {
  let database: TestDatabase;
  let orm: MikroORM;
  let client: pg.Client;
  let app: App;
  let acme: IssuedServiceAccount;
  let globex: IssuedServiceAccount;
  let tables: string[];

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: true });
    orm = await openDatabase({ url: database.url, poolSize: 4, logger: silentLogger });
    await migrate(orm);
    app = await buildApp({ orm, readiness: createReadiness({}), logger: silentLogger });
    acme = await createTenant(orm.em, { tenant: uniqueName('acme') });
    globex = await createTenant(orm.em, { tenant: uniqueName('globex') });
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
    tables = await tenantTables(client);
    // The audit history's day partitions are made by the service as it runs: today's, for the rows below.
    await ensurePartitions(orm.em, daysFrom(new Date(), 1));
    // A row of each tenant in every tenant table, written as the owner with foreign keys not checked (the
    // test's superuser may): what matters is whose rows a tenant session sees, not what they point to.
    await client.query('begin');
    await client.query('set local session_replication_role = replica');
    for (const table of tables) {
      for (const tenantId of [acme.tenantId, globex.tenantId]) {
        if (table === 'service_account') continue; // createTenant made each tenant's
        const row = await rowFor(client, table, tenantId);
        await client.query(row.text, row.values);
      }
    }
    for (const tenantId of [acme.tenantId, globex.tenantId]) {
      await client.query(
        `insert into import_run_error (run_id, line, reason)
         select run_id, 1, 'a rejected row' from import_run where tenant_id = $1`,
        [tenantId],
      );
      await client.query(`insert into outbox (messages, message_count) values ($1::json, 1)`, [
        JSON.stringify([{ tenantId, topic: 'joinery.outbound', key: 'k', json: {} }]),
      ]);
    }
    await client.query('commit');
  });
  afterAll(async () => {
    await client.end();
    await app.close();
    await orm.close();
    await database.drop();
  });

  it('lists every tenant table (and a row of each tenant in it)', async () => {
    expect(tables).toEqual(
      expect.arrayContaining(['identity', 'repository_object', 'export_item', 'application']),
    );
    for (const table of tables) {
      const { rows } = await client.query<{ tenants: number }>(
        `select count(distinct tenant_id)::int as tenants from "${table}"`,
      );
      expect({ table, tenants: rows[0]?.tenants }).toEqual({ table, tenants: 2 });
    }
  });

  it("reads none of another tenant's rows, even when the query asks for them by tenant", async () => {
    await asTenant(client, acme.tenantId, async () => {
      for (const table of tables) {
        const { rows } = await client.query<{ own: number; other: number; asked: number }>(
          `select count(*) filter (where tenant_id = $1)::int as own,
                  count(*) filter (where tenant_id <> $1)::int as other,
                  (select count(*)::int from "${table}" where tenant_id = $2) as asked
           from "${table}"`,
          [acme.tenantId, globex.tenantId],
        );
        expect({ table, ...rows[0] }).toEqual({
          table,
          own: expect.any(Number) as number,
          other: 0,
          asked: 0,
        });
        expect(rows[0]?.own, table).toBeGreaterThan(0);
      }
      const tenants = await client.query<{ id: string }>('select id from tenant');
      expect(tenants.rows).toEqual([{ id: acme.tenantId }]);
      const errors = await client.query<{ tenant_id: string }>(
        'select r.tenant_id from import_run_error e join import_run r using (run_id)',
      );
      expect(errors.rows).toEqual([{ tenant_id: acme.tenantId }]);
      const allErrors = await client.query('select * from import_run_error');
      expect(allErrors.rowCount).toBe(1);
      const outbox = await client.query('select * from outbox');
      expect(outbox.rowCount).toBe(0);
    });
  });

  it("finds no other tenant's identity through the case-insensitive join-key lookup (a security definer)", async () => {
    const { rows: keys } = await client.query<{ tenant_id: string; attribute: string; value: string }>(
      'select tenant_id, attribute, value from identity_join_key',
    );
    const lookup = (tenantId: string, key: { attribute: string; value: string } | undefined) =>
      client.query('select joinery_folded_join_key_matches($1, $2, lower($3))', [
        tenantId,
        key?.attribute,
        key?.value,
      ]);
    const own = keys.find((key) => key.tenant_id === acme.tenantId);
    const other = keys.find((key) => key.tenant_id === globex.tenantId);
    await asTenant(client, acme.tenantId, async () => {
      expect((await lookup(acme.tenantId, own)).rowCount).toBe(1);
      expect((await lookup(globex.tenantId, other)).rowCount).toBe(0);
    });
    await asTenant(client, undefined, async () => {
      expect((await lookup(acme.tenantId, own)).rowCount).toBe(0);
    });
  });

  it('reads nothing at all when no tenant is set', async () => {
    await asTenant(client, undefined, async () => {
      for (const table of [...tables, 'tenant', 'import_run_error', 'outbox']) {
        const { rows } = await client.query<{ count: number }>(
          `select count(*)::int as count from "${table}"`,
        );
        expect({ table, count: rows[0]?.count }).toEqual({ table, count: 0 });
      }
    });
  });

  it("cannot write a row for another tenant, nor move its own rows to one, nor touch the other's", async () => {
    for (const table of tables) {
      const row = await rowFor(client, table, globex.tenantId);
      const insert = await asTenant(client, acme.tenantId, () =>
        sqlState(client.query(row.text, row.values)),
      );
      expect({ table, insert }).toEqual({ table, insert: '42501' });
      const move = await asTenant(client, acme.tenantId, () =>
        sqlState(client.query(`update "${table}" set tenant_id = $1`, [globex.tenantId])),
      );
      expect({ table, move }).toEqual({ table, move: '42501' });
      const deleted = await asTenant(client, acme.tenantId, () =>
        client.query(`delete from "${table}" where tenant_id = $1`, [globex.tenantId]),
      );
      expect({ table, deleted: deleted.rowCount }).toEqual({ table, deleted: 0 });
    }
    const outboxState = await asTenant(client, acme.tenantId, () =>
      sqlState(
        client.query(`insert into outbox (messages, message_count) values ($1::json, 2)`, [
          JSON.stringify([
            { tenantId: acme.tenantId, topic: 'joinery.outbound', key: 'a', json: {} },
            { tenantId: globex.tenantId, topic: 'joinery.outbound', key: 'b', json: {} },
          ]),
        ]),
      ),
    );
    expect(outboxState).toBe('42501');
    const ownOutbox = await asTenant(client, acme.tenantId, () =>
      sqlState(
        client.query(`insert into outbox (messages, message_count) values ($1::json, 1)`, [
          JSON.stringify([{ tenantId: acme.tenantId, topic: 'joinery.outbound', key: 'a', json: {} }]),
        ]),
      ),
    );
    expect(ownOutbox).toBeUndefined();
  });

  it('has the tenant policy on every table with a tenant_id, and grants the tenant role nothing unprotected', async () => {
    const { rows } = await client.query<{
      table: string;
      rls: boolean;
      forced: boolean;
      policies: { roles: string[]; cmd: string; qual: string | null; check: string | null }[] | null;
    }>(
      `select c.relname as table, c.relrowsecurity as rls, c.relforcerowsecurity as forced,
         (select json_agg(json_build_object('roles', p.roles, 'cmd', p.cmd, 'qual', p.qual, 'check', p.with_check))
            from pg_policies p where p.schemaname = current_schema() and p.tablename = c.relname) as policies
       from pg_class c where c.relnamespace = current_schema()::regnamespace and c.relname = any($1)`,
      [tables],
    );
    expect(rows.map((row) => row.table).sort()).toEqual([...tables].sort());
    for (const row of rows) {
      const expected =
        /tenant_id = \(NULLIF\(current_setting\('joinery\.tenant_id'::text, true\), ''::text\)\)::uuid/;
      expect({ table: row.table, rls: row.rls, forced: row.forced }).toEqual({
        table: row.table,
        rls: true,
        forced: false, // the owner (the engine) is not subject to it
      });
      expect(row.policies, `${row.table} has no policy: add one in a migration`).toEqual([
        {
          roles: ['public'],
          cmd: 'ALL',
          qual: expect.stringMatching(expected) as string,
          check: expect.stringMatching(expected) as string,
        },
      ]);
    }
    // Whatever the tenant role may touch is a table with row security: no view, no unprotected table.
    const granted = await client.query<{ name: string; kind: string; rls: boolean }>(
      `select distinct c.relname as name, c.relkind::text as kind, c.relrowsecurity as rls
       from information_schema.role_table_grants g
       join pg_class c on c.relname = g.table_name and c.relnamespace = g.table_schema::regnamespace
       where g.grantee = $1 and g.table_schema = current_schema()`,
      [role],
    );
    expect(granted.rows.length).toBeGreaterThan(0);
    expect(granted.rows.filter((row) => !['r', 'p'].includes(row.kind) || !row.rls)).toEqual([]);
    const properties = await client.query<{ rolsuper: boolean; rolbypassrls: boolean; rolcanlogin: boolean }>(
      'select rolsuper, rolbypassrls, rolcanlogin from pg_roles where rolname = $1',
      [role],
    );
    expect(properties.rows).toEqual([{ rolsuper: false, rolbypassrls: false, rolcanlogin: false }]);
  });

  it("runs the API's requests under the policies: a policy that hides every row hides them from the API", async () => {
    const as = { authorization: `Bearer ${acme.apiKey}` };
    const before = await app.inject({ method: 'GET', url: '/v1/tenant', headers: as });
    expect(before.statusCode).toBe(200);
    await client.query('alter policy tenant_isolation on tenant using (false)');
    try {
      // The route's own SQL asks for the caller's tenant; the database shows it nothing, so the answer is 404.
      const after = await app.inject({ method: 'GET', url: '/v1/tenant', headers: as });
      expect(after.statusCode).toBe(404);
      expect(after.json()).toMatchObject({ error: { code: 'JNY_NOT_FOUND' } });
    } finally {
      await client.query(
        `alter policy tenant_isolation on tenant using (id = nullif(current_setting('joinery.tenant_id', true), '')::uuid)`,
      );
    }
    const again = await app.inject({ method: 'GET', url: '/v1/tenant', headers: as });
    expect(again.statusCode).toBe(200);
  });
});

describe('the tenant role on a database whose login role may not create roles', () => {
  it('refuses to start with one message saying what to create', async () => {
    const admin = new pg.Client({ connectionString: createPostgres().adminUrl });
    await admin.connect();
    const suffix = randomBytes(4).toString('hex');
    const login = `joinery_login_${suffix}`;
    const name = `joinery_nocreate_${suffix}`;
    await admin.query(`create role ${login} login password 'secret' nosuperuser nocreaterole`);
    await admin.query(`create database ${name} owner ${login}`);
    const url = new URL(createPostgres().adminUrl);
    url.username = login;
    url.password = 'secret';
    url.pathname = `/${name}`;
    const orm = await openDatabase({ url: url.toString(), poolSize: 2, logger: silentLogger });
    try {
      const missing = `joinery_tenant_${suffix}`;
      const error = await migrate(orm, { tenantRole: missing }).then(
        () => undefined,
        (caught: unknown) => caught as Error & { code?: string },
      );
      expect(error?.code).toBe('JNY_START_UP');
      expect(error?.message).toContain(`the database role ${missing}`);
      expect(error?.message).toContain(
        `create role "${missing}" nologin nobypassrls; grant "${missing}" to "${login}";`,
      );
    } finally {
      await orm.close();
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.query(`drop role if exists ${login}`);
      await admin.end();
    }
  });
});
