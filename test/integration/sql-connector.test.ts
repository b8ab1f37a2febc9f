// The SQL connector end to end, on the real Kafka broker and PostgreSQL, against real databases that are
// not Joinery's: a scratch database on the project's PostgreSQL and one on MariaDB (127.0.0.1:3306). A
// PostgreSQL query and a MariaDB table are read as sources by requested runs (rows become identities; a row
// without a key and a key on two rows are reported on the run, which deletes nothing); their identities are
// provisioned into a PostgreSQL table (generated key) and a MariaDB table (key from an attribute), then
// updated, disabled and deleted there after delta runs bring the changed rows through their
// change-tracking columns. The connection secrets never reach the logs.
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { App } from '../../src/api/app.ts';
import { createSqlConnector } from '../../src/connectors/sql/sql-connector.ts';
import { ensureMariaDb } from '../../src/infra/mariadb.ts';
import type { ApplicationPlan } from '../../src/plan/plan.schema.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { applyTestPlan, runsApi, testApp } from '../support/system.ts';
import {
  createStreamsFixture,
  exportQueue,
  query,
  startTestEngine,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';

const pgPassword = `pg-${randomBytes(9).toString('hex')}`;
const mariaPassword = `maria-${randomBytes(9).toString('hex')}`;

/** A scratch MariaDB database with its own user (a password to keep out of the logs), dropped afterwards. */
async function createMariaDatabase() {
  const server = await ensureMariaDb();
  const name = `joinery_sql_${randomBytes(5).toString('hex')}`;
  const user = name;
  const admin = await mysql.createConnection({ uri: server.adminUrl });
  await admin.query(`create database ${name}`);
  await admin.query(`create user '${user}'@'%' identified by '${mariaPassword}'`);
  await admin.query(`grant all on ${name}.* to '${user}'@'%'`);
  const url = `mysql://${user}:${mariaPassword}@${server.host}:${String(server.port)}/${name}`;
  const connection = await mysql.createConnection({ uri: url, dateStrings: true });
  return {
    url,
    query: async <T>(text: string, values: unknown[] = []) => (await connection.query(text, values))[0] as T,
    async drop() {
      await connection.end();
      await admin.query(`drop database if exists ${name}`);
      await admin.query(`drop user if exists '${user}'@'%'`);
      await admin.end();
    },
  };
}

describe('SQL connector (PostgreSQL and MariaDB tables, real Kafka and PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let app: App;
  let source: TestDatabase;
  let maria: Awaited<ReturnType<typeof createMariaDatabase>>;
  let pgUrl = '';
  const logged: string[] = [];
  const apps = { people: '', staff: '', pgAccounts: '', mariaAccounts: '' };
  const environment: Record<string, string> = {};
  const secrets = (reference: string) => {
    const value = environment[reference.replace(/^env:/, '')];
    if (value === undefined) throw new Error(`${reference} is not set`);
    return value;
  };

  const plan = [
    'version: 1',
    'vault:',
    '  attributes: { employeeId: {}, givenName: {}, familyName: {}, email: {}, department: {} }',
    'classifications: [{ value: 1, name: staff, when: "true" }]',
    'applications:',
    '  - name: people',
    '    type: sql',
    '    createsIdentities: true',
    '    objectClasses:',
    '      person:',
    '        attributes: { employeeId: {}, givenName: {}, familyName: {}, email: {}, department: {}, status: {}, hiredAt: { type: timestamp }, grade: { type: int } }',
    '    inbound:',
    '      - { vault: employeeId, from: employeeId, authority: 100 }',
    '      - { vault: givenName, from: givenName, authority: 100 }',
    '      - { vault: familyName, from: familyName, authority: 100 }',
    '      - { vault: email, from: email, authority: 100 }',
    '      - { vault: department, from: department, authority: 100 }',
    '    joining: [{ name: employee id, all: [{ source: employeeId, vault: employeeId }] }]',
    '    lifecycle: { status: \'source.status == "inactive" ? "disabled" : "active"\' }',
    '    sql:',
    '      dialect: postgresql',
    '      connection: env:PEOPLE_DB_URL',
    '      source:',
    '        query: select id as "employeeId", given_name as "givenName", family_name as "familyName", email, department, status, hired_at as "hiredAt", grade, updated_at from people',
    '        key: employeeId',
    '        changedColumn: updated_at',
    '        pageSize: 2',
    '  - name: staff',
    '    type: sql',
    '    createsIdentities: true',
    '    objectClasses:',
    '      member: { attributes: { staff_id: {}, first_name: {}, last_name: {}, email: {}, department: {}, version: { type: int } } }',
    '    inbound:',
    '      - { vault: employeeId, from: staff_id, authority: 90 }',
    '      - { vault: givenName, from: first_name, authority: 90 }',
    '      - { vault: familyName, from: last_name, authority: 90 }',
    '      - { vault: email, from: email, authority: 90 }',
    '      - { vault: department, from: department, authority: 90 }',
    '    joining: [{ name: staff id, all: [{ source: staff_id, vault: employeeId }] }]',
    '    sql:',
    '      dialect: mysql',
    '      connection: env:STAFF_DB_URL',
    '      source: { table: staff, key: staff_id, changedColumn: version, pageSize: 2 }',
    '  - name: pg-accounts',
    '    type: sql',
    '    mode: live',
    '    classifications: [1]',
    '    objectClasses:',
    '      account: { attributes: { userName: { direction: out }, givenName: { direction: out }, familyName: { direction: out }, department: { direction: out } } }',
    '    filters: { outbound: \'identity.department != "External"\' }',
    '    outbound:',
    '      - { target: userName, from: email }',
    '      - { target: givenName, from: givenName }',
    '      - { target: familyName, from: familyName }',
    '      - { target: department, from: department }',
    '    export: { objectClass: account, deprovision: delete }',
    '    sql:',
    '      dialect: postgresql',
    '      connection: env:PEOPLE_DB_URL',
    '      target:',
    '        table: accounts',
    '        key: id',
    '        columns: { userName: username, givenName: given_name, familyName: family_name }',
    '        disabledColumn: disabled',
    '  - name: maria-accounts',
    '    type: sql',
    '    mode: live',
    '    classifications: [1]',
    '    objectClasses:',
    '      account: { attributes: { userName: { direction: out }, displayName: { direction: out }, department: { direction: out } } }',
    '    filters: { outbound: \'identity.department != "External"\' }',
    '    outbound:',
    '      - { target: userName, from: email }',
    '      - { target: displayName, expression: \'identity.givenName + " " + identity.familyName\' }',
    '      - { target: department, from: department }',
    '    export: { objectClass: account, deprovision: delete }',
    '    sql:',
    '      dialect: mysql',
    '      connection: env:STAFF_DB_URL',
    '      target:',
    '        table: accounts',
    '        key: username',
    '        columns: { userName: username, displayName: display_name }',
    '        activeColumn: active',
  ].join('\n');

  beforeAll(async () => {
    maria = await createMariaDatabase();
    source = await createTestDatabase();
    const url = new URL(source.url);
    url.password = pgPassword; // trust authentication ignores it: it is here to be kept out of the logs
    pgUrl = url.toString();
    environment.PEOPLE_DB_URL = pgUrl;
    environment.STAFF_DB_URL = maria.url;
    await query(
      source.url,
      `create table people (id text, given_name text, family_name text, email text, department text,
         status text, hired_at timestamptz, grade bigint, updated_at timestamptz(6) not null default now());
       create table accounts (id serial primary key, username text not null unique, given_name text,
         family_name text, department text, disabled boolean not null default false,
         constraint department_known check (department <> 'Unknown'))`,
    );
    await query(
      source.url,
      `insert into people (id, given_name, family_name, email, department, status, hired_at, grade, updated_at) values
        ('E1', 'Ada', 'Lovelace', 'ada@example.org', 'R&D', 'active', '2020-01-02 03:04:05.678+00', 7, '2026-01-01 00:00:00.000001+00'),
        ('E2', 'Grace', 'Hopper', 'grace@example.org', 'Navy', 'active', null, null, '2026-01-01 00:00:00.000002+00'),
        ('E3', 'Linus', 'Torvalds', 'linus@example.org', 'Kernel', 'active', null, 3, '2026-01-01 00:00:00.000003+00')`,
    );
    await maria.query(
      `create table staff (staff_id varchar(32) null, first_name varchar(64), last_name varchar(64),
         email varchar(128), department varchar(64), version int not null)`,
    );
    await maria.query(
      `create table accounts (username varchar(128) primary key, display_name varchar(128),
         department varchar(64), active tinyint(1) not null default 1)`,
    );
    await maria.query(
      `insert into staff values
        ('C1', 'Tim', 'Berners-Lee', 'tim@example.org', 'Web', 1),
        ('C2', 'Margaret', 'Hamilton', 'margaret@example.org', 'Apollo', 1),
        ('C2', 'Margaret', 'Hamilton', 'margaret@example.org', 'Apollo', 1),
        (null, 'Nobody', 'Known', 'nobody@example.org', 'Nowhere', 1)`,
    );

    fixture = await createStreamsFixture();
    engine = await startTestEngine(fixture, {
      connectorSecrets: secrets,
      connectorPollMs: 100,
      logger: pino({ level: 'debug' }, { write: (line: string) => logged.push(line) }),
    });
    app = await testApp(fixture);
    const ids = await applyTestPlan(fixture, plan);
    apps.people = ids['people'] ?? '';
    apps.staff = ids['staff'] ?? '';
    apps.pgAccounts = ids['pg-accounts'] ?? '';
    apps.mariaAccounts = ids['maria-accounts'] ?? '';
  }, 60_000);
  afterAll(async () => {
    await app.close();
    await engine.stop();
    await fixture.close();
    await source.drop();
    await maria.drop();
  });

  const headers = () => ({ authorization: `Bearer ${fixture.apiKey}` });
  const get = async <T>(url: string) =>
    (await app.inject({ method: 'GET', url, headers: headers() })).json<T>();
  const runs = () => runsApi(app, fixture);
  const requestRun = (applicationId: string, kind: 'full' | 'delta') => runs().request(applicationId, kind);
  const finished = (runId: string) => runs().finished(runId);
  const pgAccounts = () =>
    query<{ id: number; username: string; given_name: string; department: string; disabled: boolean }>(
      source.url,
      'select id, username, given_name, department, disabled from accounts order by username',
    );
  const mariaAccounts = () =>
    maria.query<{ username: string; display_name: string; department: string; active: number }[]>(
      'select username, display_name, department, active from accounts order by username',
    );

  it('imports a PostgreSQL query and a MariaDB table as identities, reporting rows without a key or with a key taken', async () => {
    const people = await finished(await requestRun(apps.people, 'full'));
    expect(people).toMatchObject({ status: 'completed', kind: 'full', sent: 3, rejected: 0 });
    const ada = await get<{ attributes: Record<string, unknown>; identityId: string | null }>(
      `/v1/applications/${apps.people}/objects/E1`,
    );
    // Values as their attributes' types: a timestamp as an ISO string, a bigint as a number.
    expect(ada.attributes).toMatchObject({
      givenName: 'Ada',
      email: 'ada@example.org',
      hiredAt: '2020-01-02T03:04:05.678Z',
      grade: 7,
    });
    expect(ada.identityId).not.toBeNull();

    const staff = await finished(await requestRun(apps.staff, 'full'));
    // Two rows left out (no key; C2 a second time): listed on the run, which completes as a delta (nothing deleted).
    expect(staff).toMatchObject({ status: 'completed', kind: 'delta', sent: 2, rejected: 2 });
    const errors = await get<{ items: { line: number; reason: string }[] }>(`/v1/runs/${staff.id}/errors`);
    expect(errors.items.map((error) => error.reason)).toEqual([
      '1 rows have no key (column staff_id is null): not imported',
      'key C2 is on more than one row: only the first read is imported',
    ]);
    const identities = await waitFor('five identities', async () => {
      const [row] = await query<{ count: string }>(
        fixture.database.url,
        'select count(*) from identity where tenant_id = $1',
        [fixture.tenantId],
      );
      return Number(row?.count) === 5 ? true : undefined;
    });
    expect(identities).toBe(true);
  }, 60_000);

  it('provisions the identities into a PostgreSQL table (generated key) and a MariaDB table (key from an attribute)', async () => {
    const pgRows = await waitFor('five rows in the PostgreSQL accounts table', async () => {
      const rows = await pgAccounts();
      return rows.length === 5 ? rows : undefined;
    });
    expect(pgRows.map((row) => row.username)).toEqual([
      'ada@example.org',
      'grace@example.org',
      'linus@example.org',
      'margaret@example.org',
      'tim@example.org',
    ]);
    expect(pgRows[0]).toMatchObject({ given_name: 'Ada', department: 'R&D', disabled: false });
    const mariaRows = await waitFor('five rows in the MariaDB accounts table', async () => {
      const rows = await mariaAccounts();
      return rows.length === 5 ? rows : undefined;
    });
    expect(mariaRows[0]).toEqual({
      username: 'ada@example.org',
      display_name: 'Ada Lovelace',
      department: 'R&D',
      active: 1,
    });
    const queue = await waitFor('the creates recorded with their keys', async () => {
      const rows = await exportQueue(fixture, apps.pgAccounts);
      return rows.length === 5 && rows.every((row) => row.status === 'succeeded') ? rows : undefined;
    });
    // The generated key is the object's external id.
    expect(queue.map((row) => Number(row.external_id)).sort()).toEqual(pgRows.map((row) => row.id).sort());
    const mariaQueue = await exportQueue(fixture, apps.mariaAccounts);
    expect(mariaQueue.map((row) => row.external_id).sort()).toEqual(mariaRows.map((row) => row.username));
  }, 60_000);

  it('brings changed rows through the change-tracking columns, then updates, disables and deletes the provisioned rows', async () => {
    await query(
      source.url,
      `update people set given_name = 'Augusta Ada', updated_at = '2026-01-02 00:00:00.000001+00' where id = 'E1';
       update people set status = 'inactive', updated_at = '2026-01-02 00:00:00.000002+00' where id = 'E2'`,
    );
    await maria.query(`update staff set department = 'External', version = 2 where staff_id = 'C1'`);
    const people = await finished(await requestRun(apps.people, 'delta'));
    // E1 and E2 changed; E3 is read again, unchanged, being within the overlap before the cursor (its own value).
    expect(people).toMatchObject({ status: 'completed', kind: 'delta', sent: 3 });
    const staff = await finished(await requestRun(apps.staff, 'delta'));
    expect(staff).toMatchObject({ status: 'completed', kind: 'delta', sent: 1 });

    await waitFor('Ada renamed, Grace disabled, Tim deleted in PostgreSQL', async () => {
      const rows = await pgAccounts();
      const by = new Map(rows.map((row) => [row.username, row]));
      return by.get('ada@example.org')?.given_name === 'Augusta Ada' &&
        by.get('grace@example.org')?.disabled === true &&
        !by.has('tim@example.org') &&
        rows.length === 4
        ? true
        : undefined;
    });
    await waitFor('Ada renamed, Grace disabled, Tim deleted in MariaDB', async () => {
      const rows = await mariaAccounts();
      const by = new Map(rows.map((row) => [row.username, row]));
      return by.get('ada@example.org')?.display_name === 'Augusta Ada Lovelace' &&
        by.get('grace@example.org')?.active === 0 &&
        !by.has('tim@example.org') &&
        rows.length === 4
        ? true
        : undefined;
    });
    for (const applicationId of [apps.pgAccounts, apps.mariaAccounts]) {
      const rows = await waitFor('every export delivered', async () => {
        const queue = await exportQueue(fixture, applicationId);
        return queue.every((row) => row.status === 'succeeded') ? queue : undefined;
      });
      expect(rows.map((row) => row.operation)).toEqual(
        expect.arrayContaining(['create', 'update', 'disable', 'delete']),
      );
    }
    // A delta with nothing changed reads again only the rows within the overlap before its cursor (5 minutes
    // by default for a timestamp: E1 and E2, changed 2026-01-02 00:00:00.00000x); the staff table's version
    // number has no overlap by default, so its delta reads nothing.
    const again = await finished(await requestRun(apps.people, 'delta'));
    expect(again).toMatchObject({ status: 'completed', kind: 'delta', sent: 2 });
    const staffAgain = await finished(await requestRun(apps.staff, 'delta'));
    expect(staffAgain).toMatchObject({ status: 'completed', kind: 'delta', sent: 0 });
    // A row committed late, with a change value older than the cursor but within the overlap, is not missed.
    await query(
      source.url,
      `insert into people (id, given_name, family_name, email, department, status, updated_at) values
        ('E9', 'Katherine', 'Johnson', 'katherine@example.org', 'External', 'active', '2026-01-01 23:58:00+00')`,
    );
    const late = await finished(await requestRun(apps.people, 'delta'));
    expect(late).toMatchObject({ status: 'completed', kind: 'delta', sent: 3 });
    const katherine = await waitFor('the late row in the repository', async () => {
      const response = await app.inject({
        method: 'GET',
        url: `/v1/applications/${apps.people}/objects/E9`,
        headers: headers(),
      });
      return response.statusCode === 200
        ? response.json<{ attributes: Record<string, unknown> }>()
        : undefined;
    });
    expect(katherine.attributes).toMatchObject({ givenName: 'Katherine', department: 'External' });
    await query(source.url, "delete from people where id = 'E9'"); // the table as the next cases know it
  }, 90_000);

  it('says what works: the connection, the source query and its key, the target table and its columns', async () => {
    const people = createSqlConnector(planOf('people'), { secrets });
    const target = createSqlConnector(
      {
        ...planOf('maria-accounts'),
        sql: {
          ...planOf('maria-accounts').sql,
          dialect: 'mysql',
          connection: 'env:STAFF_DB_URL',
          target: { table: 'accounts', key: 'username', disabledColumn: 'locked' },
        },
      },
      { secrets },
    );
    try {
      const checks = await people.test();
      expect(checks.map((check) => [check.name, check.ok])).toEqual([
        ['sql settings', true],
        ['connection', true],
        ['source', true],
      ]);
      expect(checks[2]?.detail).toContain(
        'the query answers: 3 rows; key column employeeId found, change-tracking column updated_at found',
      );
      expect(checks.map((check) => check.detail).join('\n')).not.toContain(pgPassword);
      const targetChecks = await target.test();
      expect(targetChecks.at(-1)).toMatchObject({ ok: false, name: 'target' });
      expect(targetChecks.at(-1)?.detail).toContain('table accounts lacks columns locked, displayName');
    } finally {
      await people.close?.();
      await target.close?.();
    }
  });

  it('fails a write the database refuses for good (a constraint) without retrying, adopts a row whose key is taken, and retries one it cannot reach', async () => {
    const connector = createSqlConnector(planOf('pg-accounts'), { secrets });
    const unreachable = createSqlConnector(planOf('pg-accounts'), {
      secrets: () => `postgresql://joinery:${pgPassword}@127.0.0.1:1/nowhere`,
    });
    const operation = {
      tenantId: fixture.tenantId,
      exportId: '0193b3c0-0000-7000-8000-000000000001',
      applicationId: apps.pgAccounts,
      objectClass: 'account',
      identityId: '0193b3c0-0000-7000-8000-000000000002',
      operation: 'create' as const,
      attributes: { userName: 'zed@example.org', department: 'Unknown' },
      attempt: 0,
      at: new Date().toISOString(),
    };
    try {
      const refused = await connector.export(operation);
      expect(refused).toMatchObject({ status: 'failed', code: 'JNY_WRITEBACK_INVALID', retriable: false });
      const taken = await connector.export({ ...operation, attributes: { userName: 'ada@example.org' } });
      expect(taken).toMatchObject({ status: 'failed', code: 'JNY_WRITEBACK_CONFLICT', retriable: false });
      // A create whose key is taken adopts the row (an earlier try whose result was lost).
      const adopting = createSqlConnector(planOf('maria-accounts'), { secrets });
      try {
        const adopted = await adopting.export({
          ...operation,
          applicationId: apps.mariaAccounts,
          attributes: { userName: 'ada@example.org', displayName: 'Ada, Countess of Lovelace' },
        });
        expect(adopted).toEqual({ status: 'succeeded', externalId: 'ada@example.org' });
        const [ada] = await maria.query<{ display_name: string }[]>(
          "select display_name from accounts where username = 'ada@example.org'",
        );
        expect(ada?.display_name).toBe('Ada, Countess of Lovelace');
      } finally {
        await adopting.close?.();
      }
      const down = await unreachable.export(operation);
      expect(down).toMatchObject({ status: 'failed', code: 'JNY_UNAVAILABLE', retriable: true });
      expect(JSON.stringify(down)).not.toContain(pgPassword);
    } finally {
      await connector.close?.();
      await unreachable.close?.();
    }
  });

  it('never logs the connection secrets', () => {
    const all = logged.join('\n');
    expect(all).toContain('sync run read');
    expect(all).not.toContain(pgPassword);
    expect(all).not.toContain(mariaPassword);
  });

  function planOf(name: string): ApplicationPlan {
    const found = (parse(plan) as { applications: ApplicationPlan[] }).applications.find(
      (application) => application.name === name,
    );
    if (found === undefined) throw new Error(`no application ${name}`);
    return found;
  }
});
