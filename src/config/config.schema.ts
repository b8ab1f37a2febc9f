// The service configuration: one schema, from which the TypeScript type, the defaults, validation and
// docs/configuration.md's reference are all derived.
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { logFormats } from '../../kernel/logger.ts';
import { logLevels } from '../../kernel/log-settings.ts';

const strict = { additionalProperties: false } as const;

const rate = (max: number, windowSeconds: number, what: string) =>
  Type.Object(
    {
      max: Type.Integer({ default: max, minimum: 1, description: `Most ${what} in one window.` }),
      windowSeconds: Type.Integer({
        default: windowSeconds,
        minimum: 1,
        maximum: 86_400,
        description: 'Length of the window, in seconds.',
      }),
    },
    { ...strict, default: {} },
  );

/** Abuse limits of the API and the agent channel (docs/security.md, Abuse limits). Per API process. */
export const LimitsSchema = Type.Object(
  {
    failedAuthentication: rate(
      20,
      60,
      'requests with a missing, unknown or revoked API key from one source address (then 429)',
    ),
    planApply: rate(10, 60, 'plan applications (PUT /v1/plan) of one tenant'),
    syncRequests: rate(
      60,
      60,
      'run requests and rejoins (POST /v1/applications/:id/runs and /rejoin) of one tenant',
    ),
    search: rate(
      600,
      60,
      'searches (GET /v1/identities, /v1/groups, /v1/applications/:id/objects) of one tenant',
    ),
    agentConnectionsPerAddress: Type.Integer({
      default: 32,
      minimum: 1,
      description: 'Most agent channel WebSockets open from one source address, authenticated or not.',
    }),
    agentConnectionsPerTenant: Type.Integer({
      default: 64,
      minimum: 1,
      description: "Most authenticated agent channel WebSockets of one tenant's connectors.",
    }),
    streamSocketsPerTenant: Type.Integer({
      default: 64,
      minimum: 1,
      description: 'Most live stream WebSockets (GET /v1/streams) open for one tenant on one API process.',
    }),
    streamSocketsPerAddress: Type.Integer({
      default: 32,
      minimum: 1,
      description: 'Most live stream WebSockets open from one source address on one API process.',
    }),
    agentUnauthenticatedBytes: Type.Integer({
      default: 65_536,
      minimum: 4096,
      description:
        'Most bytes an agent channel WebSocket may send before it has authenticated (the hello frame is ~1 KiB).',
    }),
  },
  { ...strict, default: {} },
);

export type Limits = Static<typeof LimitsSchema>;

/** The limits with every default, for an API or gateway built without the service config (tests). */
export function defaultLimits(): Limits {
  return Value.Parse(LimitsSchema, Value.Default(LimitsSchema, {}));
}

/** The defaults of the plan check (plan.*), which the API also uses when built without a configuration. */
export const planCheckDefaults = { checkTimeoutMs: 10_000, checkMemoryMb: 256 } as const;

