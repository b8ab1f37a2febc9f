// The SQL connector (type: sql): a PostgreSQL or MySQL/MariaDB table, view or query as a source — read page
// by page in key order, in full, or only the rows whose change-tracking column grew since the last run — and
// a table as a target: create inserts a row, update sets the changed columns by key, delete deletes it (or
// disables it), enable and disable set a configured column. Settings: src/connectors/sql/sql-settings.ts.
import { ConfigError, describeError } from '../../../kernel/errors.ts';
import type { ExportInstruction, ExportResult } from '../../engine/export-queue.ts';
import type { ApplicationPlan } from '../../plan/plan.schema.ts';
import { connectorCapabilities } from '../connector.ts';
import type {
  ConnectorCheck,
  ConnectorContext,
  ConnectorImport,
  ImportedObject,
  InEngineConnector,
} from '../in-engine-connector.ts';
import { connectionUrlProblem, createSqlClient, SqlError, type SqlClient } from './sql-client.ts';
import { resolveSqlSettings, type ResolvedSqlSettings, type ResolvedSqlTarget } from './sql-settings.ts';
import {
  columnsStatement,
  countStatement,
  deleteStatement,
  insertStatement,
  latestChangeStatement,
  missingKeyStatement,
  pageStatement,
  updateStatement,
  type SqlRow,
  type SqlSourceShape,
} from './sql-statements.ts';
import { deltaStart, readKey, readRow, writeParameter } from './sql-values.ts';

/** Rejected rows listed on a run (the count covers them all). */
const LISTED_REJECTIONS = 100;

export function createSqlConnector(
  application: ApplicationPlan,
  context: ConnectorContext,
): InEngineConnector {
  const settings = resolveSqlSettings(application);
  const connection = context.secrets(settings.connection);
  const problem = connectionUrlProblem(connection, settings.dialect);
  if (problem !== null)
    throw new ConfigError(`sql.connection: the URL in ${settings.connection} ${problem}`, {
      details: { reference: settings.connection },
    });
  const client = createSqlClient({
    dialect: settings.dialect,
    connection,
    poolSize: settings.concurrency + 1,
    timeoutMs: settings.timeoutMs,
  });
  const capabilities = connectorCapabilities.sql;
  return {
    capabilities: {
      ...capabilities,
      imports: { full: settings.source !== null, delta: settings.source?.changedColumn != null },
      exports: settings.target === null ? [] : capabilities.exports,
    },
    concurrency: settings.concurrency,
    test: () => testConnection(client, settings),
    import: (request) => readRows(client, settings, application.name, request),
    async export(operation) {
      try {
        return await writeRow(client, settings, application.name, operation);
      } catch (error) {
        return failure(error);
      }
    },
    close: () => client.close(),
  };
}

function failure(error: unknown): ExportResult {
  if (error instanceof SqlError)
    return { status: 'failed', code: error.code, message: error.message, retriable: error.retriable };
  return { status: 'failed', code: 'JNY_WRITEBACK_FAILED', message: describeError(error), retriable: false };
}

const refused = (code: string, message: string): ExportResult => ({
  status: 'failed',
  code,
  message,
  retriable: false,
});

/** A cursor or key value as text (what import_run keeps, what the next statement is given). */
function asText(value: unknown): string {
  return value instanceof Date ? value.toISOString() : String(value);
}

