// The agent's configuration: one YAML file, one schema (TypeBox), from which the type, the defaults, the
// validation and the reference in docs/agent.md are derived. Secrets are never written in the file: any
// string may be `${NAME}`, replaced by the environment variable NAME when the file is loaded.
import { Type, type Static } from 'typebox';
import { logLevels } from '../../../kernel/log-settings.ts';

const strict = { additionalProperties: false } as const;
const Uuid = (description: string) => Type.String({ format: 'uuid', description });

export const directoryKinds = ['openldap', 'active-directory'] as const;

export const AgentConfigSchema = Type.Object(
  {
    api: Type.Object(
      {
        urls: Type.Array(Type.String({ pattern: '^https?://[^\\s/]+(/[^\\s]*)?$' }), {
          minItems: 1,
          description:
            'Base URLs of the Joinery API, tried in order (e.g. a primary and a disaster-recovery site).',
        }),
        caFile: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              'PEM file of private CA certificates trusted for the API, added to the public roots.',
          }),
        ),
      },
      strict,
    ),
    tenantId: Uuid('The tenant the connector belongs to.'),
    connectorId: Uuid('The connector (POST /v1/connectors) this agent is.'),
    clientKey: Type.Optional(
      Type.String({
        pattern: '^jnyc_[A-Za-z0-9_-]{43}$',
        description: 'The one-time client key, needed only to enrol; e.g. ${JOINERY_AGENT_CLIENT_KEY}.',
      }),
    ),
    stateDir: Type.String({
      default: 'state',
      minLength: 1,
      description:
        "The agent's state (keys, queue, delta cookie), relative to the configuration file's directory.",
    }),
    directory: Type.Object(
      {
        kind: Type.Enum(directoryKinds, { description: 'The directory the agent serves.' }),
        applicationId: Type.Optional(
          Uuid("The application it is in Joinery; default: the connector's only application."),
        ),
        options: Type.Record(Type.String(), Type.Unknown(), {
          description: 'Connection and search settings, validated by the directory kind.',
        }),
      },
      strict,
    ),
    schedules: Type.Object(
      {
        fullImportIntervalMinutes: Type.Integer({
          default: 1440,
          minimum: 1,
          description: 'A full import runs at start (when due) and then every so many minutes.',
        }),
        deltaPollIntervalMs: Type.Integer({
          default: 2000,
          minimum: 100,
          maximum: 3_600_000,
          description:
            'How often changes are read from the directory (enable/disable pulses within seconds).',
        }),
        passwordCapture: Type.Boolean({
          default: false,
          description: 'Capture password changes at the directory and send them sealed as pulses.',
        }),
        passwordPollIntervalMs: Type.Integer({ default: 2000, minimum: 100, maximum: 3_600_000 }),
      },
      { ...strict, default: {} },
    ),
    log: Type.Object(
      {
        level: Type.Enum(logLevels, { default: 'info' }),
        file: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              'Log to this file (rotated) instead of standard output; relative to the config file.',
          }),
        ),
        rotation: Type.Object(
          {
            frequency: Type.Union([Type.Literal('daily'), Type.Literal('hourly')], { default: 'daily' }),
            size: Type.String({ default: '50m', pattern: '^\\d+[kmg]$', description: 'e.g. 10m, 1g.' }),
            keep: Type.Integer({ default: 14, minimum: 1, description: 'Rotated files kept.' }),
          },
          { ...strict, default: {} },
        ),
      },
      { ...strict, default: {} },
    ),
  },
  strict,
);

/** A setting left out because a variable it names is not set (see load-agent-config.ts, requireSettings). */
export interface UnresolvedSetting {
  /** The setting, e.g. ['clientKey'] or ['directory', 'options', 'bindPassword']. */
  path: readonly string[];
  /** The first unset variable it names. */
  variable: string;
  /** Where it is written, e.g. "in /etc/joinery/agent.yaml line 8". */
  where: string;
}

export type AgentConfig = Static<typeof AgentConfigSchema> & {
  /** Absolute path of the configuration file (relative paths in it are resolved against its directory). */
  file: string;
  /**
   * Settings needed by one command only (clientKey to enrol, directory.options to run) whose variable is
   * not set: left out of the values above; the command that needs one fails with requireSettings.
   */
  unresolved: readonly UnresolvedSetting[];
};