export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({
      default: '.joinery',
      minLength: 1,
      description: 'Directory for local state: the embedded PostgreSQL data and generated secrets.',
    }),
    http: Type.Object(
      {
        host: Type.String({ default: '127.0.0.1', minLength: 1, description: 'Address the API listens on.' }),
        port: Type.Integer({
          default: 8080,
          minimum: 0,
          maximum: 65535,
          description: 'API port (0 picks a free one).',
        }),
        trustProxy: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
          default: [],
          description:
            'Addresses or CIDR ranges of reverse proxies whose X-Forwarded-For names the client (docs/security.md, Abuse limits); none by default: the client is the TCP peer.',
        }),
        tls: Type.Object(
          {
            certFile: Type.Optional(
              Type.String({
                minLength: 1,
                description:
                  'PEM file of the certificate (with its chain) the API serves HTTPS with; set with keyFile, or neither (plain HTTP).',
              }),
            ),
            keyFile: Type.Optional(
              Type.String({
                minLength: 1,
                description: "PEM file of the certificate's private key; set with certFile, or neither.",
              }),
            ),
            minVersion: Type.Enum(['TLSv1.2', 'TLSv1.3'], {
              default: 'TLSv1.2',
              description: 'Oldest TLS version the API accepts.',
            }),
          },
          { ...strict, default: {} },
        ),
      },
      { ...strict, default: {} },
    ),
    database: Type.Object(
      {
        url: Type.Optional(
          Type.String({
            pattern: '^postgres(ql)?://',
            description: 'PostgreSQL URL. When absent, Joinery runs an embedded PostgreSQL under dataDir.',
          }),
        ),
        migrateOnStart: Type.Optional(
          Type.Boolean({
            description:
              'Apply pending migrations at start-up. Default: true with the embedded database, false otherwise.',
          }),
        ),
        poolSize: Type.Integer({
          default: 10,
          minimum: 1,
          maximum: 200,
          description:
            "Maximum connections in the main thread's pool (each engine worker thread has half, at least 2).",
        }),
        tenantRole: Type.String({
          default: 'joinery_tenant',
          pattern: '^[a-z_][a-z0-9_]{0,62}$',
          description:
            'The role the API runs each request as (SET ROLE), under row-level security: created nologin nobypassrls by migrations when the connecting role may, else by a DBA (docs/operations.md, Database roles).',
        }),
        embeddedPort: Type.Integer({
          default: 0,
          minimum: 0,
          maximum: 65535,
          description: 'Port of the embedded PostgreSQL (0 picks a free one).',
        }),
      },
      { ...strict, default: {} },
    ),
    kafka: Type.Object(
      {
        brokers: Type.Optional(
          Type.Array(Type.String({ pattern: '^[^\\s:/]+:\\d+$' }), {
            minItems: 1,
            description: 'Kafka bootstrap brokers (host:port). When absent, the embedded bus is used.',
          }),
        ),
        clientId: Type.String({ default: 'joinery', minLength: 1, description: 'Kafka client id.' }),
        topicPrefix: Type.String({
          default: 'joinery.',
          pattern: '^[A-Za-z0-9._-]*$',
          description: 'Prefix of every Joinery topic name.',
        }),
        partitions: Type.Integer({
          default: 12,
          minimum: 1,
          maximum: 1000,
          description:
            'Partitions of the high-volume keyed topics (imports, identity, outbound, exports); the most engine processes that can share the work.',
        }),
        replicationFactor: Type.Integer({
          default: 1,
          minimum: 1,
          maximum: 10,
          description: 'Replication factor of topics Joinery creates (3 on a production cluster).',
        }),
      },
      { ...strict, default: {} },
    ),
    engine: Type.Object(
      {
        groupId: Type.String({
          default: 'joinery-engine',
          minLength: 1,
          description: 'Consumer group of the engine; processes with the same group share the partitions.',
        }),
        actorCacheSize: Type.Integer({
          default: 50_000,
          minimum: 0,
          description: 'Identity actors kept hydrated in memory (LRU); idle ones beyond it are passivated.',
        }),
        sessionTimeoutMs: Type.Integer({
          default: 30_000,
          minimum: 6000,
          maximum: 300_000,
          description:
            'How long a silent engine process keeps its partitions before the others take them over.',
        }),
        maxBatchSize: Type.Integer({
          default: 2000,
          minimum: 1,
          maximum: 100_000,
          description: 'Most messages of one partition processed in one transaction.',
        }),
        importThreads: Type.Integer({
          default: 2,
          minimum: 1,
          maximum: 16,
          description:
            "Worker threads of the Import stage in each engine process; they share the imports topic's partitions.",
        }),
      },
      { ...strict, default: {} },
    ),
    audit: Type.Object(
      {
        retentionDays: Type.Integer({
          default: 90,
          minimum: 1,
          maximum: 3650,
          description:
            "Days the audit history is kept; a tenant's sync plan may set its own (audit.retentionDays there).",
        }),
        consumer: Type.Boolean({
          default: true,
          description:
            "Run the audit history's consumer (logstream → audit_event) in this process. Turn it off in processes that should not store the history (other processes of the same group do); with no process running it, the history is not written.",
        }),
      },
      { ...strict, default: {} },
    ),
    log: Type.Object(
      {
        level: Type.Enum(logLevels, { default: 'info', description: 'Minimum log level.' }),
        format: Type.Enum(logFormats, {
          default: 'auto',
          description:
            'auto: one readable line per event when standard output is a terminal, JSON lines otherwise; json; pretty.',
        }),
      },
      { ...strict, default: {} },
    ),
    plan: Type.Object(
      {
        checkTimeoutMs: Type.Integer({
          default: planCheckDefaults.checkTimeoutMs,
          minimum: 100,
          maximum: 600_000,
          description:
            'Longest the check of a submitted sync plan may take (parsing, validation, compiling its expressions, in a worker thread); a plan that takes longer is refused.',
        }),
        checkMemoryMb: Type.Integer({
          default: planCheckDefaults.checkMemoryMb,
          minimum: 32,
          maximum: 16_384,
          description:
            'Heap limit of each worker thread that checks submitted sync plans, in MB; a plan whose check needs more is refused.',
        }),
      },
      { ...strict, default: {} },
    ),
    plugins: Type.Object(
      {
        dir: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              'A directory of TypeScript/JavaScript plugin modules whose functions sync plan expressions can call (docs/plugins.md).',
          }),
        ),
      },
      { ...strict, default: {} },
    ),
    security: Type.Object(
      {
        masterKey: Type.Optional(
          Type.String({
            pattern: '^[A-Za-z0-9+/]{43}=$',
            description:
              "Base64 of 32 random bytes (openssl rand -base64 32): encrypts each tenant's private HPKE key at rest. Unset with the embedded database: generated into dataDir/master.key.",
          }),
        ),
        previousMasterKeys: Type.Optional(
          Type.Array(Type.String({ pattern: '^[A-Za-z0-9+/]{43}=$' }), {
            description:
              'Master keys being rotated out (base64 of 32 bytes each): they still open the tenant keys they encrypted; `joinery keys rewrap` re-encrypts those under security.masterKey, after which they can be removed.',
          }),
        ),
      },
      { ...strict, default: {} },
    ),
    limits: LimitsSchema,
    shutdown: Type.Object(
      {
        timeoutMs: Type.Integer({
          default: 30_000,
          minimum: 1000,
          description: 'How long a graceful shutdown may take before the process exits anyway.',
        }),
      },
      { ...strict, default: {} },
    ),
  },
  strict,
);

