// The attribute mapping between an application's attributes and SCIM resources (RFC 7643), pure: a path
// per application attribute (`userName`, `name.givenName`, `emails[type eq "work"].value`, or an
// extension's URN then `:employeeNumber`), read to build a resource, a PATCH (RFC 7644 §3.5.2) or the
// attributes of a resource read back.
import type { Attributes, AttributeValue } from '../../../kernel/contracts/identity-events.ts';

export const userSchema = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const groupSchema = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const enterpriseSchema = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const patchOpSchema = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const listResponseSchema = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

/** Application attribute → SCIM path, used for the attributes an object class declares. */
export const defaultUserMapping: Readonly<Record<string, string>> = {
  userName: 'userName',
  givenName: 'name.givenName',
  familyName: 'name.familyName',
  displayName: 'displayName',
  email: 'emails[type eq "work"].value',
  active: 'active',
  externalId: 'externalId',
  employeeNumber: `${enterpriseSchema}:employeeNumber`,
  department: `${enterpriseSchema}:department`,
  manager: `${enterpriseSchema}:manager.value`,
};

export const defaultGroupMapping: Readonly<Record<string, string>> = {
  displayName: 'displayName',
  externalId: 'externalId',
};

/** A parsed SCIM attribute path. */
export interface ScimPath {
  /** The schema URN of an extension attribute; null for the resource's core schema. */
  schema: string | null;
  attribute: string;
  /** A value filter on a multi-valued attribute: `[type eq "work"]`. */
  filter: { attribute: string; value: string } | null;
  sub: string | null;
  /** As written in a PATCH path. */
  text: string;
}

const name = '[A-Za-z][A-Za-z0-9_$-]*';
const pathPattern = new RegExp(
  `^(?:(urn:[A-Za-z0-9:._-]+):)?(${name})(?:\\[(${name}) eq "([^"\\\\]*)"\\])?(?:\\.(${name}))?$`,
);

/** A path, or why it is not one this connector writes. */
export function parseScimPath(text: string): ScimPath | { problem: string } {
  const match = pathPattern.exec(text);
  if (match === null)
    return {
      problem: `"${text}" is not a SCIM attribute path this connector writes: a, a.b, a[type eq "work"].b, or <schema URN>:a`,
    };
  const [, schema, attribute, filterAttribute, filterValue, sub] = match;
  if (attribute === undefined) return { problem: `"${text}" names no attribute` };
  if (filterAttribute !== undefined && sub === undefined)
    return {
      problem: `"${text}" filters a multi-valued attribute: name the sub-attribute written, e.g. .value`,
    };
  return {
    schema: schema ?? null,
    attribute,
    filter: filterAttribute === undefined ? null : { attribute: filterAttribute, value: filterValue ?? '' },
    sub: sub ?? null,
    text,
  };
}

export type ScimResource = Record<string, unknown>;

