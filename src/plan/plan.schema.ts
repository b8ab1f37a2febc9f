// The sync plan: a tenant's whole configuration as one declarative document (YAML or JSON) — the Vault's
// attributes, the applications with their schemas, joining rules, mappers and filters, classifications
// and rules. One schema, from which the TypeScript types, validation and the published JSON Schema come.
import { Type, type Static } from 'typebox';

const strict = { additionalProperties: false } as const;
const Name = (description: string) => Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_-]{0,63}$', description });
const AttributeName = Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,127}$' });
/**
 * A record keyed by a pattern only checks the keys that match it (patternProperties): without this, a key
 * that does not match passes with any value unchecked.
 */
const namedKeysOnly = { additionalProperties: false } as const;

/** A CEL expression (https://cel.dev), compiled once per plan version and type-checked against the schema. */
export const ExpressionSchema = Type.String({
  minLength: 1,
  maxLength: 4096,
  description: 'A CEL expression.',
});

export const attributeTypes = ['string', 'int', 'bool', 'double', 'bytes', 'timestamp'] as const;

export const AttributeSpecSchema = Type.Object(
  {
    type: Type.Optional(Type.Enum(attributeTypes, { description: 'Default: string.' })),
    multiValued: Type.Optional(Type.Boolean({ description: 'A list of values (e.g. proxyAddresses).' })),
    sensitive: Type.Optional(Type.Boolean({ description: 'Never logged nor shown in audit history.' })),
  },
  strict,
);

export const ApplicationAttributeSchema = Type.Object(
  {
    ...AttributeSpecSchema.properties,
    direction: Type.Optional(
      Type.Enum(['in', 'out', 'both'], {
        description: 'in (the default): read into the Vault; out: written by Joinery; both.',
      }),
    ),
  },
  strict,
);

const MatchSchema = Type.Object(
  {
    source: AttributeName,
    vault: AttributeName,
    ignoreCase: Type.Optional(Type.Boolean()),
  },
  { ...strict, description: 'source attribute = Vault attribute' },
);

export const JoiningRuleSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    all: Type.Optional(
      Type.Array(MatchSchema, { minItems: 1, description: 'Every comparison must hold (AND).' }),
    ),
    any: Type.Optional(
      Type.Array(MatchSchema, { minItems: 1, description: 'One comparison must hold (OR).' }),
    ),
  },
  strict,
);

export const InboundMapperSchema = Type.Object(
  {
    vault: AttributeName,
    from: Type.Optional(AttributeName),
    expression: Type.Optional(ExpressionSchema),
    authority: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1000,
        description: 'Higher wins when several applications supply it.',
      }),
    ),
  },
  strict,
);

export const OutboundMapperSchema = Type.Object(
  {
    target: AttributeName,
    from: Type.Optional(AttributeName),
    expression: Type.Optional(ExpressionSchema),
  },
  strict,
);

export const objectKinds = ['user', 'group', 'contact'] as const;

export const GroupExportSchema = Type.Object(
  {
    objectClass: Name('The object class (of kind group) the groups are written as here.'),
    from: Type.Array(Name('An application whose groups are written here.'), { minItems: 1 }),
    memberReference: Type.Optional(
      Type.Enum(['dn', 'externalId'], {
        description:
          "How a member is named here: its object's dn attribute (the default for ldap and active-directory) or its external id.",
      }),
    ),
    attributes: Type.Optional(
      Type.Record(AttributeName, ExpressionSchema, {
        ...namedKeysOnly,
        description: "Group attribute here → a CEL expression over `group` (the source group's attributes).",
      }),
    ),
  },
  {
    ...strict,
    description: 'This application receives the Vault groups of other applications, with their members.',
  },
);