export type Config = Static<typeof ConfigSchema>;

/** Environment variables and the setting each one sets. Values override the YAML file. */
export const environmentSettings: Readonly<Record<string, { path: string[]; list?: boolean }>> = {
  JOINERY_DATA_DIR: { path: ['dataDir'] },
  JOINERY_HTTP_HOST: { path: ['http', 'host'] },
  JOINERY_HTTP_PORT: { path: ['http', 'port'] },
  JOINERY_HTTP_TRUST_PROXY: { path: ['http', 'trustProxy'], list: true },
  JOINERY_HTTP_TLS_CERT_FILE: { path: ['http', 'tls', 'certFile'] },
  JOINERY_HTTP_TLS_KEY_FILE: { path: ['http', 'tls', 'keyFile'] },
  JOINERY_HTTP_TLS_MIN_VERSION: { path: ['http', 'tls', 'minVersion'] },
  DATABASE_URL: { path: ['database', 'url'] },
  JOINERY_DATABASE_MIGRATE_ON_START: { path: ['database', 'migrateOnStart'] },
  JOINERY_DATABASE_POOL_SIZE: { path: ['database', 'poolSize'] },
  JOINERY_DATABASE_TENANT_ROLE: { path: ['database', 'tenantRole'] },
  KAFKA_BROKERS: { path: ['kafka', 'brokers'], list: true },
  KAFKA_CLIENT_ID: { path: ['kafka', 'clientId'] },
  JOINERY_TOPIC_PREFIX: { path: ['kafka', 'topicPrefix'] },
  JOINERY_KAFKA_PARTITIONS: { path: ['kafka', 'partitions'] },
  JOINERY_KAFKA_REPLICATION_FACTOR: { path: ['kafka', 'replicationFactor'] },
  JOINERY_ENGINE_GROUP_ID: { path: ['engine', 'groupId'] },
  JOINERY_ENGINE_ACTOR_CACHE_SIZE: { path: ['engine', 'actorCacheSize'] },
  JOINERY_ENGINE_MAX_BATCH_SIZE: { path: ['engine', 'maxBatchSize'] },
  JOINERY_ENGINE_IMPORT_THREADS: { path: ['engine', 'importThreads'] },
  JOINERY_ENGINE_SESSION_TIMEOUT_MS: { path: ['engine', 'sessionTimeoutMs'] },
  JOINERY_AUDIT_RETENTION_DAYS: { path: ['audit', 'retentionDays'] },
  JOINERY_AUDIT_CONSUMER: { path: ['audit', 'consumer'] },
  JOINERY_LOG_LEVEL: { path: ['log', 'level'] },
  JOINERY_LOG_FORMAT: { path: ['log', 'format'] },
  JOINERY_MASTER_KEY: { path: ['security', 'masterKey'] },
  JOINERY_PREVIOUS_MASTER_KEYS: { path: ['security', 'previousMasterKeys'], list: true },
  JOINERY_PLAN_CHECK_TIMEOUT_MS: { path: ['plan', 'checkTimeoutMs'] },
  JOINERY_PLAN_CHECK_MEMORY_MB: { path: ['plan', 'checkMemoryMb'] },
  JOINERY_PLUGINS_DIR: { path: ['plugins', 'dir'] },
  JOINERY_SHUTDOWN_TIMEOUT_MS: { path: ['shutdown', 'timeoutMs'] },
};

/** JOINERY_* variables read elsewhere (the config file path, local infrastructure). Not settings. */
export const otherJoineryVariables = ['JOINERY_CONFIG', 'JOINERY_INFRA_DIR', 'JOINERY_CACHE_DIR'];
