// The `joinery` command. Each subcommand loads the configuration once, validates it, and runs.
import { Command, Option } from 'commander';
import { loadConfig } from '../config/load-config.ts';
import {
  ConfigError,
  describeError,
  JoineryError,
  PlanInvalidError,
  ValidationError,
} from '../../kernel/errors.ts';
import { loadPlan } from '../plan/load-plan.ts';
import { loadPlugins } from '../plan/plugins.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../kernel/logger.ts';
import { startService } from '../service.ts';
import { connectDatabase, type ConnectedDatabase } from '../storage/connect-database.ts';
import { NotFoundError, StartUpError } from '../../kernel/errors.ts';
import { assertSchemaCurrent, migrate, migrationState } from '../storage/database.ts';
import { applyPlan } from '../plan/plan-versions.ts';
import { PLAN_SCHEMA_FILE, planSchemaFileContent } from '../plan/plan.schema.ts';
import { createTenant, findTenant, issueTenantKey } from '../tenancy/tenants.ts';
import { isScope, scopes as allScopes, type Scope } from '../tenancy/scopes.ts';
import type { Config } from '../config/config.schema.ts';
import { writeSchemas } from '../../streams/schema-files.ts';
import { describeImport, runImportCommand } from './import-command.ts';
import { notOpenedAdvice, resolveMasterKey, resolveMasterKeyring } from '../agent-gateway/master-key.ts';
import { describeUnopened, rewrapTenantKeys } from '../agent-gateway/master-key-rotation.ts';
import { rotateDataKey } from '../secrets/sensitive-values.ts';
import { issueScimToken } from '../scim-server/scim-tokens.ts';
import { Application } from '../storage/entities/application.entity.ts';
import { describeChecks, testConnector } from './connector-test-command.ts';
import { secretsFrom } from '../connectors/connector-secrets.ts';
import { defaultInfraServices, infraServiceNames, type InfraServiceName } from '../infra/catalog.ts';

// Development tooling, loaded only when an infra command runs: the service never needs it.
const infraService = async (name: InfraServiceName) =>
  (await import('../infra/stack.ts')).createInfraService(name);

const EXIT_CONFIG = 78; // sysexits EX_CONFIG
const EXIT_DATA = 65; // sysexits EX_DATAERR: the input (a sync plan) is invalid
const EXIT_FAILURE = 1;

const program = new Command('joinery')
  .description('Joinery: identity synchronization engine')
  .showHelpAfterError()
  .addOption(new Option('-c, --config <file>', 'YAML configuration file').env('JOINERY_CONFIG'));

function config(): Config {
  return loadConfig({ env: process.env, file: program.opts<{ config?: string }>().config });
}

/**
 * A command prints its result on standard output; its log goes to standard error and says only what went
 * wrong (warnings and worse) unless a lower level is asked for.
 */
function commandLogger(settings: Config): ReturnType<typeof createLogger> {
  const level = settings.log.level === 'info' ? 'warn' : settings.log.level;
  return createLogger({ level, format: settings.log.format, to: 'stderr' });
}

program
  .command('start')
  .description(
    'run the service: API, engine and embedded database/bus unless DATABASE_URL/KAFKA_BROKERS are set',
  )
  .action(async () => {
    const settings = config();
    const logger = createLogger(settings.log);
    // Signals are handled from the first instant: one that arrives during start-up stops the service as
    // soon as it is up, cleanly, instead of killing it half-started.
    const running: { service?: Awaited<ReturnType<typeof startService>> } = {};
    let stopRequested: string | undefined;
    let stopping = false;
    const shutdown = (signal: string): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(EXIT_FAILURE);
      }
      const { service } = running;
      if (service === undefined) {
        stopRequested = signal;
        return;
      }
      stopping = true;
      logger.info({ signal }, 'shutting down: finishing in-flight work');
      const timer = setTimeout(() => {
        logger.error({ timeoutMs: settings.shutdown.timeoutMs }, 'shutdown timed out: exiting');
        process.exit(EXIT_FAILURE);
      }, settings.shutdown.timeoutMs);
      timer.unref();
      service.stop().then(
        () => {
          logger.info('stopped');
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exitCode = EXIT_FAILURE;
        },
      );
    };
    process.on('SIGTERM', () => {
      shutdown('SIGTERM');
    });
    process.on('SIGINT', () => {
      shutdown('SIGINT');
    });
    // Connectors' secrets are named in plans as env:NAME and read from this process's environment.
    running.service = await startService(settings, logger, { connectorSecrets: secretsFrom(process.env) });
    if (stopRequested !== undefined) shutdown(stopRequested);
  });

