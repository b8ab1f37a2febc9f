// The connector framework: what each kind of application connector can do, declared once, so the engine
// adapts to it — who starts its runs, whether the engine computes its deletions, what it can write. The
// directory connectors run in the on-prem agent (agent/src/connectors/); file imports run in the service,
// fed by the API or the CLI (src/connectors/file-import.ts); cloud connectors run inside the engine
// (src/connectors/in-engine-connector.ts, driven by connector-runner.ts); an application with
// `connector: external` is served by a connector outside Joinery, over Kafka (external-exports.ts).
import type { ApplicationPlan } from '../plan/plan.schema.ts';

export type ConnectorType = ApplicationPlan['type'];

export interface ConnectorCapabilities {
  /**
   * How its runs start: `agent` — the on-prem agent claims requested runs (schedules, the API); `upload` — a
   * file is the run: given to `POST /v1/applications/:id/imports` or `joinery import`, or dropped in the
   * application's watched folder (`csv.watch`, imported by the engine as it arrives) — so a requested run
   * has nothing to read and fails, saying where files go; `engine` — the engine's connector runner claims
   * requested runs and due exports (a cloud connector); `external` — a connector outside Joinery sends its
   * own runs to the `imports` topic, so a requested run has nothing to start and fails, saying so; `none` —
   * not built yet.
   */
  runs: 'agent' | 'upload' | 'engine' | 'external' | 'none';
  /** Full and delta imports. */
  imports: { full: boolean; delta: boolean };
  /**
   * Who finds deleted objects: `engine` — a completed full run deletes what it did not see (the source sends
   * what it holds, never deletions); `source` — the source also sends deletions (delta runs, real time).
   */
  deletions: 'engine' | 'source';
  /** The export operations it carries out; none for a source only. */
  exports: readonly ('create' | 'update' | 'delete' | 'enable' | 'disable' | 'password' | 'groups')[];
}

const directory: ConnectorCapabilities = {
  runs: 'agent',
  imports: { full: true, delta: true },
  deletions: 'source',
  exports: ['create', 'update', 'delete', 'enable', 'disable', 'password', 'groups'],
};

/** Every application type a plan can name, with what its connector does today. */
export const connectorCapabilities: Record<ConnectorType, ConnectorCapabilities> = {
  ldap: directory,
  'active-directory': directory,
  csv: { runs: 'upload', imports: { full: true, delta: false }, deletions: 'engine', exports: [] },
  // As a target or a source read by the engine (a `scim:` block); an identity provider may also push into
  // it through the SCIM server (/scim/v2, src/scim-server/), which needs no run. A SCIM full import reads every User and Group (the engine finds deletions); a delta reads what changed
  // since the last run (meta.lastModified), which shows no deletions.
  scim: {
    runs: 'engine',
    imports: { full: true, delta: true },
    deletions: 'engine',
    exports: ['create', 'update', 'delete', 'enable', 'disable', 'groups'],
  },
  // A table, view or query read by the engine (full runs, and deltas by a change-tracking column: they show no
  // deletions), and a table written (src/connectors/sql/).
  sql: {
    runs: 'engine',
    imports: { full: true, delta: true },
    deletions: 'engine',
    exports: ['create', 'update', 'delete', 'enable', 'disable'],
  },
};

/**
 * The types whose connector may be external (`connector: external`): those the engine serves itself (or
 * will), not the agent's directories nor files. An external connector sends its own runs and deletions to
 * `imports` and carries out what it takes from `exports` (src/connectors/external-exports.ts) — every
 * operation but passwords, which never travel on Kafka.
 */
export const externalConnectorTypes: readonly ConnectorType[] = ['scim', 'sql'];

/** Why a plan's `connector: external` cannot work for this application (relative paths); none when it can. */
export function externalConnectorProblems(
  application: ApplicationPlan,
): { path: (string | number)[]; message: string }[] {
  if (application.connector !== 'external')
    return application.export?.leaseSeconds === undefined
      ? []
      : [
          {
            path: ['export', 'leaseSeconds'],
            message: `export.leaseSeconds is how long an external connector has to answer an export, and application ${application.name} has Joinery's own connector: remove it, or add connector: external`,
          },
        ];
  const problems: { path: (string | number)[]; message: string }[] = [];
  if (!externalConnectorTypes.includes(application.type))
    problems.push({
      path: ['connector'],
      message: `application ${application.name} (type ${application.type}) cannot have an external connector (${
        application.type === 'csv'
          ? 'a csv application is a file source: an outside producer can send its runs to the imports topic as it is'
          : 'directories are read and written by the on-prem agent'
      }); external connectors serve ${externalConnectorTypes.join(' and ')} applications`,
    });
  if (application.scim !== undefined)
    problems.push({
      path: ['scim'],
      message: `the scim settings are for Joinery's own SCIM client, which does not run for an external connector: remove them (the external connector keeps its own settings)`,
    });
  if (application.sql !== undefined)
    problems.push({
      path: ['sql'],
      message: `the sql settings are for Joinery's own SQL connector, which does not run for an external connector: remove them (the external connector keeps its own settings)`,
    });
  if (application.export?.passwords === true)
    problems.push({
      path: ['export', 'passwords'],
      message:
        'passwords are never published on Kafka, so an external connector cannot write them: remove export.passwords',
    });
  return problems;
}

/**
 * Why a requested run (a schedule, `POST /v1/applications/:id/runs`) of this application cannot start; none
 * when it can. `connector` is the application's `connector` (external), null for Joinery's own.
 */
export function whyRunCannotStart(
  type: string,
  applicationName: string,
  connector: string | null = null,
): string | undefined {
  if (connector === 'external')
    return `application ${applicationName} has an external connector: it sends its own import runs to the imports topic whenever it reads the application (docs/connectors.md, "External connectors over Kafka"), and Joinery cannot start one`;
  const capabilities = connectorCapabilities[type as ConnectorType] as ConnectorCapabilities | undefined;
  if (capabilities === undefined) return `application ${applicationName} has an unknown type "${type}"`;
  if (capabilities.runs === 'upload')
    return `application ${applicationName} (type ${type}) is imported from a file: upload it with POST /v1/applications/<id>/imports or \`joinery import ${applicationName} FILE\`, or drop it in the application's watched folder (csv.watch), which the engine imports as files arrive; a requested run has nothing to read`;
  if (capabilities.runs === 'none')
    return `application ${applicationName} (type ${type}): Joinery has no ${type} connector yet, so nothing can run its imports`;
  return undefined;
}
