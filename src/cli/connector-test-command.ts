// `joinery connector test <application>`: what works in an application's connection, checked from the
// server's host, one line per check. A csv application: its settings, its watched folder, and (with a file)
// the header and first rows read as an import would — nothing sent. A directory application: the agent
// connector enrolled for it and when it was last seen (the server never talks LDAP itself). An application
// whose connector runs in the engine (scim): its settings and secrets, then the connector's own test().
import { createReadStream } from 'node:fs';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { NotFoundError } from '../../kernel/errors.ts';
import { previewCsv } from '../connectors/csv/csv-preview.ts';
import { csvSettingsProblems, watchSettings } from '../connectors/csv/csv-settings.ts';
import { lookAtFolder } from '../connectors/csv/csv-watch.ts';
import type { ApplicationPlan } from '../plan/plan.schema.ts';
import { describeError } from '../../kernel/errors.ts';
import { inEngineConnectors } from '../connectors/connector-registry.ts';
import type { SecretResolver } from '../connectors/connector-secrets.ts';
import type { ConnectorCheck, ConnectorContext } from '../connectors/in-engine-connector.ts';
import { findTenant } from '../tenancy/tenants.ts';

export type { ConnectorCheck } from '../connectors/in-engine-connector.ts';

/** Rows of a file read by the check: enough to see its columns and its first problems, quickly. */
const PREVIEW_ROWS = 100;
/** Rejected rows shown. */
const SHOWN_REJECTED = 5;

export async function testConnector(
  em: EntityManager,
  options: {
    tenant: string;
    application: string;
    file?: string;
    now?: Date;
    /** Where an in-engine connector's secrets (env:NAME) are read; the caller's environment. */
    secrets?: SecretResolver;
    fetch?: typeof fetch;
  },
): Promise<ConnectorCheck[]> {
  const tenant = await findTenant(em.fork(), options.tenant);
  const k = em.fork().getKysely();
  const { rows } = await sql<{ id: string; type: string; plan: ApplicationPlan | null }>`
    select a.id, a.type, (
      select e.application from plan_version p, jsonb_array_elements(p.document->'applications') as e(application)
      where p.tenant_id = a.tenant_id
        and p.version = (select max(version) from plan_version where tenant_id = a.tenant_id)
        and e.application->>'name' = a.name) as plan
    from application a where a.tenant_id = ${tenant.id} and a.name = ${options.application}`.execute(k);
  const application = rows[0];
  if (application === undefined)
    throw new NotFoundError(`application ${options.application} not found in tenant ${tenant.name}`, {
      details: { application: options.application },
    });
  if (application.type === 'csv') return csvChecks(application.plan, options.application, options.file);
  if (application.type === 'ldap' || application.type === 'active-directory')
    return agentChecks(em, tenant.id, application.id, options.now ?? new Date());
  const factory = inEngineConnectors[application.type as ApplicationPlan['type']];
  if (factory !== undefined) {
    if (application.plan === null)
      return [
        {
          ok: false,
          name: 'connector',
          detail: `application ${options.application} is not in the plan in force: add it, with its ${application.type} settings, and apply the plan`,
        },
      ];
    const context: ConnectorContext = {
      secrets:
        options.secrets ??
        ((reference) => {
          throw new Error(`secret ${reference} cannot be read here`);
        }),
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    };
    let connector;
    try {
      connector = factory(application.plan, context);
    } catch (error) {
      return [{ ok: false, name: `${application.type} settings`, detail: describeError(error) }];
    }
    try {
      return await connector.test();
    } finally {
      await connector.close?.();
    }
  }
  return [
    {
      ok: false,
      name: 'connector',
      detail: `no connector yet: Joinery cannot read a ${application.type} application (a requested run fails, saying so)`,
    },
  ];
}