program
  .command('migrate')
  .description('apply pending database migrations (or show them with --status)')
  .option('--status', 'list executed and pending migrations without applying anything')
  .action(async (options: { status?: boolean }) => {
    const settings = config();
    const logger = commandLogger(settings);
    const database = await connectDatabase(settings, logger, { command: 'migrate' });
    try {
      if (options.status === true) {
        const state = await migrationState(database.orm);
        for (const name of state.executed) console.log(`executed  ${name}`);
        for (const name of state.pending) console.log(`pending   ${name}`);
        for (const name of state.unknown) console.log(`unknown   ${name} (newer than this build)`);
        return;
      }
      const applied = await migrate(database.orm, { tenantRole: settings.database.tenantRole });
      console.log(applied.length === 0 ? 'database schema is up to date' : `applied ${applied.join(', ')}`);
    } finally {
      await database.close();
    }
  });

const tenant = program.command('tenant').description('manage tenants');
tenant
  .command('create')
  .description('create a tenant and its first service account; prints the API key once')
  .argument('<name>', 'tenant name (unique)')
  .option('--service-account <name>', 'name of the first service account', 'admin')
  .option('--json', 'print the credentials as JSON')
  .action(async (name: string, options: { serviceAccount: string; json?: boolean }) => {
    const settings = config();
    const logger = commandLogger(settings);
    const database = await connectDatabase(settings, logger, { command: 'tenant create' });
    try {
      await currentSchema(database, { migrate: true, tenantRole: settings.database.tenantRole });
      const issued = await createTenant(database.orm.em, {
        tenant: name,
        serviceAccount: options.serviceAccount,
      });
      if (options.json === true) {
        console.log(JSON.stringify(issued));
      } else {
        console.log(`tenant           ${issued.tenantName} (${issued.tenantId})`);
        console.log(`service account  ${issued.name} (${issued.serviceAccountId})`);
        console.log(`API key          ${issued.apiKey}`);
        console.log(
          'The API key is shown only this once: store it now. Use it as "Authorization: Bearer <API key>".',
        );
      }
    } finally {
      await database.close();
    }
  });

tenant
  .command('key')
  .description(
    'issue a new API key for an existing tenant, from the server (it needs database access): recovery when a tenant has no working admin key; prints the key once',
  )
  .argument('<tenant>', 'tenant name or id')
  .option('--scopes <scopes>', `comma-separated scopes (${allScopes.join(', ')})`, 'admin')
  .option('--name <name>', 'name of the new service account (default: recovery-<time>)')
  .option('--json', 'print the credentials as JSON')
  .action(async (tenantNameOrId: string, options: { scopes: string; name?: string; json?: boolean }) => {
    const requested = options.scopes.split(',').map((scope) => scope.trim());
    const unknown = requested.filter((scope) => !isScope(scope));
    if (unknown.length > 0 || requested.length === 0) {
      throw new ValidationError(
        `--scopes: ${unknown.map((scope) => `"${scope}"`).join(', ') || '(none)'} is not a scope; use ${allScopes.join(', ')}`,
      );
    }
    const settings = config();
    const logger = commandLogger(settings);
    const database = await connectDatabase(settings, logger, { command: 'tenant key' });
    try {
      await currentSchema(database, { migrate: false });
      const issued = await issueTenantKey(database.orm.em, tenantNameOrId, {
        scopes: requested.filter(isScope) satisfies Scope[],
        ...(options.name === undefined ? {} : { name: options.name }),
      });
      if (options.json === true) {
        console.log(JSON.stringify(issued));
      } else {
        console.log(`tenant           ${issued.tenantName} (${issued.tenantId})`);
        console.log(`service account  ${issued.name} (${issued.serviceAccountId})`);
        console.log(`scopes           ${issued.scopes.join(', ')}`);
        console.log(`API key          ${issued.apiKey}`);
        console.log(
          'The API key is shown only this once: store it now. Use it as "Authorization: Bearer <API key>".',
        );
      }
    } finally {
      await database.close();
    }
  });

