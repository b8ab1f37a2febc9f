// The SQL connector's connection: one pool per connector over `pg` (PostgreSQL) or `mysql2` (MySQL and
// MariaDB), both driven the same way — a statement in, rows and counts out. Sessions run in UTC, timestamps
// come back as the database wrote them (exact change-tracking cursors), every statement has a time limit.
// A driver's error leaves here as a SqlError: a message with the connection URL and its password masked,
// a Joinery code, and whether trying again can help.
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { SqlDialect, SqlStatement } from './sql-statements.ts';

export interface SqlResult {
  rows: Record<string, unknown>[];
  /** The result's columns, in order (also when no row came back). */
  columns: string[];
  /** Rows inserted, updated or deleted (on MySQL: matched, not only changed). */
  affected: number;
  /** MySQL: the auto_increment value an insert generated (0 when none). */
  insertId: number | string | null;
}

export interface SqlClient {
  readonly dialect: SqlDialect;
  /** Where it connects, password masked: safe to show and log. */
  readonly describe: string;
  query(statement: SqlStatement): Promise<SqlResult>;
  close(): Promise<void>;
}

/** What the connector tells of a failed statement: its code and retriability decide the export's result. */
export class SqlError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  constructor(code: string, message: string, retriable: boolean) {
    super(message);
    this.name = 'SqlError';
    this.code = code;
    this.retriable = retriable;
  }
}

const protocols: Record<SqlDialect, string[]> = {
  postgresql: ['postgres:', 'postgresql:'],
  mysql: ['mysql:', 'mariadb:'],
};

/** The URL with its password masked, or a placeholder when it is no URL (never the text itself). */
export function maskConnectionUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return '(not a URL)';
  }
  if (url.password !== '') url.password = '***';
  url.search = '';
  return url.toString();
}

/** Removes the URL and its password from a message a driver wrote. */
export function redactConnection(message: string, connection: string): string {
  let redacted = message.replaceAll(connection, maskConnectionUrl(connection));
  const password = URL.canParse(connection) ? new URL(connection).password : '';
  for (const secret of new Set([password, safeDecode(password)]))
    if (secret.length > 0) redacted = redacted.replaceAll(secret, '***');
  return redacted;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Why this URL cannot reach a database of the dialect; null when it can. Never echoes the URL. */
export function connectionUrlProblem(text: string, dialect: SqlDialect): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a URL (write it as postgresql://user:password@host:5432/database or mysql://user:password@host:3306/database)';
  }
  if (!protocols[dialect].includes(url.protocol))
    return `starts with ${url.protocol}// where dialect ${dialect} needs ${protocols[dialect].map((p) => `${p}//`).join(' or ')}`;
  if (url.hostname === '') return 'names no host';
  return null;
}

// Network failures: the database may be back on the next try.
const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
]);
// MySQL's error numbers where another try can succeed: lock wait timeout, deadlock, too many connections,
// server shutting down, the client's connection errors.
const transientMysqlErrors = new Set([1205, 1213, 1040, 1053, 2002, 2003, 2006, 2013]);

/**
 * A driver's error as a code and whether it is retriable — pure. Connection trouble, deadlocks, lock and
 * statement timeouts, a server shutting down: retriable. Constraint violations (unique, not null, foreign
 * key, check), bad data, unknown tables or columns, missing privileges: not retriable — the same statement
 * would fail again; a refused login is retriable (an administrator may fix the secret meanwhile).
 */
export function classifySqlError(error: unknown): { code: string; retriable: boolean; what: string } {
  const candidate = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown;
    errno?: unknown;
    sqlState?: unknown;
    message?: unknown;
  };
  const message = typeof candidate.message === 'string' ? candidate.message : '';
  const code = typeof candidate.code === 'string' ? candidate.code : '';
  const errno = typeof candidate.errno === 'number' ? candidate.errno : null;
  // pg puts the SQLSTATE in `code`; mysql2 in `sqlState` (its `code` is a name such as ER_DUP_ENTRY).
  const sqlState =
    typeof candidate.sqlState === 'string' ? candidate.sqlState : /^[0-9A-Z]{5}$/.test(code) ? code : '';
  if (
    networkCodes.has(code) ||
    /Connection terminated|timeout exceeded when trying to connect|Query read timeout|connect ETIMEDOUT/i.test(
      message,
    )
  )
    return { code: 'JNY_UNAVAILABLE', retriable: true, what: 'the database cannot be reached' };
  if (sqlState.startsWith('28') || errno === 1045)
    return { code: 'JNY_UNAUTHENTICATED', retriable: true, what: 'the database refused the login' };
  if (
    errno !== null
      ? transientMysqlErrors.has(errno)
      : /^(08|53|40001|40P01|57P0[123]|57014|55P03)/.test(sqlState)
  )
    return { code: 'JNY_UNAVAILABLE', retriable: true, what: 'the database could not do it now' };
  if (sqlState.startsWith('08') || sqlState === '40001')
    return { code: 'JNY_UNAVAILABLE', retriable: true, what: 'the database could not do it now' };
  if (sqlState === '23505' || errno === 1062)
    return { code: 'JNY_WRITEBACK_CONFLICT', retriable: false, what: 'a row with this unique value exists' };
  if (sqlState.startsWith('23') || sqlState.startsWith('22'))
    return { code: 'JNY_WRITEBACK_INVALID', retriable: false, what: 'the database refused the values' };
  if (sqlState === '42501' || errno === 1142 || errno === 1143 || errno === 1044)
    return { code: 'JNY_FORBIDDEN', retriable: false, what: 'the database user may not do this' };
  if (sqlState.startsWith('42'))
    return {
      code: 'JNY_WRITEBACK_INVALID',
      retriable: false,
      what: 'the statement names what the database lacks',
    };
  return { code: 'JNY_WRITEBACK_FAILED', retriable: false, what: 'the statement failed' };
}

