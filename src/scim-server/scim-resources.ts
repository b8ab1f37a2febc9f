// Users and Groups as this server keeps them, pure: a request body checked against the schemas and
// normalised (canonical attribute names, Entra's "True"/"False" as booleans, no nulls or empty values,
// read-only and write-only attributes dropped), a PATCH applied (RFC 7644 §3.5.2, by the scim-patch
// library), a stored resource answered with meta and `attributes`/`excludedAttributes`, and a resource
// flattened to the attributes the Import stage receives.
import { scimPatch, type ScimPatchOperation } from 'scim-patch';
import type { Attributes } from '../../kernel/contracts/identity-events.ts';
import { ScimError } from './scim-errors.ts';
import {
  resolvePath,
  resourceTypes,
  SCHEMA,
  schemaAttribute,
  schemaDefinition,
  subAttribute,
  type ResourceType,
  type ScimAttribute,
} from './scim-schemas.ts';

/** The longest string value kept. */
export const MAX_TEXT = 4096;
/** The longest userName, displayName or externalId (the repository's anchors take 1024). */
export const MAX_NAME = 1024;
/** The most values of a multi-valued attribute (members aside: bounded by the body limit). */
export const MAX_VALUES = 100;

/** A resource's body as stored (scim_resource.data): schemas and attributes; id and meta live in columns. */
export type ResourceData = Record<string, unknown> & { schemas: string[] };

