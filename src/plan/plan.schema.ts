// The sync plan: a tenant's whole configuration as one declarative document (YAML or JSON) — the Vault's
// attributes, the applications with their schemas, joining rules, mappers and filters, classifications
// and rules. One schema, from which the TypeScript types, validation and the published JSON Schema come.
import { Type, type Static } from 'typebox';

const strict = { additionalProperties: false } as const;
const Name = (description: string) => Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_-]{0,63}$', description });
const AttributeName = Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,127}$' });

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

export const ApplicationPlanSchema = Type.Object(
  {
    name: Name('Unique in the plan.'),
    type: Type.Enum(['ldap', 'active-directory', 'csv', 'scim', 'sql']),
    mode: Type.Optional(Type.Enum(['sandbox', 'approval', 'live'])),
    createsIdentities: Type.Optional(
      Type.Boolean({ description: 'An unjoined object projects a new identity (an authoritative source).' }),
    ),
    objectClasses: Type.Record(
      Name('An object class, e.g. user, group, contact.'),
      Type.Object({ attributes: Type.Record(AttributeName, ApplicationAttributeSchema) }, strict),
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
  },
  strict,
);

export const SyncPlanSchema = Type.Object(
  {
    version: Type.Literal(1, { description: 'The plan format version.' }),
    vault: Type.Object({ attributes: Type.Record(AttributeName, AttributeSpecSchema) }, strict),
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
    rules: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 128 }),
            when: ExpressionSchema,
            set: Type.Record(AttributeName, ExpressionSchema, { description: 'Vault attribute → value.' }),
          },
          strict,
        ),
      ),
    ),
  },
  strict,
);

export type SyncPlan = Static<typeof SyncPlanSchema>;
export type ApplicationPlan = Static<typeof ApplicationPlanSchema>;
export type AttributeSpec = Static<typeof AttributeSpecSchema>;
