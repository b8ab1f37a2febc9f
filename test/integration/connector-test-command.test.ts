// `joinery connector test` against real PostgreSQL, the real CLI spawned: one line per check, exit 0 when
// all pass and 1 otherwise; a csv file is read as an import would read it, and nothing is imported.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/infra/process.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';
import { startScimTestServer, type ScimTestServer } from '../support/scim-server.ts';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('joinery connector test (the real CLI, real PostgreSQL)', () => {
  let database: TestDatabase;
  let orm: MikroORM;
  let tenantId = '';
  let scim: ScimTestServer;
  const directory = mkdtempSync(join(tmpdir(), 'joinery-connector-test-'));
  const dropFolder = join(directory, 'drop');

  beforeAll(async () => {
    mkdirSync(dropFolder);
    scim = await startScimTestServer();
    database = await createTestDatabase({ migrated: true });
    orm = await openDatabase({ url: database.url, poolSize: 2, logger: silentLogger });
    await migrate(orm);
    tenantId = (await createTenant(orm.em, { tenant: uniqueName('tenant') })).tenantId;
    const applied = await applyPlan(orm.em, {
      tenantId,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
      source: [
        'version: 1',
        'vault:',
        '  attributes: { employeeId: {} }',
        'applications:',
        '  - name: hr',
        '    type: csv',
        '    objectClasses:',
        '      worker: { attributes: { WorkerID: {}, FirstName: {}, HireDate: {} } }',
        '    csv:',
        '      externalId: WorkerID',
        "      columns: { 'Employee Number': WorkerID }",
        "      dates: { HireDate: 'dd/MM/yyyy' }",
        `      watch: { directory: '${dropFolder}' }`,
        '  - name: payroll',
        '    type: csv',
        '    objectClasses:',
        '      employee: { attributes: { PayrollID: {} } }',
        `    csv: { externalId: PayrollID, watch: { directory: '${join(directory, 'missing')}' } }`,
        '  - name: directory',
        '    type: ldap',
        '    objectClasses:',
        '      user: { attributes: { uid: {} } }',
        '  - name: branch-office',
        '    type: active-directory',
        '    objectClasses:',
        '      user: { attributes: { sAMAccountName: {} } }',
        '  - name: crm',
        '    type: scim',
        '    objectClasses:',
        '      user: { attributes: { userName: {} } }',
        '  - name: slack',
        '    type: scim',
        '    objectClasses:',
        '      user: { attributes: { userName: {}, givenName: {} } }',
        `    scim: { baseUrl: '${scim.url}', auth: { bearer: env:SLACK_SCIM_TOKEN }, update: put }`,
        '  - name: ledger',
        '    type: sql',
        '    objectClasses:',
        '      person: { attributes: { id: { direction: both }, name: { direction: both } } }',
        '    sql:',
        '      dialect: postgresql',
        '      connection: env:LEDGER_DB_URL',
        '      source: { table: ledger_people, key: id }',
        '      target: { table: ledger_people, key: id, disabledColumn: locked }',
      ].join('\n'),
    });
    const directoryId = applied.applications.find((application) => application.name === 'directory')?.id;
    // An enrolled agent connector for the directory, seen a minute ago.
    await sql`
      insert into connector (id, tenant_id, name, application_ids, enrolment_state, client_key_hash, enrolled_at,
        last_heartbeat_at, agent_version, health, created_at)
      values (${randomUUID()}, ${tenantId}, 'head-office', ${JSON.stringify([directoryId])}::jsonb, 'enrolled',
        ${'0'.repeat(64)}, now() - interval '1 day', now() - interval '1 minute', '1.4.0',
        ${JSON.stringify({ status: 'ok' })}::jsonb, now())`.execute(orm.em.fork().getKysely());
  });
  afterAll(async () => {
    await orm.close();
    await database.drop();
    await scim.close();
    rmSync(directory, { recursive: true, force: true });
  });

  let environment: Record<string, string> = {};
  const joinery = async (...args: string[]): Promise<Result> => {
    const child = spawn(process.execPath, [join(projectRoot, 'src/cli/main.ts'), ...args], {
      cwd: tmpdir(),
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        DATABASE_URL: database.url,
        JOINERY_LOG_LEVEL: 'warn',
        ...environment,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, stdout, stderr };
  };
  const test = (application: string, ...more: string[]) =>
    joinery('connector', 'test', application, '--tenant', tenantId, ...more);

  it('passes a csv application whose settings, watched folder and file are good, importing nothing', async () => {
    const file = join(directory, 'hr.csv');
    writeFileSync(
      file,
      [
        'Employee Number,FirstName,HireDate,Cost Centre',
        'W1,Ada,01/03/2021,CC-1',
        'W2,Grace,15/12/2019,CC-2',
      ].join('\n'),
    );
    const result = await test('hr', '--file', file);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual([
      'ok    csv settings: valid',
      `ok    watched folder: ${dropFolder} is readable and writable; 0 file(s) matching *.csv waiting`,
      `ok    file ${file}: columns WorkerID, FirstName, HireDate (ignored: Cost Centre); first 2 rows: 2 read, 0 rejected; nothing sent`,
    ]);
    const { rows } = await sql<{ count: string }>`select count(*) from import_run`.execute(
      orm.em.fork().getKysely(),
    );
    expect(Number(rows[0]?.count)).toBe(0);
  });

  it('fails a file with rejected rows, showing the first of them', async () => {
    const file = join(directory, 'bad.csv');
    const rows = Array.from({ length: 150 }, (_, n) => `W${String(n)},Person,01/01/2020`);
    rows[2] = 'W2,Person,31/02/2020';
    rows[120] = 'W120,too,many,fields';
    writeFileSync(file, ['Employee Number,FirstName,HireDate', ...rows].join('\n'));
    const result = await test('hr', '--file', file);
    expect(result.code).toBe(1);
    expect(result.stdout.trim().split('\n').slice(2)).toEqual([
      `FAIL  file ${file}: columns WorkerID, FirstName, HireDate; first 100 rows: 99 read, 1 rejected (imported as a delta: nothing would be deleted); nothing sent`,
      '        line 4: HireDate "31/02/2020" is not a date in the format dd/MM/yyyy',
    ]);
  });

  it('fails a missing watched folder, saying so', async () => {
    const result = await test('payroll');
    expect(result.code).toBe(1);
    expect(result.stdout.trim().split('\n')).toEqual([
      'ok    csv settings: valid',
      `FAIL  watched folder: the watched directory ${join(directory, 'missing')} does not exist`,
    ]);
  });

  it('reports the agent connector of a directory application and when it was last seen', async () => {
    const seen = await test('directory');
    expect(seen.code, seen.stderr).toBe(0);
    const [enrolled, lastSeen] = seen.stdout.trim().split('\n');
    expect(enrolled).toMatch(/^ok {4}agent connector: head-office enrolled \d{4}-\d\d-\d\dT/);
    // Seen a minute before the command ran: "1 min ago", or more when the machine is slow to start the CLI.
    expect(lastSeen).toMatch(
      /^ok {4}last seen: \d{4}-\d\d-\d\dT\S+ \(\d+ min ago\), agent 1\.4\.0, health ok$/,
    );

    const none = await test('branch-office');
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/^FAIL {2}agent connector: none reads this application: create one/);
  });

  it('says what a scim application without settings needs', async () => {
    const result = await test('crm');
    expect(result.code).toBe(1);
    expect(result.stdout.trim()).toMatch(
      /^FAIL {2}scim settings: application crm has no scim settings: add scim: \{ baseUrl: <the SCIM service root>, auth: \{ bearer: env:<variable> \} \} to it in the plan$/,
    );
  });

  it('checks a scim application against its SCIM service: its token, PATCH and filter support, its users', async () => {
    environment = { SLACK_SCIM_TOKEN: 'wrong' };
    const refused = await test('slack');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^FAIL {2}Users: GET \/scim\/v2\/Users answered 401/m);
    expect(refused.stdout).not.toContain('wrong');

    scim.seedUser({ userName: 'ada@example.org' });
    environment = { SLACK_SCIM_TOKEN: scim.token };
    const good = await test('slack');
    expect(good.stdout.trim().split('\n')).toEqual([
      `ok    scim settings: ${scim.url}, bearer token (secret found), update by PUT, delete by delete, group members by patch`,
      'ok    service provider config: PATCH supported, filter supported',
      'ok    Users: readable (1 users), written as object class user',
    ]);
    expect(good.code).toBe(0);
    environment = {};
  });

  it('checks a sql application: its connection, its source table and key, the columns its target lacks', async () => {
    await sql`create table ledger_people (id text primary key, name text)`.execute(orm.em.fork().getKysely());
    await sql`insert into ledger_people values ('L1', 'Ada')`.execute(orm.em.fork().getKysely());
    const url = new URL(database.url);
    url.password = 'ledger-secret-4711'; // trust authentication ignores it: it must not be shown
    environment = { LEDGER_DB_URL: url.toString() };
    const result = await test('ledger');
    const masked = new URL(url);
    masked.password = '***';
    expect(result.stdout.trim().split('\n')).toEqual([
      `ok    sql settings: postgresql at ${masked.toString()} (secret env:LEDGER_DB_URL found); imports table ledger_people by key id, full runs only; writes table ledger_people by key id, delete by delete, enable/disable by locked`,
      expect.stringMatching(/^ok {4}connection: connected: PostgreSQL \d+/),
      'ok    source: the table answers: 1 rows; key column id found; attributes read: id, name',
      'FAIL  target: table ledger_people lacks column locked (it has id, name): map the attributes to its columns in sql.target.columns',
    ]);
    expect(result.stdout + result.stderr).not.toContain('ledger-secret-4711');
    // It exits once done: its connection pool closed.
    expect(result.code).toBe(1);
    environment = {};
  });
});