export interface StoredResource {
  id: string;
  type: ResourceType;
  data: ResourceData;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/** What a body decides for the indexed columns. */
export interface NormalisedResource {
  data: ResourceData;
  externalId: string | undefined;
  userName: string | undefined;
  displayName: string | undefined;
}

const invalidValue = (detail: string) => new ScimError(400, detail, 'invalidValue');
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A body (POST, PUT, or the result of a PATCH) checked and normalised; a problem is a 400 naming its path. */
export function normaliseResource(type: ResourceType, body: unknown): NormalisedResource {
  if (!isObject(body))
    throw new ScimError(400, 'body: a SCIM resource must be a JSON object', 'invalidSyntax');
  const resource = resourceTypes[type];
  const declared = Array.isArray(body.schemas) ? body.schemas : undefined;
  if (
    declared === undefined ||
    !declared.some((id) => typeof id === 'string' && id.toLowerCase() === resource.schema.toLowerCase())
  )
    throw new ScimError(400, `schemas: must list ${resource.schema}`, 'invalidSyntax');
  const data: ResourceData = { schemas: [resource.schema] };
  let externalId: string | undefined;
  for (const [key, value] of Object.entries(body)) {
    const lower = key.toLowerCase();
    if (lower === 'schemas' || lower === 'id' || lower === 'meta') continue;
    if (lower === 'externalid') {
      if (value === null || value === '') continue;
      externalId = text(value, 'externalId', MAX_NAME);
      data.externalId = externalId;
      continue;
    }
    const extension = resource.extensions.find((id) => id.toLowerCase() === lower);
    if (extension !== undefined) {
      if (value === null) continue;
      if (!isObject(value)) throw invalidValue(`${extension}: must be an object of its attributes`);
      for (const [name, item] of Object.entries(value))
        setAttribute(data, extension, schemaAttribute(extension, name), item, `${extension}:${name}`);
      continue;
    }
    // A full path as a key (PATCH without a path, as Entra ID sends it): "name.givenName", "urn:…:User:manager".
    const resolved = resolvePath(type, key);
    if (resolved?.kind !== 'attribute') continue; // unknown attributes are ignored (RFC 7644 §3.3)
    if (resolved.sub === undefined) setAttribute(data, resolved.schema, resolved.attribute, value, key);
    else
      setAttribute(
        data,
        resolved.schema,
        resolved.attribute,
        { ...currentObject(data, resolved.schema, resolved.attribute), [resolved.sub.name]: value },
        key,
      );
  }
  for (const extension of resource.extensions) if (isObject(data[extension])) data.schemas.push(extension);
  const core = schemaDefinition(resource.schema)?.attributes ?? [];
  for (const required of core.filter((candidate) => candidate.required))
    if (data[required.name] === undefined) throw invalidValue(`${required.name}: is required for a ${type}`);
  const userName = type === 'User' ? (data.userName as string) : undefined;
  const displayName = typeof data.displayName === 'string' ? data.displayName : undefined;
  if (type === 'Group') data.members = uniqueMembers(data.members);
  if (type === 'Group' && (data.members as unknown[]).length === 0) delete data.members;
  return { data, externalId, userName, displayName };
}

function currentObject(
  data: ResourceData,
  schema: string,
  attribute: ScimAttribute,
): Record<string, unknown> {
  const holder = schema === SCHEMA.user || schema === SCHEMA.group ? data : data[schema];
  const value = isObject(holder) ? holder[attribute.name] : undefined;
  return isObject(value) ? value : {};
}

/** Sets a checked attribute value on the data (under its extension's object for an extension). */
function setAttribute(
  data: ResourceData,
  schema: string,
  attribute: ScimAttribute | undefined,
  value: unknown,
  path: string,
): void {
  if (attribute === undefined) return;
  if (attribute.mutability === 'readOnly' || attribute.mutability === 'writeOnly') return;
  const checked = attribute.multiValued
    ? multiValue(attribute, value, path)
    : singleValue(attribute, value, path);
  const inExtension = schema !== SCHEMA.user && schema !== SCHEMA.group;
  const existing = data[schema];
  const holder: Record<string, unknown> = inExtension ? (isObject(existing) ? existing : {}) : data;
  if (checked === undefined) Reflect.deleteProperty(holder, attribute.name);
  else holder[attribute.name] = checked;
  if (inExtension && Object.keys(holder).length > 0) data[schema] = holder;
}

function multiValue(attribute: ScimAttribute, value: unknown, path: string): unknown[] | undefined {
  if (value === null || value === undefined) return undefined;
  const items = Array.isArray(value) ? value : [value];
  const limit = attribute.name === 'members' ? Number.POSITIVE_INFINITY : MAX_VALUES;
  if (items.length > limit) throw invalidValue(`${path}: more than ${String(limit)} values`);
  const checked = items
    .map((item, index) => singleValue(attribute, item, `${path}[${String(index)}]`))
    .filter((item) => item !== undefined);
  return checked.length === 0 ? undefined : checked;
}

function singleValue(attribute: ScimAttribute, value: unknown, path: string): unknown {
  if (value === null || value === undefined || value === '') return undefined;
  switch (attribute.type) {
    case 'complex': {
      // Entra ID sends the enterprise manager as its id alone: "manager": "<id>".
      if (typeof value === 'string' && subAttribute(attribute, 'value') !== undefined)
        return singleValue(attribute, { value }, path);
      if (!isObject(value))
        throw invalidValue(`${path}: must be an object of ${attribute.name}'s sub-attributes`);
      const result: Record<string, unknown> = {};
      for (const [name, item] of Object.entries(value)) {
        const sub = subAttribute(attribute, name);
        if (sub === undefined || sub.mutability === 'readOnly') continue;
        const checked = singleValue(sub, item, `${path}.${sub.name}`);
        if (checked !== undefined) result[sub.name] = checked;
      }
      return Object.keys(result).length === 0 ? undefined : result;
    }
    case 'boolean':
      // Entra ID sends "True" and "False" as strings.
      if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
      if (typeof value !== 'boolean') throw invalidValue(`${path}: must be true or false`);
      return value;
    case 'integer':
    case 'decimal':
      if (typeof value !== 'number' || !Number.isFinite(value))
        throw invalidValue(`${path}: must be a number`);
      return value;
    case 'dateTime':
      if (typeof value !== 'string' || Number.isNaN(Date.parse(value)))
        throw invalidValue(`${path}: must be an xsd:dateTime`);
      return value;
    default:
      return text(value, path, ['userName', 'displayName'].includes(attribute.name) ? MAX_NAME : MAX_TEXT);
  }
}

function text(value: unknown, path: string, limit: number): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'string') throw invalidValue(`${path}: must be a string`);
  if (value.length > limit) throw invalidValue(`${path}: longer than ${String(limit)} characters`);
  return value;
}

