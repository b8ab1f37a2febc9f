// What an administrator configures for a SIEM destination (PUT /v1/siem/destinations/:id), one schema per
// kind. Secrets — a webhook's HMAC key, a syslog TLS client key — are write-only: stored wrapped by the
// master key, never answered nor logged.
import { Type, type Static } from '@fastify/type-provider-typebox';

export const siemFormats = ['ocsf', 'cef', 'ecs'] as const;
export type SiemFormat = (typeof siemFormats)[number];

const Pem = (description: string) =>
  Type.String({ minLength: 1, maxLength: 65_536, pattern: '^-----BEGIN ', description });
const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\x00-\\x1f]+$' });
// Listed, not mapped from siemFormats: TypeBox types a union built from an array as never.
const Format = Type.Union([Type.Literal('ocsf'), Type.Literal('cef'), Type.Literal('ecs')], {
  description: 'The payload: OCSF JSON, CEF, or Elastic ECS JSON.',
});
const Enabled = Type.Optional(
  Type.Boolean({ description: 'Default true; a disabled destination keeps its position.' }),
);

export const SyslogSettingsSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:_-]+$' }),
    port: Type.Integer({ minimum: 1, maximum: 65_535 }),
    facility: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 23, description: 'Default 13 (log audit).' }),
    ),
    appName: Type.Optional(Type.String({ minLength: 1, maxLength: 48, pattern: '^[\\x21-\\x7e]+$' })),
    tls: Type.Optional(
      Type.Object(
        {
          ca: Type.Optional(
            Pem('The CA certificates the collector is verified with; default: the system store.'),
          ),
          cert: Type.Optional(Pem('A client certificate, for collectors that require one.')),
          serverName: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type SyslogSettings = Static<typeof SyslogSettingsSchema>;

export const KafkaSettingsSchema = Type.Object(
  {
    topic: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 249,
        pattern: '^[A-Za-z0-9._-]+$',
        description: "Default: the topic prefix's siem, e.g. joinery.siem.",
      }),
    ),
  },
  { additionalProperties: false },
);
export type KafkaSettings = Static<typeof KafkaSettingsSchema>;

export const WebhookSettingsSchema = Type.Object(
  {
    url: Type.String({ minLength: 9, maxLength: 2048, pattern: '^https://' }),
    ca: Type.Optional(
      Pem("The CA certificates the receiver's certificate is verified with; default: the system store."),
    ),
    batchSize: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, description: 'Events per request, default 100.' }),
    ),
  },
  { additionalProperties: false },
);
export type WebhookSettings = Static<typeof WebhookSettingsSchema>;

export const DestinationBodySchema = Type.Union([
  Type.Object(
    {
      kind: Type.Literal('syslog'),
      name: Name,
      format: Format,
      enabled: Enabled,
      settings: SyslogSettingsSchema,
      tlsKey: Type.Optional(Pem('The private key of settings.tls.cert (write-only).')),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('kafka'),
      name: Name,
      format: Format,
      enabled: Enabled,
      settings: KafkaSettingsSchema,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('webhook'),
      name: Name,
      format: Format,
      enabled: Enabled,
      settings: WebhookSettingsSchema,
      secret: Type.Optional(
        Type.String({
          minLength: 32,
          maxLength: 512,
          description: 'The HMAC-SHA256 key (write-only); required when creating, kept when omitted.',
        }),
      ),
    },
    { additionalProperties: false },
  ),
]);
export type DestinationBody = Static<typeof DestinationBodySchema>;

/** A destination as the delivery worker uses it: settings, and its secret opened. */
export type SiemDestination = {
  id: string;
  tenantId: string;
  name: string;
  format: SiemFormat;
  createdAt: Date;
  updatedAt: Date;
} & (
  | { kind: 'syslog'; settings: SyslogSettings; secret: string | undefined }
  | { kind: 'kafka'; settings: KafkaSettings; secret: undefined }
  | { kind: 'webhook'; settings: WebhookSettings; secret: string }
);
