// What a plan's `sql` settings must say beyond their schema, checked with the rest of the plan
// (src/plan/check-plan.ts), and the settings with their defaults as the SQL connector uses them.
import type { ApplicationPlan, SqlSettings } from '../../plan/plan.schema.ts';
import type { SqlDialect, SqlRelation } from './sql-statements.ts';
import type { SqlAttribute } from './sql-values.ts';

export interface SqlSettingsProblem {
  /** Below the application's `sql` (e.g. ['source', 'query']). */
  path: (string | number)[];
  message: string;
}

export interface ResolvedSqlSource {
  relation: SqlRelation;
  key: string;
  changedColumn: string | null;
  /** changedOverlap as given; null: the default for the column's kind (sql-values.ts, deltaStart). */
  changedOverlap: number | null;
  pageSize: number;
}

export interface ResolvedSqlTarget {
  table: string;
  key: string;
  /** Attribute → column, for every attribute of the class that can be written. */
  columns: Map<string, string>;
  /** The columns of the attributes Joinery writes (direction out or both): `joinery connector test` looks for them. */
  written: string[];
  /** How enable and disable are written: the column, and the value that means disabled. */
  status: { column: string; disabled: boolean } | null;
  delete: 'delete' | 'disable';
}

/** The settings as the connector uses them: every default filled in. */
export interface ResolvedSqlSettings {
  dialect: SqlDialect;
  /** The secret reference (env:NAME), resolved when the connector is built. */
  connection: string;
  objectClass: string;
  attributes: Map<string, SqlAttribute>;
  timeoutMs: number;
  concurrency: number;
  source: ResolvedSqlSource | null;
  target: ResolvedSqlTarget | null;
}

const identifier = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** The class rows are read as and written from: the one named, else export.objectClass, else the first user class. */
function sqlObjectClass(application: ApplicationPlan): string | undefined {
  const named = application.sql?.objectClass ?? application.export?.objectClass;
  if (named !== undefined) return named;
  return Object.entries(application.objectClasses).find(([, spec]) => (spec.kind ?? 'user') === 'user')?.[0];
}

/** Why a configured query cannot be wrapped safely; null when it can. */
function queryProblem(query: string, dialect: SqlDialect): string | null {
  if (!/^\s*(select|with)\b/i.test(query)) return 'the query must be one SELECT (or WITH … SELECT)';
  if (query.includes(';'))
    return 'the query must be one statement, without ";" (not even inside a string: compare with a column instead)';
  if (dialect === 'postgresql' && /\$\d/.test(query))
    return 'the query must not hold placeholders ($1…): the connector adds its own';
  if (dialect === 'mysql' && query.includes('?'))
    return 'the query must not hold "?" (a placeholder to MySQL): the connector adds its own';
  return null;
}

function columnsOf(
  application: ApplicationPlan,
  objectClass: string,
  settings: SqlSettings,
): { columns: Map<string, string>; problems: SqlSettingsProblem[] } {
  const spec = application.objectClasses[objectClass];
  const problems: SqlSettingsProblem[] = [];
  const columns = new Map<string, string>();
  const mapped = settings.target?.columns ?? {};
  for (const [attribute, attributeSpec] of Object.entries(spec?.attributes ?? {})) {
    const column = mapped[attribute] ?? attribute;
    if (identifier.test(column)) columns.set(attribute, column);
    else if ((attributeSpec.direction ?? 'in') !== 'in')
      problems.push({
        path: ['target', 'columns'],
        message: `attribute "${attribute}" is not a column name: map it to its column in sql.target.columns`,
      });
  }
  for (const attribute of Object.keys(mapped))
    if (spec !== undefined && !Object.hasOwn(spec.attributes, attribute))
      problems.push({
        path: ['target', 'columns', attribute],
        message: `"${attribute}" is not an attribute of object class ${objectClass} (known: ${Object.keys(spec.attributes).join(', ')})`,
      });
  return { columns, problems };
}

