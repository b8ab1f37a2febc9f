// The role the API's tenant transactions run as (database.tenantRole, default joinery_tenant): NOLOGIN, not
// a superuser, NOBYPASSRLS, owning nothing — so the row-level security policies of every tenant table
// (migrations/Migration20261207090000_row_level_security.ts) hold for it. The login role (DATABASE_URL, the
// tables' owner, which runs migrations and the engine) creates it when allowed, grants it the rows' verbs on
// the tables with row security, and must be able to SET ROLE to it. Made after migrations, by `joinery
// migrate` and `joinery start`; where the login role may not create roles, the message says what to run.
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { StartUpError } from '../../kernel/errors.ts';

export const DEFAULT_TENANT_ROLE = 'joinery_tenant';

/** SQLSTATEs of a concurrent start making the same role or grants (roles are cluster-wide): try again. */
const RACES = new Set(['42710', '23505', 'XX000', '40001', '40P01']);
const ATTEMPTS = 5;

const quoted = (name: string): string => `"${name.replaceAll('"', '""')}"`;
const sqlState = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
};

/** What a DBA runs when the login role may not create or grant the role itself (docs/operations.md). */
export function tenantRoleSql(role: string, login: string): string {
  return `create role ${quoted(role)} nologin nobypassrls; grant ${quoted(role)} to ${quoted(login)};`;
}

/** Creates the tenant role if missing, grants it the tenant tables, and checks the login role can use it. */
export async function ensureTenantRole(orm: MikroORM, role: string = DEFAULT_TENANT_ROLE): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await prepareTenantRole(orm, role);
      return;
    } catch (error) {
      const state = sqlState(error);
      if (attempt >= ATTEMPTS || state === undefined || !RACES.has(state)) throw error;
    }
  }
}

async function prepareTenantRole(orm: MikroORM, role: string): Promise<void> {
  const db = orm.em.fork().getKysely();
  const { rows } = await sql<{
    login: string;
    schema: string;
    exists: boolean;
    superuser: boolean | null;
    bypassrls: boolean | null;
    owned: number;
  }>`
    select current_user as login, current_schema() as schema, t.oid is not null as exists, t.rolsuper as superuser,
      t.rolbypassrls as bypassrls,
      (select count(*)::int from pg_class c where c.relowner = t.oid) as owned
    from (select 1) one left join pg_roles t on t.rolname = ${role}`.execute(db);
  const found = rows[0];
  if (found === undefined) throw new Error('pg_roles answered no row');
  const { login, schema } = found;
  const todo = `as a role that may (a superuser), run: ${tenantRoleSql(role, login)} (docs/operations.md, Database roles)`;
  if (!found.exists) {
    try {
      await sql.raw(`create role ${quoted(role)} nologin nobypassrls`).execute(db);
    } catch (error) {
      if (sqlState(error) !== '42501') throw error;
      throw new StartUpError(
        `the database role ${role} (the API's tenant transactions run as it, under row-level security) does not exist and ${login} may not create it: ${todo}`,
        { cause: error },
      );
    }
  } else if (found.superuser === true || found.bypassrls === true || found.owned > 0) {
    throw new StartUpError(
      `the database role ${role} ${found.owned > 0 ? `owns ${String(found.owned)} relation(s)` : 'bypasses row-level security'}, so tenants would not be kept apart by the database: use a role that owns nothing and is created nologin nobypassrls nosuperuser (database.tenantRole; docs/operations.md, Database roles)`,
    );
  }
  // The verbs on every table with row security (the policies decide which rows); nothing on the others.
  const { rows: tables } = await sql<{ name: string }>`
    select c.relname as name from pg_class c
    where c.relnamespace = current_schema()::regnamespace and c.relkind in ('r', 'p') and c.relrowsecurity
    order by 1`.execute(db);
  if (tables.length > 0) {
    await sql
      .raw(
        `grant select, insert, update, delete on table ${tables.map((table) => quoted(table.name)).join(', ')} to ${quoted(role)}`,
      )
      .execute(db);
    await sql.raw(`grant usage on all sequences in schema ${quoted(schema)} to ${quoted(role)}`).execute(db);
  }
  const { rows: membership } = await sql<{ member: boolean }>`
    select pg_has_role(current_user, ${role}, 'member') as member`.execute(db);
  try {
    if (membership[0]?.member !== true) await sql.raw(`grant ${quoted(role)} to current_user`).execute(db);
    await db.transaction().execute(async (tx) => {
      await sql`select set_config('role', ${role}, true)`.execute(tx);
    });
  } catch (error) {
    if (sqlState(error) !== '42501') throw error;
    throw new StartUpError(
      `${login} may not SET ROLE ${role} (the API's tenant transactions run as it) and may not grant it to itself: ${todo}`,
      { cause: error },
    );
  }
}