async function readRows(
  client: SqlClient,
  settings: ResolvedSqlSettings,
  applicationName: string,
  request: { mode: 'full' | 'delta'; cursor: string | null; signal?: AbortSignal },
): Promise<ConnectorImport> {
  const source = settings.source;
  if (source === null)
    throw new Error(
      `application ${applicationName} has no sql.source: it is only written to; add sql.source (a query or table and its key) to import it`,
    );
  const { dialect } = client;
  const shape: SqlSourceShape = {
    relation: source.relation,
    key: source.key,
    changedColumn: source.changedColumn,
  };
  const since = request.mode === 'delta' && source.changedColumn !== null ? request.cursor : null;
  // A delta reads again from a little before the cursor (changedOverlap): a row committed late with an older
  // change value is not missed; the rows read again unchanged stop at the Import stage's content hash. The
  // cursor itself only moves on with the rows read, so an empty delta never moves it back.
  const readFrom = since === null ? null : deltaStart(since, source.changedOverlap);
  let cursor = since;
  // Where the next delta starts after a full read: the highest change value before reading (a row changed
  // while reading is read again by that delta, never missed).
  if (since === null && source.changedColumn !== null) {
    const latest = (await client.query(latestChangeStatement(dialect, shape))).rows[0]?.latest;
    cursor = latest === null || latest === undefined ? null : asText(latest);
  }
  const rejected = { count: 0, first: [] as { line: number; reason: string }[] };
  const reject = (line: number, reason: string, rows = 1) => {
    rejected.count += rows;
    if (rejected.first.length < LISTED_REJECTIONS) rejected.first.push({ line, reason });
  };
  const missing = Number(
    (await client.query(missingKeyStatement(dialect, shape, readFrom))).rows[0]?.missing ?? 0,
  );
  if (missing > 0)
    reject(0, `${String(missing)} rows have no key (column ${source.key} is null): not imported`, missing);

  const orderOf = (row: Record<string, unknown>) =>
    since === null ? [row[source.key]] : [row[source.changedColumn ?? ''], row[source.key]];
  const same = (a: unknown[], b: unknown[]) => a.every((value, i) => asText(value) === asText(b[i]));

  const pages = async function* (): AsyncGenerator<ImportedObject[]> {
    // Keyset paging: each page starts at the last row read (inclusive) and skips the rows already read
    // there, so a key on several rows is seen, reported, and never makes a page boundary lose a row.
    let last: unknown[] | null = null;
    let readAtLast = 0;
    let line = 0;
    for (;;) {
      if (request.signal?.aborted === true) throw new Error('the import was stopped');
      const limit = source.pageSize + readAtLast;
      const { rows } = await client.query(
        pageStatement(dialect, shape, { since: readFrom, after: last, limit }),
      );
      const objects: ImportedObject[] = [];
      let skipped = 0;
      for (const row of rows) {
        const order = orderOf(row);
        if (last !== null && same(order, last)) {
          if (skipped < readAtLast) {
            skipped++;
            continue;
          }
          readAtLast++;
          line++;
          reject(
            line,
            `key ${asText(row[source.key])} is on more than one row: only the first read is imported`,
          );
          continue;
        }
        last = order;
        readAtLast = 1;
        line++;
        if (since !== null) cursor = asText(row[source.changedColumn ?? '']);
        const key = readKey(row[source.key]);
        if ('problem' in key) {
          reject(line, key.problem);
          continue;
        }
        const read = readRow(row, settings.attributes);
        if ('problem' in read) {
          reject(line, `row with key ${key.value}: ${read.problem}`);
          continue;
        }
        objects.push({
          objectClass: settings.objectClass,
          externalId: key.value,
          attributes: read.attributes,
        });
      }
      if (objects.length > 0) yield objects;
      if (rows.length < limit) return;
    }
  };
  return {
    mode: since === null ? 'full' : 'delta',
    pages: pages(),
    cursor: () => cursor,
    rejected: () => rejected,
  };
}

/** The export's attributes as columns; an attribute without a column refuses the operation. */
function toRow(
  settings: ResolvedSqlSettings,
  target: ResolvedSqlTarget,
  operation: ExportInstruction,
): SqlRow | { problem: string } {
  const row: SqlRow = [];
  for (const [attribute, value] of Object.entries(operation.attributes ?? {})) {
    // A rename (dn) means nothing to a table.
    if (attribute === 'dn' && !target.columns.has('dn')) continue;
    const column = target.columns.get(attribute);
    if (column === undefined)
      return {
        problem: `attribute ${attribute} has no column in ${target.table}: map it in sql.target.columns`,
      };
    row.push([
      column,
      writeParameter(settings.dialect, value, settings.attributes.get(attribute)?.type ?? 'string'),
    ]);
  }
  return row;
}