function uniqueMembers(members: unknown): { value: string; display?: string; type?: string }[] {
  const seen = new Map<string, { value: string; display?: string; type?: string }>();
  for (const member of Array.isArray(members) ? members : []) {
    if (!isObject(member) || typeof member.value !== 'string') continue;
    if (!seen.has(member.value.toLowerCase()))
      seen.set(member.value.toLowerCase(), member as { value: string });
  }
  return [...seen.values()];
}

/** The PatchOp body checked: its schema, 1 to maxOperations operations, each add, replace or remove. */
export function patchOperations(body: unknown, maxOperations: number): ScimPatchOperation[] {
  if (!isObject(body)) throw new ScimError(400, 'body: a PatchOp must be a JSON object', 'invalidSyntax');
  const schemas = Array.isArray(body.schemas) ? body.schemas : [];
  if (!schemas.some((id) => typeof id === 'string' && id.toLowerCase() === SCHEMA.patchOp.toLowerCase()))
    throw new ScimError(400, `schemas: a PATCH body must list ${SCHEMA.patchOp}`, 'invalidSyntax');
  const operations = body.Operations ?? body.operations;
  if (!Array.isArray(operations) || operations.length === 0)
    throw new ScimError(400, 'Operations: must be a non-empty array', 'invalidSyntax');
  if (operations.length > maxOperations)
    throw new ScimError(400, `Operations: more than ${String(maxOperations)} in one request`, 'invalidValue');
  return operations.map((operation: unknown, index) => {
    if (!isObject(operation))
      throw new ScimError(400, `Operations[${String(index)}]: must be an object`, 'invalidSyntax');
    const op = typeof operation.op === 'string' ? operation.op.toLowerCase() : '';
    if (op !== 'add' && op !== 'replace' && op !== 'remove')
      throw new ScimError(
        400,
        `Operations[${String(index)}].op: must be add, replace or remove`,
        'invalidSyntax',
      );
    if (operation.path !== undefined && typeof operation.path !== 'string')
      throw new ScimError(400, `Operations[${String(index)}].path: must be a string`, 'invalidPath');
    if (op === 'remove' && (operation.path === undefined || operation.path === ''))
      throw new ScimError(400, `Operations[${String(index)}]: remove needs a path`, 'noTarget');
    if (op !== 'remove' && operation.value === undefined)
      throw new ScimError(400, `Operations[${String(index)}]: ${op} needs a value`, 'invalidValue');
    const path = typeof operation.path === 'string' && operation.path !== '' ? operation.path : undefined;
    return {
      op,
      ...(path === undefined ? {} : { path: path.length > 1024 ? tooLong(index) : canonicalPath(path) }),
      ...(operation.value === undefined ? {} : { value: operation.value }),
    } as ScimPatchOperation;
  });
}

const tooLong = (index: number): never => {
  throw new ScimError(400, `Operations[${String(index)}].path: longer than 1024 characters`, 'invalidPath');
};

/** A path without the core schema's URN prefix, which scim-patch does not expect. */
function canonicalPath(path: string): string {
  for (const core of [SCHEMA.user, SCHEMA.group])
    if (path.toLowerCase().startsWith(`${core.toLowerCase()}:`)) return path.slice(core.length + 1);
  return path;
}

/** The data after the PATCH operations, checked as a whole like a PUT body. */
export function applyPatch(
  type: ResourceType,
  current: ResourceData,
  operations: ScimPatchOperation[],
): NormalisedResource {
  const document = { ...structuredClone(current), meta: { resourceType: type } } as unknown as Parameters<
    typeof scimPatch
  >[0];
  let patched: Record<string, unknown>;
  try {
    patched = scimPatch(document, removalsByValue(canonicalCase(type, operations)), {
      mutateDocument: false,
      treatMissingAsAdd: true,
    }) as unknown as Record<string, unknown>;
  } catch (error) {
    if (error instanceof ScimError) throw error;
    const scimCode = (error as { scimCode?: unknown }).scimCode;
    const scimType =
      scimCode === 'noTarget' ? 'noTarget' : scimCode === 'invalidPath' ? 'invalidPath' : 'invalidValue';
    throw new ScimError(
      400,
      error instanceof Error && error.message !== '' ? error.message : 'the PATCH cannot be applied',
      scimType,
      { cause: error },
    );
  }
  return normaliseResource(type, patched);
}