/** How a `type: csv` application's files are read (src/connectors/csv/). */
export const CsvSettingsSchema = Type.Object(
  {
    externalId: AttributeName,
    objectClass: Type.Optional(Name("The object class of the file's rows (default: the only one declared).")),
    delimiter: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1, description: 'The field separator (default ",").' }),
    ),
    quote: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1, description: "The quote character (default '\"')." }),
    ),
    encoding: Type.Optional(
      Type.Enum(['auto', 'utf-8', 'utf-16le', 'utf-16be', 'windows-1252', 'iso-8859-1'], {
        description:
          "The file's character encoding (default auto: a byte order mark says UTF-8 or UTF-16, else UTF-8).",
      }),
    ),
    columns: Type.Optional(
      Type.Record(Type.String({ minLength: 1, maxLength: 256 }), AttributeName, {
        description: 'Header names mapped to attribute names (a header not mapped is its own name).',
      }),
    ),
    dates: Type.Optional(
      Type.Record(AttributeName, Type.String({ minLength: 1, maxLength: 64 }), {
        description:
          'Attributes read as dates in a date-fns format (e.g. dd/MM/yyyy), sent as ISO 8601 (yyyy-MM-dd, or a full timestamp when the format has a time).',
      }),
    ),
    onError: Type.Optional(
      Type.Enum(['skip', 'fail'], {
        description:
          'A malformed row is reported with its line and skipped (default; the run then detects no deletions), or fails the run.',
      }),
    ),
    maxErrors: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 100000,
        description: 'More malformed rows than this fail the run (default 1000).',
      }),
    ),
    watch: Type.Optional(
      Type.Object(
        {
          directory: Type.String({
            minLength: 1,
            maxLength: 4096,
            description:
              'An absolute path on the engine\'s host: the files dropped there are imported, oldest first, once complete (docs/connectors.md, "Watched folder").',
          }),
          pattern: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 256,
              description: 'The names of the files to import, a glob (default *.csv).',
            }),
          ),
          pollSeconds: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 86400,
              description:
                'How often the directory is looked at (default 30); a file is complete once unchanged across two looks.',
            }),
          ),
        },
        { ...strict, description: 'A directory the engine imports files from as they arrive.' },
      ),
    ),
  },
  { ...strict, description: 'How the files of a csv application are read (docs/connectors.md).' },
);
export type CsvSettings = Static<typeof CsvSettingsSchema>;

/** A secret named, never written, in a plan: `env:NAME` is read from the engine's environment (src/connectors/connector-secrets.ts). */
const SecretReference = (description: string) =>
  Type.String({ pattern: '^env:[A-Za-z_][A-Za-z0-9_]{0,127}$', maxLength: 132, description });

/** SCIM attribute paths per application attribute, e.g. { mail: 'emails[type eq "work"].value' }. */
const ScimAttributeMap = Type.Record(AttributeName, Type.String({ minLength: 1, maxLength: 512 }), {
  ...namedKeysOnly,
  description:
    'Application attribute → SCIM attribute path (a, a.b, a[type eq "work"].b, or a schema URN then :a), added to and overriding the default mapping.',
});

/** How a `type: scim` application is reached and written (src/connectors/scim/, docs/connectors.md). */
export const ScimSettingsSchema = Type.Object(
  {
    baseUrl: Type.String({
      minLength: 8,
      maxLength: 2048,
      description: 'The SCIM service root, e.g. https://api.slack.com/scim/v2 (https, or http on loopback).',
    }),
    auth: Type.Object(
      {
        bearer: Type.Optional(SecretReference('A bearer token, as env:NAME.')),
        oauth2: Type.Optional(
          Type.Object(
            {
              tokenUrl: Type.String({ minLength: 8, maxLength: 2048 }),
              clientId: Type.String({ minLength: 1, maxLength: 512 }),
              clientSecret: SecretReference('The client secret, as env:NAME.'),
              scope: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
            },
            {
              ...strict,
              description: 'OAuth2 client credentials: a token fetched, and cached until it expires.',
            },
          ),
        ),
      },
      { ...strict, description: 'Exactly one of bearer and oauth2.' },
    ),
    timeoutSeconds: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 300, description: 'Per request (default 30).' }),
    ),
    concurrency: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 64,
        description: 'Operations delivered at once, per engine process (default 4).',
      }),
    ),
    pageSize: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        description: 'Resources per page when importing (default 100).',
      }),
    ),
    update: Type.Optional(
      Type.Enum(['patch', 'put'], {
        description:
          'patch (default): PATCH the changed attributes; put: read the resource and PUT it whole.',
      }),
    ),
    delete: Type.Optional(
      Type.Enum(['delete', 'deactivate'], {
        description: 'delete (default): DELETE the user; deactivate: set active to false instead.',
      }),
    ),
    groupMembers: Type.Optional(
      Type.Enum(['patch', 'patch-one-per-operation', 'replace'], {
        description:
          'patch (default): one PATCH adding and removing members; patch-one-per-operation: one member per operation; replace: the whole member list replaced.',
      }),
    ),
    delta: Type.Optional(
      Type.Enum(['lastModified', 'none'], {
        description:
          'lastModified (default): a delta import asks for meta.lastModified gt the last run; none: every import is full.',
      }),
    ),
    users: Type.Optional(
      Type.Object(
        {
          objectClass: Type.Optional(
            Name('The object class written as SCIM Users (default: the user class).'),
          ),
          match: Type.Optional(
            Type.String({
              minLength: 0,
              maxLength: 1024,
              description:
                'A SCIM filter finding an existing user before creating one, {attribute} replaced by its value (default userName eq "{userName}"); "" to never match.',
            }),
          ),
          attributes: Type.Optional(ScimAttributeMap),
        },
        strict,
      ),
    ),
    groups: Type.Optional(
      Type.Object(
        {
          objectClass: Type.Optional(
            Name('The object class written as SCIM Groups (default: the group class).'),
          ),
          match: Type.Optional(
            Type.String({
              minLength: 0,
              maxLength: 1024,
              description: 'Default displayName eq "{displayName}"; "" to never match.',
            }),
          ),
          attributes: Type.Optional(ScimAttributeMap),
        },
        strict,
      ),
    ),
  },
  { ...strict, description: 'How a scim application is reached (docs/connectors.md, "SCIM 2.0").' },
);
export type ScimSettings = Static<typeof ScimSettingsSchema>;