async function writeRow(
  sql: SqlClient,
  settings: ResolvedSqlSettings,
  applicationName: string,
  operation: ExportInstruction,
): Promise<ExportResult> {
  const target = settings.target;
  if (target === null)
    return refused(
      'JNY_WRITEBACK_UNSUPPORTED',
      `application ${applicationName} has no sql.target: nothing is written to it (add sql.target, or remove its outbound mappers)`,
    );
  const { dialect } = sql;
  if (operation.operation === 'password')
    return refused(
      'JNY_WRITEBACK_UNSUPPORTED',
      'the SQL connector does not write passwords (export.passwords)',
    );
  const row = toRow(settings, target, operation);
  if ('problem' in row) return refused('JNY_WRITEBACK_INVALID', row.problem);

  if (operation.operation === 'create') {
    const given = row.find(([column]) => column === target.key)?.[1];
    try {
      const result = await sql.query(insertStatement(dialect, target.table, target.key, row));
      const key =
        dialect === 'postgresql'
          ? result.rows[0]?.[target.key]
          : (given ?? (result.insertId === 0 ? null : result.insertId));
      if (key === null || key === undefined)
        return refused(
          'JNY_WRITEBACK_INVALID',
          `the row was inserted into ${target.table} without a key: map an attribute to column ${target.key}, or let the database generate it (auto_increment)`,
        );
      return { status: 'succeeded', externalId: asText(key) };
    } catch (error) {
      // The key is taken: the row is there already (an earlier try whose result was lost, or made by someone
      // else) and is adopted — its columns written.
      if (
        error instanceof SqlError &&
        error.code === 'JNY_WRITEBACK_CONFLICT' &&
        given !== null &&
        given !== undefined
      ) {
        const rest = row.filter(([column]) => column !== target.key);
        const adopted =
          rest.length === 0 ||
          (await sql.query(updateStatement(dialect, target.table, target.key, asText(given), rest)))
            .affected === 1;
        if (adopted) return { status: 'succeeded', externalId: asText(given) };
      }
      throw error;
    }
  }
  const keyValue = operation.externalId;
  if (keyValue === undefined)
    return refused('JNY_WRITEBACK_INVALID', `a ${operation.operation} without the row's key (external id)`);
  const notFound = () =>
    refused('JNY_WRITEBACK_NOT_FOUND', `no row of ${target.table} has ${target.key} = ${keyValue}`);
  const setStatus = async (disabled: boolean): Promise<ExportResult> => {
    if (target.status === null)
      return refused(
        'JNY_WRITEBACK_UNSUPPORTED',
        `application ${applicationName} names no sql.target.disabledColumn or activeColumn: rows cannot be enabled or disabled (name one, or set export.deprovision: delete or keep)`,
      );
    const value = writeParameter(dialect, disabled === target.status.disabled, 'bool');
    const { affected } = await sql.query(
      updateStatement(dialect, target.table, target.key, keyValue, [[target.status.column, value]]),
    );
    return affected === 0 ? notFound() : { status: 'succeeded', externalId: keyValue };
  };
  switch (operation.operation) {
    case 'update': {
      if (row.length === 0) return { status: 'succeeded', externalId: keyValue };
      const { affected } = await sql.query(updateStatement(dialect, target.table, target.key, keyValue, row));
      if (affected === 0) return notFound();
      // The key column written: the row is known by its new key from now on.
      const renamed = row.find(([column]) => column === target.key)?.[1];
      return {
        status: 'succeeded',
        externalId: renamed === null || renamed === undefined ? keyValue : asText(renamed),
      };
    }
    case 'enable':
      return setStatus(false);
    case 'disable':
      return setStatus(true);
    case 'delete': {
      if (target.delete === 'disable') return setStatus(true);
      // Already gone is what a delete wants.
      await sql.query(deleteStatement(dialect, target.table, target.key, keyValue));
      return { status: 'succeeded', externalId: keyValue };
    }
  }
}

