// The SQL the SQL connector sends, built as text and parameters — pure, one place for both dialects. Values
// are always parameters; identifiers (tables, columns) were checked against a strict pattern when the plan
// was checked and are quoted here as well; a configured source query is wrapped as a derived table, so the
// paging, the change tracking and the key checks are added around it, never spliced into it.

export type SqlDialect = 'postgresql' | 'mysql';

/** A statement ready for the driver: `$1`… (PostgreSQL) or `?` (MySQL) placeholders, and their values. */
export interface SqlStatement {
  text: string;
  values: unknown[];
}

/** Where rows are read from: a configured query, or a table or view. */
export type SqlRelation = { query: string } | { table: string };

/** The source's alias in every statement the connector wraps around it. */
const alias = 'joinery_source';

export function quoteIdentifier(dialect: SqlDialect, name: string): string {
  return dialect === 'postgresql' ? `"${name.replaceAll('"', '""')}"` : `\`${name.replaceAll('`', '``')}\``;
}

/** `people` or `hr.people`, each part quoted. */
export function quoteTable(dialect: SqlDialect, table: string): string {
  return table
    .split('.')
    .map((part) => quoteIdentifier(dialect, part))
    .join('.');
}

/** Collects parameters in order and answers their placeholders. */
function parameters(dialect: SqlDialect) {
  const values: unknown[] = [];
  return {
    values,
    add(value: unknown): string {
      values.push(value);
      return dialect === 'postgresql' ? `$${String(values.length)}` : '?';
    },
  };
}

function from(dialect: SqlDialect, relation: SqlRelation): string {
  return 'table' in relation
    ? `${quoteTable(dialect, relation.table)} as ${alias}`
    : `(${relation.query}) as ${alias}`;
}

function column(dialect: SqlDialect, name: string): string {
  return `${alias}.${quoteIdentifier(dialect, name)}`;
}

/** The source as the connector reads it: its relation, its key column, its change-tracking column. */
export interface SqlSourceShape {
  relation: SqlRelation;
  key: string;
  changedColumn: string | null;
}

/**
 * One page of rows in a stable order: by key (a full read) or by change then key (a delta read, only rows
 * changed after `since`). `after` is the last row of the previous page (its order values): the page starts
 * at it, inclusive, because rows sharing it (a duplicated key) may not all have been read — the reader skips
 * the ones it has (`limit` includes them).
 */
export function pageStatement(
  dialect: SqlDialect,
  source: SqlSourceShape,
  options: { since: string | null; after: unknown[] | null; limit: number },
): SqlStatement {
  const p = parameters(dialect);
  const key = column(dialect, source.key);
  const conditions = [`${key} is not null`];
  const order = [key];
  if (options.since !== null) {
    if (source.changedColumn === null) throw new Error('a delta page needs a change-tracking column');
    const changed = column(dialect, source.changedColumn);
    conditions.push(`${changed} > ${p.add(options.since)}`);
    order.unshift(changed);
  }
  if (options.after !== null) {
    if (options.after.length !== order.length)
      throw new Error(
        `a page starts after ${String(order.length)} values, not ${String(options.after.length)}`,
      );
    const placeholders = options.after.map((value) => p.add(value));
    conditions.push(
      order.length === 1
        ? `${order[0] ?? key} >= ${placeholders[0] ?? ''}`
        : `(${order.join(', ')}) >= (${placeholders.join(', ')})`,
    );
  }
  return {
    text: `select * from ${from(dialect, source.relation)} where ${conditions.join(' and ')} order by ${order.join(', ')} limit ${String(Math.trunc(options.limit))}`,
    values: p.values,
  };
}

/** How many rows a read would leave out for having no key (null), counted before it starts. */
export function missingKeyStatement(
  dialect: SqlDialect,
  source: SqlSourceShape,
  since: string | null,
): SqlStatement {
  const p = parameters(dialect);
  const conditions = [`${column(dialect, source.key)} is null`];
  if (since !== null && source.changedColumn !== null)
    conditions.push(`${column(dialect, source.changedColumn)} > ${p.add(since)}`);
  return {
    text: `select count(*) as missing from ${from(dialect, source.relation)} where ${conditions.join(' and ')}`,
    values: p.values,
  };
}

/** The highest change-tracking value now: where the delta after a full read starts. */
export function latestChangeStatement(dialect: SqlDialect, source: SqlSourceShape): SqlStatement {
  if (source.changedColumn === null) throw new Error('no change-tracking column');
  return {
    text: `select max(${column(dialect, source.changedColumn)}) as latest from ${from(dialect, source.relation)}`,
    values: [],
  };
}

/** No rows, only the columns: what `joinery connector test` compares with the settings. */
export function columnsStatement(dialect: SqlDialect, relation: SqlRelation): SqlStatement {
  return { text: `select * from ${from(dialect, relation)} where 1 = 0`, values: [] };
}

export function countStatement(dialect: SqlDialect, relation: SqlRelation): SqlStatement {
  return { text: `select count(*) as total from ${from(dialect, relation)}`, values: [] };
}

/** Column → value, in the order written. */
export type SqlRow = [column: string, value: unknown][];

/** An insert; on PostgreSQL it returns the key (generated or given). */
export function insertStatement(dialect: SqlDialect, table: string, key: string, row: SqlRow): SqlStatement {
  const p = parameters(dialect);
  const target = quoteTable(dialect, table);
  const columns = row.map(([name]) => quoteIdentifier(dialect, name)).join(', ');
  const values = row.map(([, value]) => p.add(value)).join(', ');
  if (dialect === 'mysql')
    return { text: `insert into ${target} (${columns}) values (${values})`, values: p.values };
  const body = row.length === 0 ? 'default values' : `(${columns}) values (${values})`;
  return {
    text: `insert into ${target} ${body} returning ${quoteIdentifier(dialect, key)}`,
    values: p.values,
  };
}

/** Sets columns of the row whose key is `keyValue`; the caller sends none when `row` is empty. */
export function updateStatement(
  dialect: SqlDialect,
  table: string,
  key: string,
  keyValue: string,
  row: SqlRow,
): SqlStatement {
  if (row.length === 0) throw new Error('an update sets at least one column');
  const p = parameters(dialect);
  const assignments = row.map(([name, value]) => `${quoteIdentifier(dialect, name)} = ${p.add(value)}`);
  return {
    text: `update ${quoteTable(dialect, table)} set ${assignments.join(', ')} where ${quoteIdentifier(dialect, key)} = ${p.add(keyValue)}`,
    values: p.values,
  };
}

export function deleteStatement(
  dialect: SqlDialect,
  table: string,
  key: string,
  keyValue: string,
): SqlStatement {
  const p = parameters(dialect);
  return {
    text: `delete from ${quoteTable(dialect, table)} where ${quoteIdentifier(dialect, key)} = ${p.add(keyValue)}`,
    values: p.values,
  };
}