/** A column or table name as written in SQL: checked against a strict pattern, then quoted by the connector. */
const SqlIdentifier = (description: string) =>
  Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$', description });
/** A table, optionally in a schema (PostgreSQL) or database (MySQL): `people` or `hr.people`. */
const SqlTable = (description: string) =>
  Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}(\\.[A-Za-z_][A-Za-z0-9_]{0,62})?$', description });

/** How a `type: sql` application is reached, read and written (src/connectors/sql/, docs/connectors.md). */
export const SqlSettingsSchema = Type.Object(
  {
    dialect: Type.Enum(['postgresql', 'mysql'], {
      description: 'postgresql, or mysql (MySQL and MariaDB).',
    }),
    connection: SecretReference(
      'The connection URL (postgresql://user:password@host:5432/db or mysql://user:password@host:3306/db), as env:NAME: never written in the plan, never logged.',
    ),
    objectClass: Type.Optional(
      Name(
        'The object class its rows are read as and written from (default: export.objectClass, else the first user class).',
      ),
    ),
    timeoutSeconds: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 600, description: 'Connecting and each statement (default 30).' }),
    ),
    concurrency: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 32,
        description: 'Operations written at once, per engine process (default 4); the pool holds one more.',
      }),
    ),
    source: Type.Optional(
      Type.Object(
        {
          query: Type.Optional(
            Type.String({
              minLength: 8,
              maxLength: 16384,
              description:
                'One SELECT (or WITH … SELECT) whose columns are the attributes, without ";" or placeholders. Exactly one of query and table.',
            }),
          ),
          table: Type.Optional(
            SqlTable('A table or view read whole (select *). Exactly one of query and table.'),
          ),
          key: SqlIdentifier("The column holding each row's unique key: its external id."),
          changedColumn: Type.Optional(
            SqlIdentifier(
              'A column that grows whenever a row changes (a timestamp or a version number): a delta import reads the rows where it is above the last run’s highest value, less changedOverlap.',
            ),
          ),
          changedOverlap: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: 2_147_483_647,
              description:
                'How far back before the last run’s highest change value each delta reads again, so a row committed late with an older value is not missed: seconds for a date or timestamp column (default 300), values for a number column (default 0). Rows read again unchanged change nothing.',
            }),
          ),
          pageSize: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 10000,
              description: 'Rows per page when importing (default 500).',
            }),
          ),
        },
        { ...strict, description: 'The application as a source: what is imported.' },
      ),
    ),
    target: Type.Optional(
      Type.Object(
        {
          table: SqlTable('The table rows are inserted into, updated and deleted from.'),
          key: SqlIdentifier(
            'The column identifying a row (its external id): set from the attribute mapped to it, else generated by the database (serial, identity, auto_increment).',
          ),
          columns: Type.Optional(
            Type.Record(AttributeName, SqlIdentifier('A column.'), {
              ...namedKeysOnly,
              description:
                'Application attribute → column, for attributes whose column has another name (default: the column named as the attribute).',
            }),
          ),
          disabledColumn: Type.Optional(
            SqlIdentifier('A boolean column set true to disable the row, false to enable it.'),
          ),
          activeColumn: Type.Optional(
            SqlIdentifier(
              'A boolean column set false to disable the row, true to enable it (instead of disabledColumn).',
            ),
          ),
          delete: Type.Optional(
            Type.Enum(['delete', 'disable'], {
              description:
                'delete (default): the row is deleted; disable: it is kept, disabled through disabledColumn or activeColumn.',
            }),
          ),
        },
        { ...strict, description: 'The application as a target: what exports write.' },
      ),
    ),
  },
  { ...strict, description: 'How a sql application is reached (docs/connectors.md, "SQL tables").' },
);
export type SqlSettings = Static<typeof SqlSettingsSchema>;