const keys = program.command('keys').description('the master key and the tenant keys it encrypts');
keys
  .command('rewrap')
  .description(
    "re-encrypt every stored tenant private key under security.masterKey, from the server's host (it needs database access): the step of a master key rotation after which security.previousMasterKeys can be removed; safe to repeat",
  )
  .option('--json', 'print the counts as JSON')
  .action(async (options: { json?: boolean }) => {
    const settings = config();
    const logger = commandLogger(settings);
    const keyring = resolveMasterKeyring(
      resolveMasterKey({
        configured: settings.security.masterKey,
        embeddedDatabase: settings.database.url === undefined,
        dataDir: settings.dataDir,
        logger,
        generate: false,
      }),
      settings.security.previousMasterKeys,
    );
    if (keyring === undefined) {
      throw new ConfigError(
        'security.masterKey (JOINERY_MASTER_KEY): is not set — set it to the master key to re-encrypt the tenant keys under, and the old one in security.previousMasterKeys (JOINERY_PREVIOUS_MASTER_KEYS)',
      );
    }
    const database = await connectDatabase(settings, logger, { command: 'keys rewrap' });
    try {
      await currentSchema(database, { migrate: false });
      const result = await rewrapTenantKeys(database.orm.em, keyring);
      if (options.json === true) console.log(JSON.stringify(result));
      else {
        console.log(
          `rewrapped ${String(result.rewrapped)} tenant keys; ${String(result.stillUnderOldKey)} still under an old master key`,
        );
      }
      if (result.unopened.length > 0) {
        for (const key of result.unopened) {
          console.error(`joinery: ${describeUnopened([key])}: ${notOpenedAdvice}`);
        }
        process.exitCode = EXIT_FAILURE;
      }
    } finally {
      await database.close();
    }
  });

keys
  .command('rotate-data-key')
  .description(
    "add a new data key for a tenant's sensitive attribute values, from the server's host: new values are sealed with it within a minute, the older keys keep opening what they sealed (a value sealed anew is exported again once)",
  )
  .requiredOption('--tenant <tenant>', 'tenant name or id')
  .action(async (options: { tenant: string }) => {
    const settings = config();
    const logger = commandLogger(settings);
    const keyring = resolveMasterKeyring(
      resolveMasterKey({
        configured: settings.security.masterKey,
        embeddedDatabase: settings.database.url === undefined,
        dataDir: settings.dataDir,
        logger,
        generate: false,
      }),
      settings.security.previousMasterKeys,
    );
    if (keyring === undefined)
      throw new ConfigError(
        'security.masterKey (JOINERY_MASTER_KEY): is not set — data keys are stored wrapped by the master key',
      );
    const database = await connectDatabase(settings, logger, { command: 'keys rotate-data-key' });
    try {
      await currentSchema(database, { migrate: false });
      const tenant = await findTenant(database.orm.em.fork(), options.tenant);
      const version = await rotateDataKey(database.orm.em, keyring, tenant.id);
      console.log(`tenant ${tenant.name}: data key ${String(version)} seals new sensitive values`);
    } finally {
      await database.close();
    }
  });

program
  .command('import')
  .description(
    "import an application's file (an HR export, type: csv) as a full import run, from the server's host; rows not in the file become deletions once the engine completes the run",
  )
  .argument('<application>', 'the application name in the plan')
  .argument('<file>', 'the CSV file, or - for standard input')
  .requiredOption('--tenant <tenant>', 'tenant name or id')
  .option('--json', 'print the result as JSON')
  .action(async (application: string, file: string, options: { tenant: string; json?: boolean }) => {
    const settings = config();
    const logger = commandLogger(settings);
    const database = await connectDatabase(settings, logger, { command: 'import' });
    try {
      await currentSchema(database, { migrate: false });
      const result = await runImportCommand({
        settings,
        database,
        logger,
        tenant: options.tenant,
        application,
        file,
        progress: options.json !== true && process.stderr.isTTY,
      });
      if (options.json === true) console.log(JSON.stringify(result));
      else for (const line of describeImport(result, application)) console.log(line);
      if (result.outcome === 'aborted') process.exitCode = EXIT_DATA;
    } finally {
      await database.close();
    }
  });

const connector = program.command('connector').description("applications' connections");
connector
  .command('test')
  .description(
    "check an application's connection from the server's host, one line per check (exit 0 when all pass): a csv application's settings, watched folder and, with --file, a file's header and first 100 rows (nothing imported); a directory application's agent connector",
  )
  .argument('<application>', 'the application name in the plan')
  .requiredOption('--tenant <tenant>', 'tenant name or id')
  .option('--file <file>', 'a csv file to read as an import would, without importing it')
  .action(async (application: string, options: { tenant: string; file?: string }) => {
    const settings = config();
    const logger = commandLogger(settings);
    const database = await connectDatabase(settings, logger, { command: 'connector test' });
    try {
      await currentSchema(database, { migrate: false });
      const checks = await testConnector(database.orm.em, {
        tenant: options.tenant,
        application,
        secrets: secretsFrom(process.env),
        ...(options.file === undefined ? {} : { file: options.file }),
      });
      for (const line of describeChecks(checks)) console.log(line);
      if (checks.some((check) => !check.ok)) process.exitCode = EXIT_FAILURE;
    } finally {
      await database.close();
    }
  });

