// `joinery-agent`: run (the default), `status` (from the state database, no network) and `enrol`. The
// composition root of the agent: configuration, logging, state, directory parts and the runtime. Each command
// asks only for the settings it uses: status none of the secrets, enrol the client key (when not enrolled
// yet), run the directory's options (and the client key when not enrolled yet).
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Command } from 'commander';
import { pino, type Logger } from 'pino';
import pinoRoll from 'pino-roll';
import { redactedPaths } from '../../kernel/log-settings.ts';
import { ConfigError } from '../../kernel/errors.ts';
import type { AgentConfig } from './config/agent-config.schema.ts';
import { loadAgentConfig, requireSettings } from './config/load-agent-config.ts';
import { createAgent, ensureEnrolled } from './agent.ts';
import { createDirectoryParts, type DirectoryFactory } from './directory-kinds.ts';
import { AgentStore } from './queue/agent-store.ts';

/**
 * The agent's log: JSON lines to stdout, or to a file rotated by pino-roll (size and daily/hourly).
 * pino-roll runs in the agent's own thread, not as a pino transport: a transport is loaded by name in a
 * worker thread, which a single executable (npm run agent:build) cannot resolve; the bundle holds it instead.
 */
export async function createAgentLogger(config: AgentConfig['log']): Promise<Logger> {
  const options = {
    level: config.level,
    base: { service: 'joinery-agent' },
    redact: { paths: [...redactedPaths, '*.clientKey', 'clientKey'], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (config.file === undefined) return pino(options);
  return pino(
    options,
    await pinoRoll({
      file: config.file,
      frequency: config.rotation.frequency,
      size: config.rotation.size,
      limit: { count: config.rotation.keep },
      mkdir: true,
    }),
  );
}

/** Writes out what the logger still holds (before the process exits, whatever the outcome). */
function flushLog(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    logger.flush(() => {
      resolve();
    });
  });
}

function trustedCas(config: AgentConfig): string[] | undefined {
  if (config.api.caFile === undefined) return undefined;
  try {
    return [...rootCertificates, readFileSync(config.api.caFile, 'utf8')];
  } catch (error) {
    throw new ConfigError(`api.caFile (in ${config.file}): cannot read ${config.api.caFile}`, {
      cause: error,
    });
  }
}

/** Runs the agent until SIGTERM/SIGINT; the step in flight finishes and the process exits 0. */
export async function runAgent(options: {
  config: AgentConfig;
  directory?: DirectoryFactory;
  /** Registers the stop handler for SIGTERM/SIGINT (the CLI passes process signals). */
  onSignal: (handler: (signal: string) => void) => void;
}): Promise<void> {
  const { config } = options;
  let stopRequested: string | undefined;
  let stop: ((signal: string) => void) | undefined;
  options.onSignal((signal) => {
    if (stop === undefined) stopRequested = signal;
    else stop(signal);
  });
  const logger = await createAgentLogger(config.log);
  const store = AgentStore.open(config.stateDir);
  try {
    // The directory settings are checked before anything else happens (no connection is opened yet).
    // Only `run` needs them: their variables (the bind password's) may be unset for status and enrol.
    requireSettings(config, ['directory'], 'the agent needs it to connect to the directory');
    const parts = await (options.directory ?? createDirectoryParts)(config.directory, {
      logger,
      stateDir: config.stateDir,
      passwordCapture: config.schedules.passwordCapture,
      file: config.file,
    });
    const ca = trustedCas(config);
    const { enrolment, keys } = await ensureEnrolled({
      config,
      store,
      logger,
      ...(ca === undefined ? {} : { ca }),
    });
    const agent = createAgent({
      config,
      store,
      enrolment,
      keys,
      parts,
      logger,
      ...(ca === undefined ? {} : { ca }),
    });
    let stopping = false;
    stop = (signal) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping: finishing the steps in flight');
      void agent.stop();
    };
    const running = agent.run();
    if (stopRequested !== undefined) stop(stopRequested);
    await running;
    await Promise.all([parts.source.close(), parts.capture?.close(), parts.writeback?.close()]);
    logger.info({ queueDepth: store.depth() }, 'agent stopped');
  } finally {
    store.close();
    await flushLog(logger);
  }
}