export const ApplicationPlanSchema = Type.Object(
  {
    name: Name('Unique in the plan.'),
    type: Type.Enum(['ldap', 'active-directory', 'csv', 'scim', 'sql']),
    connector: Type.Optional(
      Type.Enum(['external'], {
        description:
          'external: the connector runs outside Joinery and talks over Kafka — it sends its import runs to the imports topic, takes its exports from the exports topic and answers each on export-results (docs/connectors.md, "External connectors over Kafka"). For scim and sql applications; absent: Joinery\'s own connector for the type.',
      }),
    ),
    mode: Type.Optional(
      Type.Enum(['sandbox', 'approval', 'live'], {
        description:
          'sandbox (the default): nothing leaves, exports are a report of what would change; approval: exports wait for an administrator; live.',
      }),
    ),
    createsIdentities: Type.Optional(
      Type.Boolean({ description: 'An unjoined object projects a new identity (an authoritative source).' }),
    ),
    objectClasses: Type.Record(
      Name('An object class, e.g. user, group, contact.'),
      Type.Object(
        {
          kind: Type.Optional(
            Type.Enum(objectKinds, {
              description:
                'user (the default) and contact objects join identities; group objects become Vault groups.',
            }),
          ),
          members: Type.Optional(
            Type.String({
              ...AttributeName,
              description: 'kind group: the attribute holding the member references (DNs or external ids).',
            }),
          ),
          attributes: Type.Record(AttributeName, ApplicationAttributeSchema, namedKeysOnly),
          multipleJoins: Type.Optional(
            Type.Boolean({
              description:
                "An identity may hold several objects of this class here (e.g. admin accounts). Default: false, or true for an application that createsIdentities. Otherwise a joining rule's second match for one identity is held as a join conflict for an administrator.",
            }),
          ),
        },
        strict,
      ),
      namedKeysOnly,
    ),
    joining: Type.Optional(
      Type.Array(JoiningRuleSchema, { description: 'Tried in order after the hard join.' }),
    ),
    inbound: Type.Optional(Type.Array(InboundMapperSchema)),
    outbound: Type.Optional(Type.Array(OutboundMapperSchema)),
    filters: Type.Optional(
      Type.Object(
        {
          import: Type.Optional(ExpressionSchema),
          inbound: Type.Optional(ExpressionSchema),
          outbound: Type.Optional(ExpressionSchema),
        },
        strict,
      ),
    ),
    classifications: Type.Optional(
      Type.Array(Type.Integer(), {
        description: 'Identities of these classifications belong in this application.',
      }),
    ),
    lifecycle: Type.Optional(
      Type.Object(
        {
          status: Type.Optional(
            Type.String({
              ...ExpressionSchema,
              description:
                'A CEL expression over `source` giving "active", "disabled" or "left": the identity\'s lifecycle as this (authoritative) application states it.',
            }),
          ),
          leaveOnDelete: Type.Optional(
            Type.Boolean({ description: 'The object deleted in the application: its identity leaves.' }),
          ),
        },
        strict,
      ),
    ),
    deletionGuard: Type.Optional(
      Type.Object(
        {
          maxCount: Type.Optional(
            Type.Integer({
              minimum: 0,
              description:
                'A completed full run deleting more objects of one class than this is held (default 500).',
            }),
          ),
          maxPercent: Type.Optional(
            Type.Number({
              minimum: 0,
              maximum: 100,
              description:
                'A completed full run deleting more than this percentage of the objects of one class is held, where the application holds more than 100 of them (default 20). Also the percentage of the export guard.',
            }),
          ),
        },
        {
          ...strict,
          description:
            'Deletion guard (docs/configuration.md): a full run whose deletions pass a limit deletes nothing and makes no leavers until an administrator releases it.',
        },
      ),
    ),
    csv: Type.Optional(CsvSettingsSchema),
    scim: Type.Optional(ScimSettingsSchema),
    sql: Type.Optional(SqlSettingsSchema),
    export: Type.Optional(
      Type.Object(
        {
          objectClass: Type.Optional(Name('The object class Joinery creates (default: the first declared).')),
          deprovision: Type.Optional(
            Type.Enum(['disable', 'delete', 'keep'], {
              description:
                "What happens to the object of an identity that no longer belongs here (default disable). A deleted identity's object is always deleted.",
            }),
          ),
          passwords: Type.Optional(Type.Boolean({ description: 'Password changes are written here.' })),
          groups: Type.Optional(GroupExportSchema),
          deletionThreshold: Type.Optional(
            Type.Integer({
              minimum: 0,
              description:
                'Mass-deletion protection: more deletes, disables and deprovisioning than this within 24 hours are held for approval (default 100); so are more than deletionGuard.maxPercent (default 20%) of the objects the application holds, where it holds more than 100.',
            }),
          ),
          maxAttempts: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 100,
              description: 'Delivery attempts before failing (default 8).',
            }),
          ),
          leaseSeconds: Type.Optional(
            Type.Integer({
              minimum: 10,
              maximum: 86_400,
              description:
                'connector: external only: how long a published export waits for its result before it is published again with the same exportId and the next attempt, 10 s to 24 h (default 300).',
            }),
          ),
        },
        strict,
      ),
    ),
    schedules: Type.Optional(
      Type.Array(
        Type.Object(
          {
            kind: Type.Enum(['full', 'delta'], { description: 'Which import runs.' }),
            everyMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 10080 })),
            cron: Type.Optional(
              Type.String({
                minLength: 9,
                maxLength: 128,
                description: 'Five-field cron, e.g. "0 2 * * *".',
              }),
            ),
          },
          strict,
        ),
      ),
    ),
  },
  strict,
);