function sqlError(error: unknown, connection: string): SqlError {
  if (error instanceof SqlError) return error;
  const { code, retriable } = classifySqlError(error);
  const candidate = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown;
    sqlState?: unknown;
  };
  const driverCode =
    typeof candidate.sqlState === 'string'
      ? ` (${String(candidate.code)}, SQLSTATE ${candidate.sqlState})`
      : typeof candidate.code === 'string'
        ? ` (${candidate.code})`
        : '';
  const message = error instanceof Error ? error.message : String(error);
  return new SqlError(code, redactConnection(`${message}${driverCode}`, connection), retriable);
}

// PostgreSQL's date, timestamp and timestamptz as the text it sends: exact (microseconds), so a change
// cursor read back compares equal; the connector turns them into ISO strings itself.
function textTimestamps(): pg.TypeOverrides {
  const types = new pg.TypeOverrides();
  for (const oid of [1082, 1114, 1184]) types.setTypeParser(oid, 'text', (value: string) => value);
  return types;
}

export function createSqlClient(options: {
  dialect: SqlDialect;
  /** The connection URL (a secret). */
  connection: string;
  poolSize: number;
  timeoutMs: number;
}): SqlClient {
  const { dialect, connection, timeoutMs } = options;
  const problem = connectionUrlProblem(connection, dialect);
  if (problem !== null) throw new SqlError('JNY_CONFIG_INVALID', `the connection URL ${problem}`, false);
  const describe = maskConnectionUrl(connection);
  if (dialect === 'postgresql') {
    const pool = new pg.Pool({
      connectionString: connection,
      max: options.poolSize,
      connectionTimeoutMillis: timeoutMs,
      statement_timeout: timeoutMs,
      idleTimeoutMillis: 30_000,
      application_name: 'joinery',
      options: '-c TimeZone=UTC',
      types: textTimestamps(),
    });
    // An idle connection the server closed: the pool drops it and the next statement opens another.
    pool.on('error', () => undefined);
    return {
      dialect,
      describe,
      async query(statement) {
        try {
          const result = await pool.query({ text: statement.text, values: statement.values });
          return {
            rows: result.rows as Record<string, unknown>[],
            columns: result.fields.map((field) => field.name),
            affected: result.rowCount ?? 0,
            insertId: null,
          };
        } catch (error) {
          throw sqlError(error, connection);
        }
      },
      close: () => pool.end(),
    };
  }
  const url = new URL(connection);
  url.protocol = 'mysql:';
  const pool = mysql.createPool({
    uri: url.toString(),
    connectionLimit: options.poolSize,
    connectTimeout: timeoutMs,
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    timezone: 'Z',
    multipleStatements: false,
    enableKeepAlive: true,
    // The server may never make the engine send it a local file (LOAD DATA LOCAL INFILE).
    flags: ['-LOCAL_FILES'],
  });
  // Each new connection's session in UTC, before its first statement (they run in order on it): TIMESTAMP
  // columns read as UTC, like PostgreSQL's sessions here.
  pool.on('connection', (connection) => {
    const done: unknown = connection.query("set time_zone = '+00:00'");
    if (done instanceof Promise) done.catch(() => undefined);
  });
  return {
    dialect,
    describe,
    async query(statement) {
      try {
        // execute: a prepared statement, the values sent apart from the text.
        const [result, fields] = await pool.execute({
          sql: statement.text,
          values: statement.values,
          timeout: timeoutMs,
        });
        if (Array.isArray(result))
          return {
            rows: result as Record<string, unknown>[],
            columns: fields.map((field) => field.name),
            affected: 0,
            insertId: null,
          };
        const header = result as mysql.ResultSetHeader;
        return { rows: [], columns: [], affected: header.affectedRows, insertId: header.insertId };
      } catch (error) {
        throw sqlError(error, connection);
      }
    },
    close: () => pool.end(),
  };
}