/**
 * A remove of items named in its value (Entra ID's "Remove Members": path `members`, value
 * `[{ "$ref": null, "value": "<id>" }]`) as one remove per item by its `value` sub-attribute
 * (`members[value eq "<id>"]`): scim-patch would remove only items deeply equal to the ones sent, and a
 * stored member never has `$ref: null`, so nothing was removed.
 */
function removalsByValue(operations: ScimPatchOperation[]): ScimPatchOperation[] {
  return operations.flatMap((operation) => {
    if (operation.op !== 'remove' || !/^[\w$]+$/.test(operation.path)) return [operation];
    const items: unknown[] = Array.isArray(operation.value) ? operation.value : [operation.value];
    const values = items.map((item) =>
      isObject(item) && typeof item.value === 'string' ? item.value : undefined,
    );
    if (values.length === 0 || values.some((value) => value === undefined)) return [operation];
    return values.map((value) => ({
      op: 'remove' as const,
      path: `${operation.path}[value eq ${JSON.stringify(value)}]`,
    }));
  });
}

/** Attribute names in a path as the schema spells them ("Active" → "active"), so scim-patch finds them. */
function canonicalCase(type: ResourceType, operations: ScimPatchOperation[]): ScimPatchOperation[] {
  return operations.map((operation) => {
    if (operation.path === undefined) return operation;
    const match = /^([A-Za-z$][\w$]*)(.*)$/s.exec(operation.path);
    if (match === null) return operation;
    const resolved = resolvePath(type, match[1] ?? '');
    if (resolved?.kind !== 'attribute') return operation;
    return { ...operation, path: `${resolved.attribute.name}${match[2] ?? ''}` };
  });
}

export interface AnswerOptions {
  baseUrl: string;
  attributes?: string[];
  excludedAttributes?: string[];
}

/** The stored resource as the client sees it: id, meta and the attributes asked for. */
export function answerResource(resource: StoredResource, options: AnswerOptions): Record<string, unknown> {
  const { endpoint } = resourceTypes[resource.type];
  const full: Record<string, unknown> = {
    ...resource.data,
    id: resource.id,
    meta: {
      resourceType: resource.type,
      created: resource.createdAt.toISOString(),
      lastModified: resource.updatedAt.toISOString(),
      version: etagOf(resource.version),
      location: `${options.baseUrl}${endpoint}/${resource.id}`,
    },
  };
  if (options.attributes !== undefined && options.attributes.length > 0)
    return pick(resource.type, full, options.attributes);
  if (options.excludedAttributes !== undefined && options.excludedAttributes.length > 0)
    return omit(resource.type, full, options.excludedAttributes);
  return full;
}

export const etagOf = (version: number) => `W/"${String(version)}"`;

/** Where an attribute named in `attributes`/`excludedAttributes` sits: the holder key path. */
function locate(type: ResourceType, path: string): string[] | undefined {
  const extension = resourceTypes[type].extensions.find((id) => id.toLowerCase() === path.toLowerCase());
  if (extension !== undefined) return [extension];
  const resolved = resolvePath(type, path);
  if (resolved === undefined) return undefined;
  if (resolved.kind === 'common') return [resolved.name];
  if (resolved.kind === 'meta') return resolved.name === undefined ? ['meta'] : ['meta', resolved.name];
  return [
    ...(resolved.extension ? [resolved.schema] : []),
    resolved.attribute.name,
    ...(resolved.sub === undefined ? [] : [resolved.sub.name]),
  ];
}

function pick(
  type: ResourceType,
  full: Record<string, unknown>,
  attributes: string[],
): Record<string, unknown> {
  // id, schemas and meta are always returned (RFC 7643 §7: returned "always"), userName too for a User.
  const result: Record<string, unknown> = { schemas: full.schemas, id: full.id, meta: full.meta };
  if (type === 'User') result.userName = full.userName;
  for (const path of attributes) {
    const keys = locate(type, path);
    if (keys === undefined) continue;
    copyPath(full, result, keys);
  }
  return result;
}

