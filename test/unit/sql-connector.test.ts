// The SQL connector's pure parts: the plan's sql settings checked (with the line of each problem), the
// statements built for both dialects (identifiers quoted, values as parameters, the source query wrapped),
// values read into their attributes' types and written back, driver errors classified as retriable or
// not, and the connection URL kept out of messages.
import { describe, expect, it } from 'vitest';
import { PlanInvalidError } from '../../kernel/errors.ts';
import {
  classifySqlError,
  connectionUrlProblem,
  maskConnectionUrl,
  redactConnection,
} from '../../src/connectors/sql/sql-client.ts';
import { resolveSqlSettings } from '../../src/connectors/sql/sql-settings.ts';
import {
  deleteStatement,
  insertStatement,
  latestChangeStatement,
  missingKeyStatement,
  pageStatement,
  quoteTable,
  updateStatement,
} from '../../src/connectors/sql/sql-statements.ts';
import {
  deltaStart,
  isoTimestamp,
  readKey,
  readRow,
  writeParameter,
} from '../../src/connectors/sql/sql-values.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';

const planWith = (sql: string[], attributes = '{ id: {}, name: {}, mail-address: { direction: out } }') =>
  [
    'version: 1',
    'vault:',
    '  attributes: { name: {} }',
    'applications:',
    '  - name: crm',
    '    type: sql',
    '    objectClasses:',
    `      user: { attributes: ${attributes} }`,
    '    sql:',
    ...sql.map((line) => `      ${line}`),
  ].join('\n');