const scim = program
  .command('scim')
  .description('the SCIM 2.0 server (/scim/v2) identity providers provision into');
scim
  .command('token')
  .description(
    "issue a SCIM token for a scim application from the server's host (also POST /v1/applications/:id/scim-tokens); printed once, give it to the identity provider with the base URL https://<joinery>/scim/v2",
  )
  .argument('<application>', 'the scim application name in the plan')
  .requiredOption('--tenant <tenant>', 'tenant name or id')
  .option('--name <name>', 'what the token is for, e.g. "okta"', 'scim')
  .action(async (application: string, options: { tenant: string; name: string }) => {
    const settings = config();
    const logger = commandLogger(settings);
    const database = await connectDatabase(settings, logger, { command: 'scim token' });
    try {
      await currentSchema(database, { migrate: false });
      const em = database.orm.em.fork();
      const tenant = await findTenant(em, options.tenant);
      const found = await em.findOne(
        Application,
        { tenant: tenant.id, name: application },
        { filters: false, fields: ['id'] },
      );
      if (found === null)
        throw new NotFoundError(`application ${application} not found in tenant ${tenant.name}`);
      const issued = await issueScimToken(em, {
        tenantId: tenant.id,
        applicationId: found.id,
        name: options.name,
      });
      console.log(`application      ${application} (${found.id})`);
      console.log(`SCIM token       ${issued.token}`);
      console.log(
        'The token is shown only this once: give it to the identity provider as its bearer token, with the base URL https://<this server>/scim/v2.',
      );
    } finally {
      await database.close();
    }
  });

program
  .command('schemas')
  .description(
    "write the JSON Schemas of every message type (the topics' public contract) and of the sync plan to a directory",
  )
  .option('-o, --out <dir>', 'directory to write to', 'docs/schemas')
  .action((options: { out: string }) => {
    for (const file of writeSchemas(options.out)) console.log(file);
    const planFile = join(options.out, PLAN_SCHEMA_FILE);
    writeFileSync(planFile, planSchemaFileContent());
    console.log(planFile);
  });

const plan = program
  .command('plan')
  .description('sync plans: validate (and, next, apply) a tenant configuration');
plan
  .command('validate')
  .description(
    'check a sync plan (YAML or JSON): schema, references, expressions; every problem with its line',
  )
  .argument('<file>', 'the plan file')
  .option('--plugins <dir>', 'the plugin directory (default: plugins.dir of the configuration)')
  .action(async (file: string, options: { plugins?: string }) => {
    const plugins = await loadPlugins(options.plugins ?? config().plugins.dir);
    const compiled = loadPlan(readPlanFile(file), file, plugins);
    const { applications, classifications = [], rules = [] } = compiled.plan;
    console.log(
      `${file}: valid — ${String(applications.length)} applications, ${String(classifications.length)} classifications, ` +
        `${String(rules.length)} rules, ${String(compiled.expressions.size)} expressions compiled`,
    );
  });

plan
  .command('apply')
  .description(
    "validate a sync plan and make it the tenant's version in force (the previous one stays on record)",
  )
  .argument('<file>', 'the plan file')
  .requiredOption('-t, --tenant <tenant>', 'tenant name or id')
  .action(async (file: string, options: { tenant: string }) => {
    const source = readPlanFile(file);
    const settings = config();
    const plugins = await loadPlugins(settings.plugins.dir);
    loadPlan(source, file, plugins); // every problem, with its line, before touching the database
    const logger = commandLogger(settings);
    const database = await connectDatabase(settings, logger, { command: 'plan apply' });
    try {
      await currentSchema(database, { migrate: false });
      const tenant = await findTenant(database.orm.em.fork(), options.tenant);
      const applied = await applyPlan(database.orm.em, {
        tenantId: tenant.id,
        source,
        sourceName: file,
        appliedBy: 'cli',
        plugins,
      });
      console.log(
        applied.changed
          ? `${file}: applied as version ${String(applied.version)}${applied.diff === '' ? '' : `\n${applied.diff}`}`
          : `${file}: unchanged, version ${String(applied.version)} stays in force`,
      );
      for (const application of applied.applications)
        console.log(`application ${application.name}  ${application.id}`);
      if (applied.reconciles)
        console.log(
          'the identities already in the Vault will be looked at with this version (GET /v1/plan/reconciliation)',
        );
    } finally {
      await database.close();
    }
  });

/**
 * The schema a command needs: beside a running service (its embedded PostgreSQL), the service applies
 * pending migrations as it starts, so the command waits for them instead of racing it; otherwise
 * `tenant create` applies them itself and other commands refuse a schema that is behind.
 */