/** The mapping in force for an object class: the defaults for the attributes it declares, then the plan's. */
export function mappingFor(
  defaults: Readonly<Record<string, string>>,
  declared: readonly string[],
  configured: Readonly<Record<string, string>> | undefined,
): Map<string, ScimPath> {
  const mapping = new Map<string, ScimPath>();
  const add = (attribute: string, text: string) => {
    const path = parseScimPath(text);
    if ('problem' in path) throw new Error(`attribute ${attribute}: ${path.problem}`);
    mapping.set(attribute, path);
  };
  for (const attribute of declared) {
    const text = defaults[attribute];
    if (text !== undefined) add(attribute, text);
  }
  for (const [attribute, text] of Object.entries(configured ?? {})) add(attribute, text);
  return mapping;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Writes `value` at `path` into `resource` (creating what is on the way). */
function setPath(resource: ScimResource, path: ScimPath, value: AttributeValue): void {
  let container: Record<string, unknown> = resource;
  if (path.schema !== null) {
    const schemas = Array.isArray(resource.schemas) ? (resource.schemas as unknown[]) : [];
    if (!schemas.includes(path.schema)) resource.schemas = [...schemas, path.schema];
    const extension = isObject(resource[path.schema])
      ? (resource[path.schema] as Record<string, unknown>)
      : {};
    resource[path.schema] = extension;
    container = extension;
  }
  if (path.filter !== null && path.sub !== null) {
    const list = Array.isArray(container[path.attribute]) ? (container[path.attribute] as unknown[]) : [];
    const { attribute, value: wanted } = path.filter;
    let element = list.find((candidate) => isObject(candidate) && candidate[attribute] === wanted) as
      Record<string, unknown> | undefined;
    if (element === undefined) {
      element = { [attribute]: wanted, ...(list.length === 0 ? { primary: true } : {}) };
      list.push(element);
    }
    element[path.sub] = value;
    container[path.attribute] = list;
    return;
  }
  if (path.sub !== null) {
    const complex = isObject(container[path.attribute])
      ? (container[path.attribute] as Record<string, unknown>)
      : {};
    complex[path.sub] = value;
    container[path.attribute] = complex;
    return;
  }
  container[path.attribute] = value;
}

/** The value at `path` in `resource`; undefined when absent. */
export function getPath(resource: ScimResource, path: ScimPath): unknown {
  const container = path.schema === null ? resource : resource[path.schema];
  if (!isObject(container)) return undefined;
  const value = container[path.attribute];
  if (path.filter !== null && path.sub !== null) {
    if (!Array.isArray(value)) return undefined;
    const { attribute, value: wanted } = path.filter;
    const element: unknown = value.find(
      (candidate) => isObject(candidate) && candidate[attribute] === wanted,
    );
    return isObject(element) ? element[path.sub] : undefined;
  }
  if (path.sub !== null) return isObject(value) ? value[path.sub] : undefined;
  return value;
}

/** A whole resource from the attributes (a create or a PUT); null values are left out. */
export function toScimResource(
  schema: string,
  mapping: ReadonlyMap<string, ScimPath>,
  attributes: Attributes,
  base: ScimResource = {},
): ScimResource {
  const resource: ScimResource = { ...structuredClone(base), schemas: [schema] };
  const baseSchemas = Array.isArray(base.schemas) ? (base.schemas as string[]) : [];
  for (const extra of baseSchemas) if (extra !== schema) setSchema(resource, extra);
  for (const [attribute, value] of Object.entries(attributes)) {
    const path = mapping.get(attribute);
    if (path === undefined) continue;
    if (value === null) {
      removePath(resource, path);
      continue;
    }
    setPath(resource, path, value);
  }
  return resource;
}

function setSchema(resource: ScimResource, schema: string): void {
  const schemas = resource.schemas as string[];
  if (!schemas.includes(schema)) schemas.push(schema);
}

function removePath(resource: ScimResource, path: ScimPath): void {
  const container = path.schema === null ? resource : resource[path.schema];
  if (!isObject(container)) return;
  if (path.sub === null) {
    Reflect.deleteProperty(container, path.attribute);
    return;
  }
  const value = container[path.attribute];
  if (path.filter !== null && Array.isArray(value)) {
    const { attribute, value: wanted } = path.filter;
    container[path.attribute] = value.filter(
      (candidate) => !(isObject(candidate) && candidate[attribute] === wanted),
    );
  } else if (isObject(value)) Reflect.deleteProperty(value, path.sub);
}

export interface PatchOperation {
  op: 'add' | 'replace' | 'remove';
  path?: string;
  value?: unknown;
}

/**
 * The PATCH operations that write these attributes: replace each value, remove each null. A value under a
 * filter (`emails[type eq "work"].value`) is replaced where the resource holds such an element; with
 * `missingElements`, for a resource that holds none (the service answered 400 noTarget), it is added as a
 * new element instead, and its removal left out.
 */
export function toPatchOperations(
  mapping: ReadonlyMap<string, ScimPath>,
  attributes: Attributes,
  options: { missingElements?: boolean } = {},
): PatchOperation[] {
  const operations: PatchOperation[] = [];
  for (const [attribute, value] of Object.entries(attributes)) {
    const path = mapping.get(attribute);
    if (path === undefined) continue;
    if (options.missingElements === true && path.filter !== null && path.sub !== null) {
      if (value === null) continue;
      const prefix = path.schema === null ? '' : `${path.schema}:`;
      operations.push({
        op: 'add',
        path: `${prefix}${path.attribute}`,
        value: [{ [path.filter.attribute]: path.filter.value, [path.sub]: value }],
      });
      continue;
    }
    operations.push(
      value === null ? { op: 'remove', path: path.text } : { op: 'replace', path: path.text, value },
    );
  }
  return operations;
}

/** The attributes a resource holds, by the mapping; scalar values only (what the Import stage takes). */
export function fromScimResource(mapping: ReadonlyMap<string, ScimPath>, resource: ScimResource): Attributes {
  const attributes: Attributes = {};
  for (const [attribute, path] of mapping) {
    const value = getPath(resource, path);
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      attributes[attribute] = value;
  }
  return attributes;
}

/** A match filter with `{attribute}` replaced by its value, quoted as a SCIM string; null when a value is missing. */
export function matchFilter(template: string, attributes: Attributes): string | null {
  const missing: string[] = [];
  const filter = template.replace(/\{([A-Za-z][A-Za-z0-9_.-]*)\}/g, (_, attribute: string) => {
    const value = attributes[attribute];
    if (value === undefined || value === null || Array.isArray(value)) {
      missing.push(attribute);
      return '';
    }
    return String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  });
  return missing.length > 0 ? null : filter;
}

/** The member references of a group resource (its members' ids). */
export function memberIds(resource: ScimResource): string[] {
  const members = resource.members;
  if (!Array.isArray(members)) return [];
  return members.flatMap((member) =>
    isObject(member) && typeof member.value === 'string' ? [member.value] : [],
  );
}

/** How group members are changed: the operations (each list one PATCH request) for added and removed ones. */
export function memberPatches(
  quirk: 'patch' | 'patch-one-per-operation' | 'replace',
  change: { add: readonly string[]; remove: readonly string[] },
  current: readonly string[] | null,
): PatchOperation[] {
  if (quirk === 'replace') {
    const removed = new Set(change.remove);
    const members = [...new Set([...(current ?? []), ...change.add])].filter((id) => !removed.has(id));
    return [{ op: 'replace', path: 'members', value: members.map((value) => ({ value })) }];
  }
  const adds: PatchOperation[] =
    change.add.length === 0
      ? []
      : quirk === 'patch'
        ? [{ op: 'add', path: 'members', value: change.add.map((value) => ({ value })) }]
        : change.add.map((value) => ({ op: 'add', path: 'members', value: [{ value }] }));
  const removes: PatchOperation[] = change.remove.map((value) => ({
    op: 'remove',
    path: `members[value eq "${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"]`,
  }));
  return [...adds, ...removes];
}
