// A fresh PostgreSQL database per test file, on the infrastructure's server, dropped afterwards.
//
// Most tests want it migrated: `{ migrated: true }` copies a template database the migrations were run on
// once (CREATE DATABASE … TEMPLATE), instead of running all of them again in every file — seconds each on
// two busy cores. The template is named after a hash of migrations/, so a changed migration gets a new one;
// the tests still call `migrate()` on their copy, which then finds nothing pending. Tests of migrating
// itself (an empty database) ask for a plain one.
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { createPostgres } from '../../src/infra/postgres.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { silentLogger } from './factories.ts';

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const admin = createPostgres().adminUrl;
  const name = `joinery_test_${randomBytes(6).toString('hex')}`;
  const template = options.migrated === true ? ` template ${await migratedTemplate(admin)}` : '';
  await withClient(admin, (client) => client.query(`create database ${name}${template}`));
  return {
    url: databaseUrl(admin, name),
    name,
    drop: () =>
      withClient(admin, (client) => client.query(`drop database if exists ${name} with (force)`)).then(
        () => undefined,
      ),
  };
}

function databaseUrl(admin: string, name: string): string {
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}

const migrationsDir = join(import.meta.dirname, '../../migrations');

/** The migrations' names and contents, hashed: a template is only ever used by the code it was built from. */
function migrationsHash(): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(migrationsDir).sort()) {
    hash
      .update(file)
      .update('\0')
      .update(readFileSync(join(migrationsDir, file)))
      .update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

// Any fixed number: the advisory lock under which one process at a time builds a template.
const templateLock = 7_245_118_803;
let template: Promise<string> | undefined;

/** The migrated template's name; built once on this server (by whichever test process gets there first). */
function migratedTemplate(admin: string): Promise<string> {
  template ??= buildTemplate(admin).catch((error: unknown) => {
    template = undefined;
    throw error;
  });
  return template;
}

async function buildTemplate(admin: string): Promise<string> {
  const name = `joinery_template_${migrationsHash()}`;
  await withClient(admin, async (client) => {
    await client.query('select pg_advisory_lock($1)', [templateLock]);
    try {
      const found = await client.query('select 1 from pg_database where datname = $1', [name]);
      if (found.rowCount !== 0) return;
      // Built under another name and renamed when complete: nobody copies a half-migrated template.
      const building = `${name}_${randomBytes(4).toString('hex')}`;
      await client.query(`create database ${building}`);
      try {
        const orm = await openDatabase({
          url: databaseUrl(admin, building),
          poolSize: 2,
          logger: silentLogger,
        });
        try {
          await migrate(orm);
        } finally {
          await orm.close();
        }
        await client.query(`alter database ${building} rename to ${name}`);
      } catch (error) {
        await client.query(`drop database if exists ${building} with (force)`);
        throw error;
      }
    } finally {
      await client.query('select pg_advisory_unlock($1)', [templateLock]);
    }
  });
  return name;
}

async function withClient<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}