function printStatus(config: AgentConfig): void {
  const store = AgentStore.open(config.stateDir);
  try {
    const status = store.status();
    const age = (at: string | undefined) =>
      at === undefined
        ? 'never'
        : `${at} (${String(Math.round((Date.now() - Date.parse(at)) / 1000))} s ago)`;
    const lines: [string, string][] = [
      ['state', store.file],
      ['enrolled', status.enrolled ? `yes, ${status.enrolledAt ?? ''}` : 'no (run: joinery-agent enrol)'],
      ['tenant', status.tenantId ?? '-'],
      ['connector', status.connectorId ?? '-'],
      ['last connection', age(status.lastConnectedAt)],
      [
        'queue depth',
        `${String(status.queueDepth)}${status.oldestQueuedAt === undefined ? '' : `, oldest queued ${age(status.oldestQueuedAt)}`}`,
      ],
      ['refused messages', String(status.rejected)],
      ['delta cookie', age(status.cookieSavedAt)],
      ['last full import', age(status.lastFullImportAt)],
      ['full import running', status.openFullRun ?? 'no'],
      ['unacked export results', String(status.unackedResults)],
      ['last error', status.lastError ?? '-'],
    ];
    for (const [label, value] of lines) console.log(`${label.padEnd(24)}${value}`);
  } finally {
    store.close();
  }
}

async function enrolOnly(config: AgentConfig): Promise<void> {
  const logger = await createAgentLogger(config.log);
  const store = AgentStore.open(config.stateDir);
  try {
    const ca = trustedCas(config);
    const { enrolment } = await ensureEnrolled({
      config,
      store,
      logger,
      ...(ca === undefined ? {} : { ca }),
    });
    console.log(
      `enrolled: tenant ${enrolment.tenantId}, connector ${enrolment.connectorId}, applications ${enrolment.applicationIds.join(', ')}, via ${enrolment.apiUrl}`,
    );
  } finally {
    store.close();
    await flushLog(logger);
  }
}

/**
 * The `agent` command tree. `env` is the process environment (for `${NAME}` references in the file);
 * `globalConfig` reads a `--config` that the parent program took for itself.
 */
export function agentCommand(options: {
  env: Readonly<Record<string, string | undefined>>;
  globalConfig: () => string | undefined;
  onSignal: (handler: (signal: string) => void) => void;
}): Command {
  const configOf = (command: Command): AgentConfig => {
    const file = command.opts<{ config?: string }>().config ?? options.globalConfig();
    if (file === undefined) throw new ConfigError('--config <agent.yaml> is required');
    return loadAgentConfig({ file, env: options.env });
  };
  const agent = new Command('agent').description(
    'the on-prem agent: reads a directory, connects out to the API, writes exports back',
  );
  agent
    .command('run', { isDefault: true })
    .description('run the agent (enrols first if needed) until SIGTERM/SIGINT')
    .option('-c, --config <file>', 'the agent YAML configuration')
    .action(async (_options: unknown, command: Command) => {
      await runAgent({ config: configOf(command), onSignal: options.onSignal });
    });
  agent
    .command('status')
    .description('enrolment, last connection, queue depth, cookie age (from the state database)')
    .option('-c, --config <file>', 'the agent YAML configuration')
    .action((_options: unknown, command: Command) => {
      printStatus(configOf(command));
    });
  agent
    .command('enrol')
    .description("enrol with the connector's one-time client key")
    .option('-c, --config <file>', 'the agent YAML configuration')
    .action(async (_options: unknown, command: Command) => {
      await enrolOnly(configOf(command));
    });
  return agent;
}