export const SyncPlanSchema = Type.Object(
  {
    version: Type.Literal(1, { description: 'The plan format version.' }),
    vault: Type.Object(
      { attributes: Type.Record(AttributeName, AttributeSpecSchema, namedKeysOnly) },
      strict,
    ),
    applications: Type.Array(ApplicationPlanSchema, { minItems: 1 }),
    classifications: Type.Optional(
      Type.Array(
        Type.Object(
          {
            value: Type.Integer({ minimum: 0, description: 'The one integer an identity is classified as.' }),
            name: Type.String({ minLength: 1, maxLength: 128 }),
            when: ExpressionSchema,
          },
          strict,
        ),
        { description: 'Tried in order; the first whose condition holds classifies the identity.' },
      ),
    ),
    lifecycle: Type.Optional(
      Type.Object(
        {
          deletionDelayDays: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: 36500,
              description: 'Days between leaving and deletion (default 90); a return within them cancels it.',
            }),
          ),
        },
        strict,
      ),
    ),
    rules: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 128 }),
            when: ExpressionSchema,
            set: Type.Record(AttributeName, ExpressionSchema, {
              ...namedKeysOnly,
              description: 'Vault attribute → value.',
            }),
          },
          strict,
        ),
      ),
    ),
    audit: Type.Optional(
      Type.Object(
        {
          retentionDays: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 3650,
              description:
                "Days this tenant's audit history is kept (default: the service's audit.retentionDays).",
            }),
          ),
        },
        { ...strict, description: "The tenant's audit history (docs/audit.md)." },
      ),
    ),
  },
  strict,
);

export type SyncPlan = Static<typeof SyncPlanSchema>;
export type ApplicationPlan = Static<typeof ApplicationPlanSchema>;
export type ApplicationMode = NonNullable<ApplicationPlan['mode']>;

/** An application's mode: sandbox when the plan names none (nothing leaves until someone says so). */
export function applicationMode(application: Pick<ApplicationPlan, 'mode'>): ApplicationMode {
  return application.mode ?? 'sandbox';
}

/** The object class an application writes identities as: `export.objectClass`, else its first declared class. */
export function exportClassOf(
  application: Pick<ApplicationPlan, 'export' | 'objectClasses'>,
): string | undefined {
  return application.export?.objectClass ?? Object.keys(application.objectClasses)[0];
}
export type AttributeSpec = Static<typeof AttributeSpecSchema>;
export type JoiningRule = Static<typeof JoiningRuleSchema>;
export type GroupExport = Static<typeof GroupExportSchema>;

export const PLAN_SCHEMA_FILE = 'joinery.sync-plan.v1.json';

/**
 * The sync plan's JSON Schema as published (docs/schemas/joinery.sync-plan.v1.json, `joinery schemas`):
 * draft 2020-12 with $id, title and description, for editors and CI checks of plan files. The checks the
 * schema cannot express (references between sections, expressions) are `joinery plan validate`'s.
 */
export function publishedPlanSchema(): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `https://joinery.dev/schemas/${PLAN_SCHEMA_FILE}`,
    title: 'Joinery sync plan',
    description:
      "A tenant's configuration: applications, joining rules, mappers, filters, classifications, rules, schedules. `joinery plan validate FILE` also checks references and compiles expressions.",
    ...(JSON.parse(JSON.stringify(SyncPlanSchema)) as Record<string, unknown>),
  };
}

export function planSchemaFileContent(): string {
  return `${JSON.stringify(publishedPlanSchema(), null, 2)}\n`;
}