async function csvChecks(
  plan: ApplicationPlan | null,
  name: string,
  file: string | undefined,
): Promise<ConnectorCheck[]> {
  if (plan?.csv === undefined)
    return [
      {
        ok: false,
        name: 'csv settings',
        detail:
          plan === null
            ? `application ${name} is not in the plan in force: add it, with its csv settings, and apply the plan`
            : `application ${name} has no csv settings: add csv: { externalId: <the attribute that identifies a row> } to it in the plan`,
      },
    ];
  const checks: ConnectorCheck[] = [];
  const problems = csvSettingsProblems(plan);
  checks.push(
    problems.length === 0
      ? { ok: true, name: 'csv settings', detail: 'valid' }
      : {
          ok: false,
          name: 'csv settings',
          detail: problems.map((problem) => `csv.${problem.path.join('.')}: ${problem.message}`).join('; '),
        },
  );
  const watch = plan.csv.watch;
  if (watch === undefined)
    checks.push({
      ok: true,
      name: 'watched folder',
      detail: 'none (csv.watch): files come through POST /v1/applications/:id/imports or joinery import',
    });
  else {
    const look = await lookAtFolder(watch);
    const { pattern } = watchSettings(watch);
    checks.push(
      look.problem === null
        ? {
            ok: true,
            name: 'watched folder',
            detail: `${look.directory} is readable and writable; ${String(look.files.length)} file(s) matching ${pattern} waiting`,
          }
        : { ok: false, name: 'watched folder', detail: look.problem },
    );
  }
  if (file !== undefined && problems.length === 0) checks.push(await fileCheck(plan, file));
  return checks;
}

async function fileCheck(plan: ApplicationPlan, file: string): Promise<ConnectorCheck> {
  const name = `file ${file}`;
  let preview;
  try {
    preview = await previewCsv(createReadStream(file), plan, { rows: PREVIEW_ROWS });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, name, detail: `cannot be read (${code ?? String(error)})` };
  }
  if (preview.fatal !== null)
    return { ok: false, name, detail: `line ${String(preview.fatal.line)}: ${preview.fatal.reason}` };
  const columns = `columns ${preview.columns.join(', ')}${preview.ignoredColumns.length === 0 ? '' : ` (ignored: ${preview.ignoredColumns.join(', ')})`}`;
  const counts = `first ${String(preview.rows)} rows: ${String(preview.accepted)} read, ${String(preview.rejected.length)} rejected`;
  const more = preview.rejected
    .slice(0, SHOWN_REJECTED)
    .map((row) => `line ${String(row.line)}: ${row.reason}`);
  return {
    ok: preview.rejected.length === 0,
    name,
    detail: `${columns}; ${counts}${preview.rejected.length === 0 ? '' : ' (imported as a delta: nothing would be deleted)'}; nothing sent`,
    ...(more.length === 0 ? {} : { more }),
  };
}

async function agentChecks(
  em: EntityManager,
  tenantId: string,
  applicationId: string,
  now: Date,
): Promise<ConnectorCheck[]> {
  const { rows } = await sql<{
    name: string;
    enrolment_state: string;
    enrolled_at: Date | null;
    last_heartbeat_at: Date | null;
    agent_version: string | null;
    health: { status: string; problems?: string[] } | null;
  }>`
    select name, enrolment_state, enrolled_at, last_heartbeat_at, agent_version, health from connector
    where tenant_id = ${tenantId} and revoked_at is null and application_ids @> ${JSON.stringify([applicationId])}::jsonb
    order by last_heartbeat_at desc nulls last, name`.execute(em.fork().getKysely());
  const enrolled = rows.filter((row) => row.enrolment_state === 'enrolled');
  const connector = enrolled[0];
  if (connector === undefined)
    return [
      {
        ok: false,
        name: 'agent connector',
        detail:
          rows.length === 0
            ? 'none reads this application: create one (POST /v1/connectors) and enrol the on-prem agent with its client key'
            : `${rows.map((row) => row.name).join(', ')} awaiting enrolment: start the agent with its client key`,
      },
    ];
  const checks: ConnectorCheck[] = [
    {
      ok: true,
      name: 'agent connector',
      detail: `${connector.name} enrolled${connector.enrolled_at === null ? '' : ` ${new Date(connector.enrolled_at).toISOString()}`}`,
    },
  ];
  if (connector.last_heartbeat_at === null)
    checks.push({
      ok: false,
      name: 'last seen',
      detail: `never: the agent of ${connector.name} has not connected`,
    });
  else {
    const at = new Date(connector.last_heartbeat_at);
    const minutes = Math.max(0, Math.round((now.getTime() - at.getTime()) / 60_000));
    const health = connector.health === null ? '' : `, health ${connector.health.status}`;
    checks.push({
      ok: true,
      name: 'last seen',
      detail: `${at.toISOString()} (${String(minutes)} min ago)${connector.agent_version === null ? '' : `, agent ${connector.agent_version}`}${health}`,
    });
  }
  return checks;
}

/** The checks as a person reads them: one line each, `ok` or `FAIL` first. */
export function describeChecks(checks: readonly ConnectorCheck[]): string[] {
  return checks.flatMap((check) => [
    `${check.ok ? 'ok  ' : 'FAIL'}  ${check.name}: ${check.detail}`,
    ...(check.more ?? []).map((line) => `        ${line}`),
  ]);
}