export function sqlSettingsProblems(application: ApplicationPlan): SqlSettingsProblem[] {
  const settings = application.sql;
  if (settings === undefined) return [];
  if (application.type !== 'sql')
    return [{ path: [], message: `sql settings apply to type: sql applications, not ${application.type}` }];
  const problems: SqlSettingsProblem[] = [];
  if (settings.source === undefined && settings.target === undefined)
    problems.push({
      path: [],
      message: 'name a source (what is imported), a target (what is written), or both',
    });
  const objectClass = sqlObjectClass(application);
  const spec = objectClass === undefined ? undefined : application.objectClasses[objectClass];
  if (objectClass === undefined)
    problems.push({ path: [], message: `application ${application.name} declares no user object class` });
  else if (spec === undefined)
    problems.push({
      path: ['objectClass'],
      message: `unknown object class "${objectClass}" of application ${application.name} (known: ${Object.keys(application.objectClasses).join(', ')})`,
    });
  else if (spec.kind === 'group')
    problems.push({
      path: ['objectClass'],
      message: `object class ${objectClass} is a group class: the SQL connector reads and writes users or contacts`,
    });
  const source = settings.source;
  if (source !== undefined) {
    if ((source.query === undefined) === (source.table === undefined))
      problems.push({ path: ['source'], message: 'name exactly one of query and table' });
    if (source.query !== undefined) {
      const problem = queryProblem(source.query, settings.dialect);
      if (problem !== null) problems.push({ path: ['source', 'query'], message: problem });
    }
    if (source.changedColumn !== undefined && source.changedColumn === source.key)
      problems.push({
        path: ['source', 'changedColumn'],
        message: 'the change-tracking column cannot be the key column',
      });
    if (source.changedOverlap !== undefined && source.changedColumn === undefined)
      problems.push({
        path: ['source', 'changedOverlap'],
        message:
          'changedOverlap is how far back a delta reads before the last change value, and there is no changedColumn: add changedColumn, or remove changedOverlap',
      });
  }
  const target = settings.target;
  if (target !== undefined) {
    if (objectClass !== undefined && spec !== undefined)
      problems.push(...columnsOf(application, objectClass, settings).problems);
    if (target.disabledColumn !== undefined && target.activeColumn !== undefined)
      problems.push({ path: ['target'], message: 'name at most one of disabledColumn and activeColumn' });
    if (
      target.delete === 'disable' &&
      target.disabledColumn === undefined &&
      target.activeColumn === undefined
    )
      problems.push({
        path: ['target', 'delete'],
        message:
          'delete: disable needs disabledColumn or activeColumn (the column that says a row is disabled)',
      });
  }
  return problems;
}

/** The settings with their defaults; throws an Error naming what is missing when they cannot work. */
export function resolveSqlSettings(application: ApplicationPlan): ResolvedSqlSettings {
  const settings = application.sql;
  if (settings === undefined)
    throw new Error(
      `application ${application.name} has no sql settings: add sql: { dialect: postgresql, connection: env:<variable holding the URL>, source: { table: <table>, key: <column> } } to it in the plan`,
    );
  const problems = sqlSettingsProblems(application);
  if (problems.length > 0)
    throw new Error(
      problems
        .map((problem) => `sql${problem.path.map((part) => `.${String(part)}`).join('')}: ${problem.message}`)
        .join('; '),
    );
  const objectClass = sqlObjectClass(application);
  const spec = objectClass === undefined ? undefined : application.objectClasses[objectClass];
  if (objectClass === undefined || spec === undefined)
    throw new Error(`application ${application.name} declares no user object class`);
  const attributes = new Map<string, SqlAttribute>(
    Object.entries(spec.attributes).map(([name, attribute]) => [
      name,
      { type: attribute.type ?? 'string', multiValued: attribute.multiValued ?? false },
    ]),
  );
  const { source, target } = settings;
  let resolvedTarget: ResolvedSqlTarget | null = null;
  if (target !== undefined) {
    const { columns } = columnsOf(application, objectClass, settings);
    resolvedTarget = {
      table: target.table,
      key: target.key,
      columns,
      written: Object.entries(spec.attributes)
        .filter(([, attribute]) => (attribute.direction ?? 'in') !== 'in')
        .flatMap(([name]) => {
          const column = columns.get(name);
          return column === undefined ? [] : [column];
        }),
      status:
        target.disabledColumn !== undefined
          ? { column: target.disabledColumn, disabled: true }
          : target.activeColumn !== undefined
            ? { column: target.activeColumn, disabled: false }
            : null,
      delete: target.delete ?? 'delete',
    };
  }
  return {
    dialect: settings.dialect,
    connection: settings.connection,
    objectClass,
    attributes,
    timeoutMs: (settings.timeoutSeconds ?? 30) * 1000,
    concurrency: settings.concurrency ?? 4,
    source:
      source === undefined
        ? null
        : {
            relation: source.query !== undefined ? { query: source.query } : { table: source.table ?? '' },
            key: source.key,
            changedColumn: source.changedColumn ?? null,
            changedOverlap: source.changedOverlap ?? null,
            pageSize: source.pageSize ?? 500,
          },
    target: resolvedTarget,
  };
}