function problemsOf(text: string): { line?: number; path: string; message: string }[] {
  try {
    loadPlan(text, 'plan.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(PlanInvalidError);
    return (error as PlanInvalidError).problems;
  }
  return [];
}

describe('sql settings', () => {
  it('accepts a source and a target, with defaults filled in', () => {
    const text = planWith([
      'dialect: mysql',
      'connection: env:CRM_URL',
      'source: { table: hr.people, key: id, changedColumn: modified }',
      'target: { table: accounts, key: id, columns: { mail-address: mail }, activeColumn: active }',
    ]);
    expect(problemsOf(text)).toEqual([]);
    const application = loadPlan(text, 'plan.yaml').plan.applications[0];
    if (application === undefined) throw new Error('no application');
    const settings = resolveSqlSettings(application);
    expect(settings).toMatchObject({
      dialect: 'mysql',
      objectClass: 'user',
      concurrency: 4,
      timeoutMs: 30_000,
      source: { relation: { table: 'hr.people' }, key: 'id', changedColumn: 'modified', pageSize: 500 },
      target: {
        table: 'accounts',
        key: 'id',
        status: { column: 'active', disabled: false },
        delete: 'delete',
      },
    });
    expect([...(settings.target?.columns ?? [])]).toEqual([
      ['id', 'id'],
      ['name', 'name'],
      ['mail-address', 'mail'],
    ]);
  });

  it('points at each setting that cannot work, on its line', () => {
    const text = planWith([
      'dialect: postgresql',
      'connection: env:CRM_URL',
      'source: { query: "select * from people where id = $1; drop table people", table: people, key: id, changedColumn: id }',
      'target: { table: accounts, key: id, disabledColumn: disabled, activeColumn: active, columns: { nope: x } }',
    ]);
    const problems = problemsOf(text);
    const line = (search: string) => text.slice(0, text.indexOf(search)).split('\n').length;
    expect(problems.map((problem) => [problem.path, problem.message])).toEqual(
      expect.arrayContaining([
        ['applications[0].sql.source', 'name exactly one of query and table'],
        [
          'applications[0].sql.source.query',
          expect.stringContaining('the query must be one statement, without ";"'),
        ],
        ['applications[0].sql.source.changedColumn', 'the change-tracking column cannot be the key column'],
        ['applications[0].sql.target', 'name at most one of disabledColumn and activeColumn'],
        [
          'applications[0].sql.target.columns',
          'attribute "mail-address" is not a column name: map it to its column in sql.target.columns',
        ],
        ['applications[0].sql.target.columns.nope', expect.stringContaining('"nope" is not an attribute')],
      ]),
    );
    expect(problems.find((problem) => problem.path.endsWith('source.query'))?.line).toBe(line('source:'));
  });

  it('takes changedOverlap with a change-tracking column, and refuses it without one or below 0', () => {
    const overlap = (source: string) =>
      planWith(['dialect: postgresql', 'connection: env:CRM_URL', `source: ${source}`]);
    const application = loadPlan(
      overlap('{ table: people, key: id, changedColumn: modified, changedOverlap: 60 }'),
      'plan.yaml',
    ).plan.applications[0];
    if (application === undefined) throw new Error('no application');
    expect(resolveSqlSettings(application).source).toMatchObject({ changedOverlap: 60 });
    expect(problemsOf(overlap('{ table: people, key: id, changedOverlap: 60 }'))).toEqual([
      {
        line: 12,
        path: 'applications[0].sql.source.changedOverlap',
        message:
          'changedOverlap is how far back a delta reads before the last change value, and there is no changedColumn: add changedColumn, or remove changedOverlap',
      },
    ]);
    expect(
      problemsOf(overlap('{ table: people, key: id, changedColumn: modified, changedOverlap: -1 }')).map(
        (problem) => [problem.path, problem.message],
      ),
    ).toEqual([['applications[0].sql.source.changedOverlap', expect.stringMatching(/must be >= 0/)]]);
  });

  it('refuses identifiers outside the strict pattern, placeholders, and soft deletes without a column', () => {
    expect(
      problemsOf(
        planWith([
          'dialect: postgresql',
          'connection: env:CRM_URL',
          'source: { table: "people; drop", key: id }',
        ]),
      ).map((problem) => problem.path),
    ).toEqual(['applications[0].sql.source.table']);
    expect(
      problemsOf(
        planWith([
          'dialect: mysql',
          'connection: env:CRM_URL',
          'source: { query: "select * from t where a = ?", key: id }',
        ]),
      ).map((problem) => problem.message),
    ).toEqual([expect.stringContaining('must not hold "?"')]);
    // A URL written in the plan is refused: the plan names the variable holding it.
    expect(
      problemsOf(
        planWith(['dialect: mysql', 'connection: postgresql://u:p@h/db', 'source: { table: t, key: id }']),
      ).map((problem) => problem.path),
    ).toEqual(['applications[0].sql.connection']);
    expect(
      problemsOf(
        planWith([
          'dialect: mysql',
          'connection: env:CRM_URL',
          'target: { table: t, key: id, delete: disable, columns: { mail-address: mail } }',
        ]),
      ).map((problem) => [problem.path, problem.message]),
    ).toEqual([
      [
        'applications[0].sql.target.delete',
        'delete: disable needs disabledColumn or activeColumn (the column that says a row is disabled)',
      ],
    ]);
  });

  it('says what to add when an application has no sql settings', () => {
    const application = loadPlan(
      [
        'version: 1',
        'vault: { attributes: { name: {} } }',
        'applications:',
        '  - { name: crm, type: sql, objectClasses: { user: { attributes: {} } } }',
      ].join('\n'),
      'plan.yaml',
    ).plan.applications[0];
    if (application === undefined) throw new Error('no application');
    expect(() => resolveSqlSettings(application)).toThrow(
      /has no sql settings: add sql: \{ dialect: postgresql/,
    );
  });
});

describe('sql statements', () => {
  const source = { relation: { query: 'select * from people' }, key: 'id', changedColumn: 'changed' };

  it('wraps the source query and pages it by key, then by change and key, with parameters only', () => {
    expect(pageStatement('postgresql', source, { since: null, after: null, limit: 100 })).toEqual({
      text: 'select * from (select * from people) as joinery_source where joinery_source."id" is not null order by joinery_source."id" limit 100',
      values: [],
    });
    expect(pageStatement('postgresql', source, { since: null, after: ["O'Brien"], limit: 101 })).toEqual({
      text: 'select * from (select * from people) as joinery_source where joinery_source."id" is not null and joinery_source."id" >= $1 order by joinery_source."id" limit 101',
      values: ["O'Brien"],
    });
    expect(
      pageStatement(
        'mysql',
        { ...source, relation: { table: 'hr.people' } },
        {
          since: '2026-01-01 00:00:00',
          after: ['2026-01-02 00:00:00', 7],
          limit: 10,
        },
      ),
    ).toEqual({
      text: 'select * from `hr`.`people` as joinery_source where joinery_source.`id` is not null and joinery_source.`changed` > ? and (joinery_source.`changed`, joinery_source.`id`) >= (?, ?) order by joinery_source.`changed`, joinery_source.`id` limit 10',
      values: ['2026-01-01 00:00:00', '2026-01-02 00:00:00', 7],
    });
    expect(missingKeyStatement('postgresql', source, '5')).toEqual({
      text: 'select count(*) as missing from (select * from people) as joinery_source where joinery_source."id" is null and joinery_source."changed" > $1',
      values: ['5'],
    });
    expect(latestChangeStatement('mysql', source).text).toBe(
      'select max(joinery_source.`changed`) as latest from (select * from people) as joinery_source',
    );
  });

  it('writes rows with quoted columns and parameters, returning the key on PostgreSQL', () => {
    expect(
      insertStatement('postgresql', 'accounts', 'id', [
        ['user_name', 'ada'],
        ['active', true],
      ]),
    ).toEqual({
      text: 'insert into "accounts" ("user_name", "active") values ($1, $2) returning "id"',
      values: ['ada', true],
    });
    expect(insertStatement('postgresql', 'accounts', 'id', []).text).toBe(
      'insert into "accounts" default values returning "id"',
    );
    expect(insertStatement('mysql', 'accounts', 'id', [['user_name', 'ada']])).toEqual({
      text: 'insert into `accounts` (`user_name`) values (?)',
      values: ['ada'],
    });
    expect(updateStatement('mysql', 'crm.accounts', 'id', '42', [['user_name', "x' or 1=1"]])).toEqual({
      text: 'update `crm`.`accounts` set `user_name` = ? where `id` = ?',
      values: ["x' or 1=1", '42'],
    });
    expect(deleteStatement('postgresql', 'accounts', 'id', '42')).toEqual({
      text: 'delete from "accounts" where "id" = $1',
      values: ['42'],
    });
    expect(quoteTable('postgresql', 'we"ird')).toBe('"we""ird"');
  });
});

describe('sql values', () => {
  const attributes = new Map([
    ['name', { type: 'string' as const, multiValued: false }],
    ['grade', { type: 'int' as const, multiValued: false }],
    ['active', { type: 'bool' as const, multiValued: false }],
    ['hired', { type: 'timestamp' as const, multiValued: false }],
    ['score', { type: 'double' as const, multiValued: false }],
    ['tags', { type: 'string' as const, multiValued: true }],
  ]);

  it('reads values as their attributes types, null as absent, columns matched ignoring case when need be', () => {
    expect(
      readRow(
        {
          name: 'Ada',
          grade: '7',
          active: 1,
          hired: '2026-12-06 14:00:00.123456+00',
          score: '2.5',
          tags: '["a","b"]',
          other: 'ignored',
        },
        attributes,
      ),
    ).toEqual({
      attributes: {
        name: 'Ada',
        grade: 7,
        active: true,
        hired: '2026-12-06T14:00:00.123Z',
        score: 2.5,
        tags: ['a', 'b'],
      },
    });
    expect(readRow({ NAME: 'Ada', grade: null, active: 'f', tags: ['x', null] }, attributes)).toEqual({
      attributes: { name: 'Ada', active: false, tags: ['x'] },
    });
  });

  it('says which column holds a value that is not of its type', () => {
    expect(readRow({ grade: '12345678901234567890' }, attributes)).toEqual({
      problem: 'column grade: "12345678901234567890" is not an integer (or too large for one)',
    });
    expect(readRow({ active: 'maybe' }, attributes)).toEqual({
      problem: 'column active: "maybe" is not a boolean',
    });
  });

  it('reads timestamps as SQL writes them, in UTC without an offset', () => {
    expect(isoTimestamp('2026-12-06 14:00:00')).toBe('2026-12-06T14:00:00.000Z');
    expect(isoTimestamp('2026-12-06')).toBe('2026-12-06T00:00:00.000Z');
    expect(isoTimestamp('2026-12-06 16:00:00.5+02')).toBe('2026-12-06T14:00:00.500Z');
    expect(isoTimestamp('2026-12-06T19:30:00+0530')).toBe('2026-12-06T14:00:00.000Z');
    expect(isoTimestamp('yesterday')).toBeNull();
  });

  it('starts a delta before its cursor by the overlap: seconds for a timestamp, values for a number', () => {
    // Timestamps as the drivers give them: the fraction and the offset kept, the wall clock moved back.
    expect(deltaStart('2026-01-02 00:00:00.000002+00', null)).toBe('2026-01-01 23:55:00.000002+00');
    expect(deltaStart('2026-01-02 00:04:30', 60)).toBe('2026-01-02 00:03:30');
    expect(deltaStart('2026-03-01 00:00:10.5+0530', 20)).toBe('2026-02-28 23:59:50.5+0530');
    expect(deltaStart('2026-01-02', 86_400)).toBe('2026-01-01 00:00:00');
    expect(deltaStart('2026-01-02 00:00:00', 0)).toBe('2026-01-02 00:00:00');
    // Numbers: none by default; a version beyond 2^53 stays exact.
    expect(deltaStart('42', null)).toBe('42');
    expect(deltaStart('42', 5)).toBe('37');
    expect(deltaStart('9007199254740993', 1)).toBe('9007199254740992');
    expect(deltaStart('10.5', 2)).toBe('8.5');
    // Anything else (a text column) is read from as it is.
    expect(deltaStart('v-0042', 10)).toBe('v-0042');
  });

  it('makes a key an external id, refusing what cannot be one', () => {
    expect(readKey(42)).toEqual({ value: '42' });
    expect(readKey('E1')).toEqual({ value: 'E1' });
    expect(readKey(null)).toEqual({ problem: 'the key is null' });
    expect(readKey('')).toEqual({ problem: 'the key is empty' });
    expect(readKey({ a: 1 })).toEqual({ problem: 'the key [object Object] is neither text nor a number' });
  });

  it('writes values as each dialect takes them', () => {
    expect(writeParameter('postgresql', ['a', 'b'], 'string')).toEqual(['a', 'b']);
    expect(writeParameter('mysql', ['a', 'b'], 'string')).toBe('["a","b"]');
    expect(writeParameter('mysql', true, 'bool')).toBe(1);
    expect(writeParameter('mysql', '2026-12-06T14:00:00.000Z', 'timestamp')).toBe('2026-12-06 14:00:00.000');
    expect(writeParameter('postgresql', '2026-12-06T14:00:00.000Z', 'timestamp')).toBe(
      '2026-12-06T14:00:00.000Z',
    );
    expect(writeParameter('postgresql', null, 'string')).toBeNull();
  });
});

describe('sql errors and secrets', () => {
  it('retries what may pass (connection, deadlock, timeout, login) and not what would fail again', () => {
    const classify = (error: object) => {
      const { code, retriable } = classifySqlError(error);
      return [code, retriable];
    };
    expect(classify({ code: 'ECONNREFUSED' })).toEqual(['JNY_UNAVAILABLE', true]);
    expect(classify({ code: '40P01' })).toEqual(['JNY_UNAVAILABLE', true]);
    expect(classify({ code: '57014' })).toEqual(['JNY_UNAVAILABLE', true]);
    expect(classify({ code: 'ER_LOCK_DEADLOCK', errno: 1213, sqlState: '40001' })).toEqual([
      'JNY_UNAVAILABLE',
      true,
    ]);
    expect(classify({ code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205, sqlState: 'HY000' })).toEqual([
      'JNY_UNAVAILABLE',
      true,
    ]);
    expect(classify({ code: '28P01' })).toEqual(['JNY_UNAUTHENTICATED', true]);
    expect(classify({ code: '23505' })).toEqual(['JNY_WRITEBACK_CONFLICT', false]);
    expect(classify({ code: 'ER_DUP_ENTRY', errno: 1062, sqlState: '23000' })).toEqual([
      'JNY_WRITEBACK_CONFLICT',
      false,
    ]);
    expect(classify({ code: '23502' })).toEqual(['JNY_WRITEBACK_INVALID', false]);
    expect(classify({ code: 'ER_BAD_NULL_ERROR', errno: 1048, sqlState: '23000' })).toEqual([
      'JNY_WRITEBACK_INVALID',
      false,
    ]);
    expect(classify({ code: '42501' })).toEqual(['JNY_FORBIDDEN', false]);
    expect(classify({ code: '42P01' })).toEqual(['JNY_WRITEBACK_INVALID', false]);
    expect(classify(new Error('Connection terminated unexpectedly'))).toEqual(['JNY_UNAVAILABLE', true]);
  });

  it('masks the password of a connection URL and removes it from messages, never echoing a bad URL', () => {
    const url = 'postgresql://joinery:s%40cret@db.example.org:5432/hr?sslmode=require';
    expect(maskConnectionUrl(url)).toBe('postgresql://joinery:***@db.example.org:5432/hr');
    expect(redactConnection(`could not use ${url}: password s@cret refused (s%40cret)`, url)).toBe(
      'could not use postgresql://joinery:***@db.example.org:5432/hr: password *** refused (***)',
    );
    expect(maskConnectionUrl('not a url with secret')).toBe('(not a URL)');
    expect(connectionUrlProblem('secret-text', 'postgresql')).not.toContain('secret');
    expect(connectionUrlProblem('mysql://u:p@h/db', 'postgresql')).toContain(
      'needs postgres:// or postgresql://',
    );
    expect(connectionUrlProblem('mariadb://u:p@h/db', 'mysql')).toBeNull();
  });
});