function copyPath(from: Record<string, unknown>, to: Record<string, unknown>, keys: string[]): void {
  const [head, ...rest] = keys;
  if (head === undefined || from[head] === undefined) return;
  if (rest.length === 0) {
    to[head] = from[head];
    return;
  }
  const value = from[head];
  if (Array.isArray(value)) {
    const existing = Array.isArray(to[head])
      ? (to[head] as Record<string, unknown>[])
      : value.map(() => ({}));
    value.forEach((item, index) => {
      if (isObject(item)) copyPath(item, existing[index] ?? {}, rest);
    });
    to[head] = existing;
  } else if (isObject(value)) {
    const target = isObject(to[head]) ? to[head] : {};
    copyPath(value, target, rest);
    to[head] = target;
  }
}

function omit(
  type: ResourceType,
  full: Record<string, unknown>,
  excluded: string[],
): Record<string, unknown> {
  const result = structuredClone(full);
  for (const path of excluded) {
    const keys = locate(type, path);
    if (keys === undefined || ['id', 'schemas', 'meta'].includes(keys[0] ?? '')) continue;
    if (type === 'User' && keys.length === 1 && keys[0] === 'userName') continue;
    removePath(result, keys);
  }
  return result;
}

function removePath(target: Record<string, unknown>, keys: string[]): void {
  const [head, ...rest] = keys;
  if (head === undefined) return;
  if (rest.length === 0) {
    Reflect.deleteProperty(target, head);
    return;
  }
  const value = target[head];
  for (const item of Array.isArray(value) ? value : [value]) if (isObject(item)) removePath(item, rest);
}

/**
 * The resource as the attributes of its Application Repository object (docs/scim-server.md): simple
 * attributes by name (userName, active, title), sub-attributes dotted (name.givenName), multi-valued ones as
 * all their values (emails) and by type (emails.work) and the primary (emails.primary), the enterprise
 * extension under `enterprise.` (enterprise.employeeNumber, enterprise.manager), a Group's members as the
 * ids of its members.
 */
export function importAttributes(resource: {
  id: string;
  type: ResourceType;
  data: ResourceData;
}): Attributes {
  const attributes: Attributes = { id: resource.id };
  const { data } = resource;
  if (typeof data.externalId === 'string') attributes.externalId = data.externalId;
  const flatten = (prefix: string, values: Record<string, unknown>, schema: string) => {
    for (const [name, value] of Object.entries(values)) {
      const definition = schemaAttribute(schema, name);
      if (definition === undefined) continue;
      const key = `${prefix}${definition.name}`;
      if (definition.multiValued) {
        const items = (value as unknown[]).filter(isObject);
        if (definition.name === 'members') {
          attributes.members = items.map((item) => String(item.value));
          continue;
        }
        const primary = items.find((item) => item.primary === true) ?? items[0];
        attributes[key] = items.map((item) => scalar(item.value)).filter((item) => item !== null);
        if (primary !== undefined) attributes[`${key}.primary`] = scalar(primary.value);
        for (const item of items)
          if (
            typeof item.type === 'string' &&
            /^[A-Za-z0-9_-]{1,64}$/.test(item.type) &&
            attributes[`${key}.${item.type}`] === undefined
          )
            attributes[`${key}.${item.type}`] = scalar(item.value);
      } else if (isObject(value)) {
        for (const [sub, item] of Object.entries(value))
          attributes[definition.name === 'manager' && sub === 'value' ? key : `${key}.${sub}`] = scalar(item);
      } else attributes[key] = scalar(value);
    }
  };
  flatten('', data, resourceTypes[resource.type].schema);
  const enterprise = data[SCHEMA.enterprise];
  if (isObject(enterprise)) flatten('enterprise.', enterprise, SCHEMA.enterprise);
  return attributes;
}

function scalar(value: unknown): string | number | boolean | null {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return value === undefined ? null : JSON.stringify(value);
}
