// The SCIM 2.0 schemas this server serves (RFC 7643 §4 and §8.7): the core User with the enterprise extension,
// and Group — as data, from which /Schemas, /ResourceTypes, input checks, filters and projections all read.
// Pure: no I/O.

export const SCHEMA = {
  user: 'urn:ietf:params:scim:schemas:core:2.0:User',
  enterprise: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
  group: 'urn:ietf:params:scim:schemas:core:2.0:Group',
  listResponse: 'urn:ietf:params:scim:api:messages:2.0:ListResponse',
  patchOp: 'urn:ietf:params:scim:api:messages:2.0:PatchOp',
  error: 'urn:ietf:params:scim:api:messages:2.0:Error',
  schema: 'urn:ietf:params:scim:schemas:core:2.0:Schema',
  resourceType: 'urn:ietf:params:scim:schemas:core:2.0:ResourceType',
  serviceProviderConfig: 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig',
} as const;

export type ResourceType = 'User' | 'Group';

export interface ScimAttribute {
  name: string;
  type: 'string' | 'boolean' | 'decimal' | 'integer' | 'dateTime' | 'reference' | 'complex';
  multiValued: boolean;
  description: string;
  required: boolean;
  caseExact: boolean;
  mutability: 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
  returned: 'always' | 'never' | 'default' | 'request';
  uniqueness: 'none' | 'server' | 'global';
  subAttributes?: ScimAttribute[];
  canonicalValues?: string[];
  referenceTypes?: string[];
}

function attribute(
  name: string,
  description: string,
  options: Partial<Omit<ScimAttribute, 'name' | 'description'>> = {},
): ScimAttribute {
  return {
    name,
    type: options.subAttributes === undefined ? 'string' : 'complex',
    multiValued: false,
    description,
    required: false,
    caseExact: false,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    ...options,
  };
}

/** A multi-valued attribute of value, display, type and primary (emails, phoneNumbers, …). */
function plural(
  name: string,
  description: string,
  types: string[],
  valueType: ScimAttribute['type'] = 'string',
) {
  return attribute(name, description, {
    multiValued: true,
    subAttributes: [
      attribute('value', `The ${name} value.`, { type: valueType }),
      attribute('display', 'A human-readable name, primarily used for display purposes.'),
      attribute('type', 'A label indicating the function of the value.', { canonicalValues: types }),
      attribute('primary', 'Whether this is the primary value.', { type: 'boolean' }),
    ],
  });
}

const userAttributes: ScimAttribute[] = [
  attribute('userName', 'Unique identifier for the User, typically used to sign in.', {
    required: true,
    uniqueness: 'server',
  }),
  attribute('name', "The components of the user's real name.", {
    subAttributes: [
      attribute('formatted', 'The full name, formatted for display.'),
      attribute('familyName', 'The family name (last name in most Western languages).'),
      attribute('givenName', 'The given name (first name in most Western languages).'),
      attribute('middleName', 'The middle name(s).'),
      attribute('honorificPrefix', 'The honorific prefix(es), e.g. Ms.'),
      attribute('honorificSuffix', 'The honorific suffix(es), e.g. III.'),
    ],
  }),
  attribute('displayName', 'The name of the User, suitable for display to end-users.'),
  attribute('nickName', 'The casual way to address the user.'),
  attribute('profileUrl', "A URI of the user's online profile.", {
    type: 'reference',
    referenceTypes: ['external'],
  }),
  attribute('title', "The user's title, e.g. Vice President."),
  attribute('userType', 'The relationship between the organization and the user, e.g. Employee.'),
  attribute('preferredLanguage', "The user's preferred written or spoken language, e.g. en-US."),
  attribute('locale', "The user's default location, e.g. en-US."),
  attribute('timezone', "The user's time zone in IANA format, e.g. Europe/Paris."),
  attribute('active', "The user's administrative status.", { type: 'boolean' }),
  attribute('password', 'Never stored nor returned by this server.', {
    mutability: 'writeOnly',
    returned: 'never',
  }),
  plural('emails', 'Email addresses for the user.', ['work', 'home', 'other']),
  plural('phoneNumbers', 'Phone numbers for the user.', ['work', 'home', 'mobile', 'fax', 'pager', 'other']),
  plural('ims', 'Instant messaging addresses for the user.', [
    'aim',
    'gtalk',
    'icq',
    'xmpp',
    'msn',
    'skype',
    'qq',
    'yahoo',
  ]),
  plural('photos', 'URLs of photos of the user.', ['photo', 'thumbnail'], 'reference'),
  attribute('addresses', 'Physical mailing addresses for the user.', {
    multiValued: true,
    subAttributes: [
      attribute('formatted', 'The full mailing address, formatted for display.'),
      attribute('streetAddress', 'The full street address component.'),
      attribute('locality', 'The city or locality component.'),
      attribute('region', 'The state or region component.'),
      attribute('postalCode', 'The zip code or postal code component.'),
      attribute('country', 'The country name component (ISO 3166-1 alpha-2).'),
      attribute('type', 'A label indicating the function of the address.', {
        canonicalValues: ['work', 'home', 'other'],
      }),
      attribute('primary', 'Whether this is the primary address.', { type: 'boolean' }),
    ],
  }),
  attribute('groups', 'The groups the user belongs to (read-only: set through the Group resource).', {
    multiValued: true,
    mutability: 'readOnly',
    subAttributes: [
      attribute('value', 'The id of the Group.', { mutability: 'readOnly' }),
      attribute('$ref', 'The URI of the Group.', {
        type: 'reference',
        referenceTypes: ['Group'],
        mutability: 'readOnly',
      }),
      attribute('display', 'The displayName of the Group.', { mutability: 'readOnly' }),
      attribute('type', 'direct or indirect.', {
        mutability: 'readOnly',
        canonicalValues: ['direct', 'indirect'],
      }),
    ],
  }),
  plural('entitlements', 'Entitlements of the user.', []),
  plural('roles', 'Roles of the user.', []),
];