async function testConnection(client: SqlClient, settings: ResolvedSqlSettings): Promise<ConnectorCheck[]> {
  const { dialect } = client;
  const { source, target } = settings;
  const checks: ConnectorCheck[] = [
    {
      ok: true,
      name: 'sql settings',
      detail: [
        `${dialect} at ${client.describe} (secret ${settings.connection} found)`,
        source === null
          ? 'not imported'
          : `imports ${'table' in source.relation ? `table ${source.relation.table}` : 'the query'} by key ${source.key}, ${source.changedColumn === null ? 'full runs only' : `deltas by ${source.changedColumn}`}`,
        target === null
          ? 'not written'
          : `writes table ${target.table} by key ${target.key}, delete by ${target.delete}, ${target.status === null ? 'no enable/disable column' : `enable/disable by ${target.status.column}`}`,
      ].join('; '),
    },
  ];
  try {
    const version = (await client.query({ text: 'select version() as version', values: [] })).rows[0]
      ?.version;
    checks.push({
      ok: true,
      name: 'connection',
      detail: `connected: ${String(version).split(' on ')[0] ?? ''}`,
    });
  } catch (error) {
    checks.push({ ok: false, name: 'connection', detail: describeError(error) });
    return checks;
  }
  if (source !== null) checks.push(await sourceCheck(client, settings, source));
  if (target !== null) checks.push(await targetCheck(client, settings, target));
  return checks;
}

async function sourceCheck(
  client: SqlClient,
  settings: ResolvedSqlSettings,
  source: NonNullable<ResolvedSqlSettings['source']>,
): Promise<ConnectorCheck> {
  try {
    const { columns } = await client.query(columnsStatement(client.dialect, source.relation));
    const total = (await client.query(countStatement(client.dialect, source.relation))).rows[0]?.total;
    const lower = new Set(columns.map((column) => column.toLowerCase()));
    const missing = [source.key, ...(source.changedColumn === null ? [] : [source.changedColumn])].filter(
      (column) => !columns.includes(column),
    );
    const attributes = [...settings.attributes.keys()];
    const read = attributes.filter((attribute) => lower.has(attribute.toLowerCase()));
    const absent = attributes.filter((attribute) => !lower.has(attribute.toLowerCase()));
    return {
      ok: missing.length === 0,
      name: 'source',
      detail: [
        `the ${'table' in source.relation ? 'table' : 'query'} answers: ${String(total)} rows`,
        missing.length === 0
          ? `key column ${source.key} found${source.changedColumn === null ? '' : `, change-tracking column ${source.changedColumn} found`}`
          : `missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (columns: ${columns.join(', ')})`,
        `attributes read: ${read.join(', ') || 'none'}`,
        ...(absent.length === 0 ? [] : [`declared but not among its columns: ${absent.join(', ')}`]),
      ].join('; '),
    };
  } catch (error) {
    return { ok: false, name: 'source', detail: describeError(error) };
  }
}

async function targetCheck(
  client: SqlClient,
  settings: ResolvedSqlSettings,
  target: ResolvedSqlTarget,
): Promise<ConnectorCheck> {
  try {
    const { columns } = await client.query(columnsStatement(client.dialect, { table: target.table }));
    const needed = new Set([
      target.key,
      ...(target.status === null ? [] : [target.status.column]),
      ...target.written,
    ]);
    // MySQL's column names ignore case; PostgreSQL's quoted ones do not.
    const has = (column: string) =>
      client.dialect === 'mysql'
        ? columns.some((candidate) => candidate.toLowerCase() === column.toLowerCase())
        : columns.includes(column);
    const missing = [...needed].filter((column) => !has(column));
    return {
      ok: missing.length === 0,
      name: 'target',
      detail:
        missing.length === 0
          ? `table ${target.table} has the key column ${target.key} and every column written (${target.written.join(', ')}) for object class ${settings.objectClass}`
          : `table ${target.table} lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (it has ${columns.join(', ')}): map the attributes to its columns in sql.target.columns`,
    };
  } catch (error) {
    return { ok: false, name: 'target', detail: describeError(error) };
  }
}