async function currentSchema(
  database: ConnectedDatabase,
  options: { migrate: boolean; tenantRole?: string },
): Promise<void> {
  let state = await migrationState(database.orm);
  if (database.embedded?.sharedWith !== undefined) {
    const deadline = Date.now() + 60_000;
    while (state.pending.length > 0 && state.unknown.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      state = await migrationState(database.orm);
    }
  } else if (options.migrate && state.pending.length > 0) {
    await migrate(database.orm, { tenantRole: options.tenantRole });
    return;
  }
  assertSchemaCurrent(state);
}

function readPlanFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new JoineryUsageError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause: error,
    });
  }
}

const infra = program
  .command('infra')
  .description('local development infrastructure: Kafka, PostgreSQL, OpenLDAP, Samba AD');
const servicesArgument = (names: string[]): InfraServiceName[] => {
  if (names.length === 0) return defaultInfraServices;
  for (const name of names) {
    if (!(infraServiceNames as readonly string[]).includes(name)) {
      throw new JoineryUsageError(`unknown service "${name}"; choose from ${infraServiceNames.join(', ')}`);
    }
  }
  return names as InfraServiceName[];
};
infra
  .command('up')
  .description(`start services (default: ${defaultInfraServices.join(', ')}) and wait until healthy`)
  .argument('[services...]', infraServiceNames.join(' | '))
  .action(async (names: string[]) => {
    for (const name of servicesArgument(names)) {
      const started = Date.now();
      const status = await (await infraService(name)).up();
      console.log(
        `${name.padEnd(9)} up    ${status.endpoint}  (${status.managedBy}, ${Date.now() - started} ms)`,
      );
    }
  });
infra
  .command('down')
  .description('stop the services Joinery started')
  .argument('[services...]', infraServiceNames.join(' | '))
  .option('--purge', "also delete their state: Kafka's data, the LDAP directory, the AD domain")
  .action(async (names: string[], options: { purge?: boolean }) => {
    for (const name of names.length === 0 ? [...infraServiceNames] : servicesArgument(names)) {
      const outcome = await (await infraService(name)).down({ purge: options.purge === true });
      const purged = options.purge === true && !outcome.startsWith('left running');
      console.log(`${name.padEnd(9)} ${outcome}${purged ? ', state purged' : ''}`);
    }
  });
infra
  .command('status')
  .description('show each service: running, endpoint, who manages it, log file')
  .action(async () => {
    for (const name of infraServiceNames) {
      const status = await (await infraService(name)).status();
      const state = status.running ? 'up' : 'down';
      console.log(
        `${name.padEnd(9)} ${state.padEnd(5)} ${status.endpoint}  ${status.managedBy}${status.pid === undefined ? '' : ` pid ${status.pid}`}${status.logFile === undefined ? '' : `  log ${status.logFile}`}`,
      );
    }
  });

class JoineryUsageError extends Error {}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const problem = startUpProblem(error);
  if (problem !== undefined) {
    // Something the user can fix, said in one line with what to do.
    console.error(`joinery: ${problem}`);
    process.exit(EXIT_FAILURE);
  }
  if (error instanceof PlanInvalidError) {
    console.error(error.message);
    process.exit(EXIT_DATA);
  }
  const code =
    error instanceof JoineryError && error.code === 'JNY_CONFIG_INVALID' ? EXIT_CONFIG : EXIT_FAILURE;
  const label = code === EXIT_CONFIG ? 'configuration error' : 'error';
  console.error(`joinery: ${label}: ${describeError(error)}`);
  process.exit(code);
}

/** The one line for a start-up failure the user can fix: the embedded PostgreSQL's, or the API's address. */
function startUpProblem(error: unknown): string | undefined {
  if (error instanceof StartUpError) return error.message;
  const { code, address, port } = error as NodeJS.ErrnoException & { address?: string; port?: number };
  if (error instanceof Error && typeof port === 'number' && typeof address === 'string') {
    const where = `${address.includes(':') ? `[${address}]` : address}:${String(port)}`;
    if (code === 'EADDRINUSE')
      return `cannot listen on ${where}: the port is in use (another Joinery?) — stop what uses it, or set JOINERY_HTTP_PORT`;
    if (code === 'EACCES')
      return `cannot listen on ${where}: not allowed for this user — use a port above 1023, or set JOINERY_HTTP_PORT`;
    if (code === 'EADDRNOTAVAIL')
      return `cannot listen on ${where}: no such address on this machine — set JOINERY_HTTP_HOST`;
  }
  return undefined;
}