const enterpriseAttributes: ScimAttribute[] = [
  attribute(
    'employeeNumber',
    'A string identifier, typically numeric or alphanumeric, assigned to a person.',
  ),
  attribute('costCenter', 'The name of a cost center.'),
  attribute('organization', 'The name of an organization.'),
  attribute('division', 'The name of a division.'),
  attribute('department', 'The name of a department.'),
  attribute('manager', "The user's manager.", {
    subAttributes: [
      attribute('value', 'The id of the SCIM resource representing the manager.'),
      attribute('$ref', 'The URI of the manager.', { type: 'reference', referenceTypes: ['User'] }),
      attribute('displayName', 'The displayName of the manager.', { mutability: 'readOnly' }),
    ],
  }),
];

const groupAttributes: ScimAttribute[] = [
  attribute('displayName', 'A human-readable name for the Group.', { required: true }),
  attribute('members', 'A list of members of the Group.', {
    multiValued: true,
    subAttributes: [
      attribute('value', 'The id of the member (a User or Group of this application).', {
        mutability: 'immutable',
      }),
      attribute('$ref', 'The URI of the member.', {
        type: 'reference',
        referenceTypes: ['User', 'Group'],
        mutability: 'immutable',
      }),
      attribute('display', 'A human-readable name of the member.', { mutability: 'immutable' }),
      attribute('type', 'User or Group.', { mutability: 'immutable', canonicalValues: ['User', 'Group'] }),
    ],
  }),
];

export interface SchemaDefinition {
  id: string;
  name: string;
  description: string;
  attributes: ScimAttribute[];
}

export const schemaDefinitions: SchemaDefinition[] = [
  { id: SCHEMA.user, name: 'User', description: 'User Account', attributes: userAttributes },
  {
    id: SCHEMA.enterprise,
    name: 'EnterpriseUser',
    description: 'Enterprise User',
    attributes: enterpriseAttributes,
  },
  { id: SCHEMA.group, name: 'Group', description: 'Group', attributes: groupAttributes },
];

export interface ResourceTypeDefinition {
  name: ResourceType;
  endpoint: string;
  schema: string;
  extensions: string[];
}

export const resourceTypes: Record<ResourceType, ResourceTypeDefinition> = {
  User: { name: 'User', endpoint: '/Users', schema: SCHEMA.user, extensions: [SCHEMA.enterprise] },
  Group: { name: 'Group', endpoint: '/Groups', schema: SCHEMA.group, extensions: [] },
};

const definitionById = new Map(
  schemaDefinitions.map((definition) => [definition.id.toLowerCase(), definition]),
);

export function schemaDefinition(id: string): SchemaDefinition | undefined {
  return definitionById.get(id.toLowerCase());
}

/** Attributes every resource has, outside its schemas (RFC 7643 §3.1). */
export const commonAttributes = ['id', 'externalId', 'meta'] as const;

/** Where an attribute path (as a filter, PATCH, sortBy or `attributes` names it) points, in canonical case. */
export type ResolvedPath =
  | { kind: 'common'; name: 'id' | 'externalId' | 'schemas' }
  | { kind: 'meta'; name: 'created' | 'lastModified' | 'resourceType' | 'version' | 'location' | undefined }
  | {
      kind: 'attribute';
      schema: string;
      extension: boolean;
      attribute: ScimAttribute;
      sub: ScimAttribute | undefined;
    };

function findAttribute(attributes: readonly ScimAttribute[], name: string): ScimAttribute | undefined {
  const lower = name.toLowerCase();
  return attributes.find((candidate) => candidate.name.toLowerCase() === lower);
}

/**
 * Resolves `userName`, `name.givenName`, `emails.value`, `urn:…:enterprise:2.0:User:manager.value`,
 * `meta.lastModified` (attribute names are case-insensitive, RFC 7643 §2.1); undefined when unknown.
 */
