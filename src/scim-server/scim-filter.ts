// SCIM filters (RFC 7644 §3.4.2.2) as SQL over the stored resources. The expression is parsed by the
// scim2-parse-filter library; this module resolves its attribute paths against the schemas (names are
// case-insensitive, unknown ones refused) and writes each comparison as SQL: the indexed columns
// (userName, externalId, displayName, id, meta dates) directly, every other attribute as a SQL/JSON path
// predicate on the resource's jsonb — so filters and paging run in PostgreSQL, whatever the tenant's size.
import { sql, type RawBuilder } from 'kysely';
import { parse, type Filter } from 'scim2-parse-filter';
import { ScimError } from './scim-errors.ts';
import { resolvePath, subAttribute, type ResourceType, type ScimAttribute } from './scim-schemas.ts';

type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'lt' | 'ge' | 'le';
type Value = boolean | null | number | string;

const invalid = (detail: string) => new ScimError(400, detail, 'invalidFilter');

/** Parses a filter expression; a malformed or too long one is a 400 invalidFilter naming the problem. */
export function parseFilter(text: string, maxLength: number): Filter {
  if (text.length > maxLength)
    throw invalid(`filter: ${String(text.length)} characters, longer than the ${String(maxLength)} accepted`);
  try {
    return parse(text);
  } catch (error) {
    throw invalid(
      `filter: "${text.slice(0, 200)}" is not a valid SCIM filter (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}

/** The filter as a SQL condition on scim_resource rows of the resource type. */
export function filterSql(type: ResourceType, filter: Filter): RawBuilder<boolean> {
  switch (filter.op) {
    case 'and':
    case 'or': {
      const parts = filter.filters.map((part) => filterSql(type, part));
      return sql<boolean>`(${sql.join(parts, filter.op === 'and' ? sql` and ` : sql` or `)})`;
    }
    case 'not':
      return sql<boolean>`(not ${filterSql(type, filter.filter)})`;
    case '[]':
      return valuePathSql(type, filter.attrPath, filter.valFilter);
    case 'pr':
      return presentSql(type, filter.attrPath);
    default:
      return compareSql(type, filter.op, filter.attrPath, filter.compValue);
  }
}

/** An ORDER BY expression for sortBy; an unknown attribute is a 400 invalidValue. */
export function sortSql(type: ResourceType, path: string): RawBuilder<unknown> {
  const resolved = resolvePath(type, path);
  if (resolved === undefined) throw new ScimError(400, `sortBy: unknown attribute "${path}"`, 'invalidValue');
  const column = columnOf(type, path);
  if (column !== undefined) return column.expression;
  if (resolved.kind !== 'attribute') return sql`created_at`;
  return sql`jsonb_path_query_first(data, ${jsonPathOf(resolved.schema, resolved.extension, resolved.attribute, resolved.sub)}::jsonpath) #>> '{}'`;
}

interface Column {
  expression: RawBuilder<unknown>;
  kind: 'text' | 'exact' | 'time';
}

/** The indexed column an attribute lives in, when it has one. */
function columnOf(type: ResourceType, path: string): Column | undefined {
  const resolved = resolvePath(type, path);
  if (resolved === undefined) return undefined;
  if (resolved.kind === 'common') {
    if (resolved.name === 'id') return { expression: sql`id::text`, kind: 'text' };
    if (resolved.name === 'externalId') return { expression: sql`external_id`, kind: 'exact' };
    return undefined;
  }
  if (resolved.kind === 'meta') {
    if (resolved.name === 'created') return { expression: sql`created_at`, kind: 'time' };
    if (resolved.name === 'lastModified') return { expression: sql`updated_at`, kind: 'time' };
    if (resolved.name === 'resourceType') return { expression: sql`resource_type`, kind: 'exact' };
    return undefined;
  }
  if (resolved.extension || resolved.sub !== undefined) return undefined;
  if (type === 'User' && resolved.attribute.name === 'userName')
    return { expression: sql`user_name`, kind: 'text' };
  if (resolved.attribute.name === 'displayName') return { expression: sql`display_name`, kind: 'text' };
  return undefined;
}

function attributeOf(type: ResourceType, path: string) {
  const resolved = resolvePath(type, path);
  if (resolved === undefined) throw invalid(`filter: unknown attribute "${path}" for ${type}`);
  return resolved;
}

function compareSql(type: ResourceType, op: CompareOp, path: string, value: Value): RawBuilder<boolean> {
  const column = columnOf(type, path);
  if (column !== undefined) return columnCompare(column, op, path, value);
  const resolved = attributeOf(type, path);
  if (resolved.kind !== 'attribute') throw invalid(`filter: "${path}" cannot be compared`);
  let target = resolved.sub ?? resolved.attribute;
  let sub = resolved.sub;
  if (target.type === 'complex') {
    // A complex attribute compared as a whole is compared by its value (RFC 7644 §3.4.2.2).
    sub = subAttribute(target, 'value');
    if (sub === undefined) throw invalid(`filter: "${path}" is complex: name one of its sub-attributes`);
    target = sub;
  }
  const jsonPath = jsonPathOf(resolved.schema, resolved.extension, resolved.attribute, sub);
  if (op === 'ne')
    return sql<boolean>`(not ${pathExists(`${jsonPath} ? (${predicate('@', 'eq', target, path, value)})`)})`;
  return pathExists(`${jsonPath} ? (${predicate('@', op, target, path, value)})`);
}

function presentSql(type: ResourceType, path: string): RawBuilder<boolean> {
  const column = columnOf(type, path);
  if (column !== undefined) return sql<boolean>`(${column.expression} is not null)`;
  const resolved = attributeOf(type, path);
  if (resolved.kind !== 'attribute') return sql<boolean>`true`;
  // Stored resources hold no nulls, empty strings or empty arrays (normalised on write): present is exists.
  return pathExists(jsonPathOf(resolved.schema, resolved.extension, resolved.attribute, resolved.sub));
}

/** emails[type eq "work" and value co "@example.com"]: one element of the attribute matches the inner filter. */
function valuePathSql(type: ResourceType, path: string, inner: Filter): RawBuilder<boolean> {
  const resolved = attributeOf(type, path);
  if (resolved.kind !== 'attribute' || resolved.sub !== undefined || resolved.attribute.type !== 'complex')
    throw invalid(`filter: "${path}[…]" needs a complex attribute before the brackets`);
  const base = jsonPathOf(resolved.schema, resolved.extension, resolved.attribute, undefined);
  return pathExists(`${base} ? (${innerPredicate(resolved.attribute, inner, path)})`);
}

function innerPredicate(parent: ScimAttribute, filter: Filter, path: string): string {
  switch (filter.op) {
    case 'and':
    case 'or':
      return `(${filter.filters.map((part) => innerPredicate(parent, part, path)).join(filter.op === 'and' ? ' && ' : ' || ')})`;
    case 'not':
      return `!(${innerPredicate(parent, filter.filter, path)})`;
    case '[]':
      throw invalid(`filter: "${path}[…]" cannot hold another bracketed filter`);
    default: {
      const sub = subAttribute(parent, filter.attrPath);
      if (sub === undefined)
        throw invalid(`filter: "${filter.attrPath}" is not a sub-attribute of "${parent.name}"`);
      const left = `@.${JSON.stringify(sub.name)}`;
      if (filter.op === 'pr') return `exists(${left})`;
      if (filter.op === 'ne') return `!(${predicate(left, 'eq', sub, filter.attrPath, filter.compValue)})`;
      return predicate(left, filter.op, sub, filter.attrPath, filter.compValue);
    }
  }
}

const pathExists = (path: string) => sql<boolean>`jsonb_path_exists(data, ${path}::jsonpath)`;

function jsonPathOf(
  schema: string,
  extension: boolean,
  attribute: ScimAttribute,
  sub: ScimAttribute | undefined,
): string {
  return [
    '$',
    ...(extension ? [JSON.stringify(schema)] : []),
    JSON.stringify(attribute.name),
    ...(sub === undefined ? [] : [JSON.stringify(sub.name)]),
  ].join('.');
}

const escapeRegex = (text: string) => text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');

/** A SQL/JSON path predicate: the item at `left` compared with the value, as the attribute's type says. */
function predicate(
  left: string,
  op: CompareOp,
  attribute: ScimAttribute,
  path: string,
  value: Value,
): string {
  if (value === null)
    throw invalid(`filter: "${path} ${op} null": compare with a value, or use "${path} pr"`);
  if (attribute.type === 'boolean') {
    const flag =
      typeof value === 'string' && /^(true|false)$/i.test(value) ? value.toLowerCase() === 'true' : value;
    if (typeof flag !== 'boolean')
      throw invalid(`filter: "${path}" is a boolean: compare it with true or false`);
    if (op !== 'eq') throw invalid(`filter: "${path}" is a boolean: only eq and ne apply`);
    return `${left} == ${String(flag)}`;
  }
  if (attribute.type === 'integer' || attribute.type === 'decimal') {
    if (typeof value !== 'number') throw invalid(`filter: "${path}" is a number: compare it with a number`);
    if (['co', 'sw', 'ew'].includes(op)) throw invalid(`filter: "${path}" is a number: ${op} does not apply`);
    return `${left} ${jsonOperator(op)} ${String(value)}`;
  }
  if (typeof value !== 'string')
    throw invalid(`filter: "${path}" is a string: compare it with a quoted string`);
  const literal = JSON.stringify(value);
  const flags = attribute.caseExact ? '' : ' flag "i"';
  const regex = (pattern: string) => `${left} like_regex ${JSON.stringify(pattern)}${flags}`;
  switch (op) {
    case 'eq':
      return attribute.caseExact ? `${left} == ${literal}` : regex(`^${escapeRegex(value)}$`);
    case 'co':
      return regex(escapeRegex(value));
    case 'sw':
      return regex(`^${escapeRegex(value)}`);
    case 'ew':
      return regex(`${escapeRegex(value)}$`);
    default:
      return `${left} ${jsonOperator(op)} ${literal}`;
  }
}

function jsonOperator(op: CompareOp): string {
  return { eq: '==', ne: '!=', gt: '>', ge: '>=', lt: '<', le: '<=', co: '', sw: '', ew: '' }[op];
}

function columnCompare(column: Column, op: CompareOp, path: string, value: Value): RawBuilder<boolean> {
  const { expression } = column;
  if (column.kind === 'time') {
    if (typeof value !== 'string' || Number.isNaN(Date.parse(value)))
      throw invalid(`filter: "${path}" is a dateTime: compare it with a quoted xsd:dateTime`);
    if (['co', 'sw', 'ew'].includes(op))
      throw invalid(`filter: "${path}" is a dateTime: ${op} does not apply`);
    const at = new Date(value).toISOString();
    const operator = sql.raw(op === 'ne' ? '<>' : op === 'eq' ? '=' : jsonOperator(op));
    return sql<boolean>`(${expression} ${operator} ${at}::timestamptz)`;
  }
  if (value === null)
    throw invalid(`filter: "${path} ${op} null": compare with a value, or use "${path} pr"`);
  if (typeof value !== 'string')
    throw invalid(`filter: "${path}" is a string: compare it with a quoted string`);
  const left = column.kind === 'text' ? sql`lower(${expression})` : expression;
  const right = column.kind === 'text' ? value.toLowerCase() : value;
  switch (op) {
    case 'eq':
      return sql<boolean>`(${left} = ${right})`;
    case 'ne':
      return sql<boolean>`(${left} is distinct from ${right})`;
    case 'co':
      return sql<boolean>`(strpos(${left}, ${right}) > 0)`;
    case 'sw':
      return sql<boolean>`starts_with(${left}, ${right})`;
    case 'ew':
      return sql<boolean>`(right(${left}, ${right.length}) = ${right})`;
    default:
      return sql<boolean>`(${left} ${sql.raw(jsonOperator(op))} ${right})`;
  }
}