export function resolvePath(type: ResourceType, path: string): ResolvedPath | undefined {
  const resource = resourceTypes[type];
  let schemaId = resource.schema;
  let rest = path;
  if (path.toLowerCase().startsWith('urn:')) {
    const known = [resource.schema, ...resource.extensions].find((id) =>
      path.toLowerCase().startsWith(`${id.toLowerCase()}:`),
    );
    if (known === undefined) return undefined;
    schemaId = known;
    rest = path.slice(known.length + 1);
  }
  const [head = '', sub, ...extra] = rest.split('.');
  if (extra.length > 0 || head === '') return undefined;
  if (schemaId === resource.schema) {
    const lower = head.toLowerCase();
    if (sub === undefined && (lower === 'id' || lower === 'externalid' || lower === 'schemas'))
      return { kind: 'common', name: lower === 'id' ? 'id' : lower === 'schemas' ? 'schemas' : 'externalId' };
    if (lower === 'meta') {
      if (sub === undefined) return { kind: 'meta', name: undefined };
      const metaName = ['created', 'lastModified', 'resourceType', 'version', 'location'].find(
        (name) => name.toLowerCase() === sub.toLowerCase(),
      ) as 'created' | 'lastModified' | 'resourceType' | 'version' | 'location' | undefined;
      return metaName === undefined ? undefined : { kind: 'meta', name: metaName };
    }
  }
  const definition = schemaDefinition(schemaId);
  const found = definition === undefined ? undefined : findAttribute(definition.attributes, head);
  if (found === undefined) return undefined;
  if (sub === undefined)
    return {
      kind: 'attribute',
      schema: schemaId,
      extension: schemaId !== resource.schema,
      attribute: found,
      sub: undefined,
    };
  const subAttribute = findAttribute(found.subAttributes ?? [], sub);
  if (subAttribute === undefined) return undefined;
  return {
    kind: 'attribute',
    schema: schemaId,
    extension: schemaId !== resource.schema,
    attribute: found,
    sub: subAttribute,
  };
}

/** A sub-attribute of a complex attribute, by name in any case. */
export function subAttribute(parent: ScimAttribute, name: string): ScimAttribute | undefined {
  return findAttribute(parent.subAttributes ?? [], name);
}

/** An attribute of a schema, by name in any case. */
export function schemaAttribute(schemaId: string, name: string): ScimAttribute | undefined {
  const definition = schemaDefinition(schemaId);
  return definition === undefined ? undefined : findAttribute(definition.attributes, name);
}

/** The limits this server enforces, also announced in /ServiceProviderConfig. */
export interface ScimLimits {
  /** The largest request body (bytes). */
  maxBodyBytes: number;
  /** The most resources one list answers (count is capped at it). */
  maxResults: number;
  /** The longest filter expression (characters). */
  maxFilterLength: number;
  /** The most PATCH operations in one request. */
  maxOperations: number;
}

export const defaultScimLimits: ScimLimits = {
  maxBodyBytes: 2 * 1024 * 1024,
  maxResults: 1000,
  maxFilterLength: 4096,
  maxOperations: 1000,
};

/** GET /ServiceProviderConfig (RFC 7643 §5). */
export function serviceProviderConfig(baseUrl: string, limits: ScimLimits) {
  return {
    schemas: [SCHEMA.serviceProviderConfig],
    documentationUri: 'https://github.com/joinery/joinery/blob/main/docs/scim-server.md',
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: limits.maxResults },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'OAuth Bearer Token',
        description: 'A SCIM token of one application, issued with POST /v1/applications/:id/scim-tokens.',
        specUri: 'https://www.rfc-editor.org/info/rfc6750',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${baseUrl}/ServiceProviderConfig` },
  };
}

/** A schema as GET /Schemas serves it (RFC 7643 §7). */
export function schemaResource(definition: SchemaDefinition, baseUrl: string) {
  return {
    schemas: [SCHEMA.schema],
    id: definition.id,
    name: definition.name,
    description: definition.description,
    attributes: definition.attributes,
    meta: { resourceType: 'Schema', location: `${baseUrl}/Schemas/${definition.id}` },
  };
}

/** A resource type as GET /ResourceTypes serves it (RFC 7643 §6). */
export function resourceTypeResource(definition: ResourceTypeDefinition, baseUrl: string) {
  return {
    schemas: [SCHEMA.resourceType],
    id: definition.name,
    name: definition.name,
    endpoint: definition.endpoint,
    description: definition.name === 'User' ? 'User Account' : 'Group',
    schema: definition.schema,
    schemaExtensions: definition.extensions.map((schema) => ({ schema, required: false })),
    meta: { resourceType: 'ResourceType', location: `${baseUrl}/ResourceTypes/${definition.name}` },
  };
}
