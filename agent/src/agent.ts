// The agent's runtime: enrols once, then runs side by side a delta poll (import objects, and pulses for
// enabled flips), a password capture poll (pulses with the password sealed to the tenant key), a full
// import on its interval (started marker, objects, completed marker), the channel that delivers the queue,
// and the writeback of the exports the channel receives. Stopping lets each step in flight finish.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  ConfigError,
  DeltaCookieExpiredError,
  describeError,
  isErrorCode,
  isRetriable,
  type ErrorCode,
} from '../../kernel/errors.ts';
import type { AgentConfig } from './config/agent-config.schema.ts';
import { requireSettings } from './config/load-agent-config.ts';
import type { WritebackResult } from './contracts.ts';
import type { DirectoryParts } from './directory-kinds.ts';
import { createChannelClient, type ChannelClient } from './channel/channel-client.ts';
import type { ReceivedExport } from './channel/export-receiver.ts';
import type { AgentHealthReport } from './channel/heartbeat.ts';
import { enrol } from './channel/enrol-client.ts';
import {
  generateEncryptionKeyPair,
  generateSigningKeyPair,
  sealSecret,
} from '../../kernel/channel/sealing.ts';
import type { AgentKeys, AgentStore, Enrolment } from './queue/agent-store.ts';
import {
  deltaMessages,
  fullImportPage,
  passwordPulse,
  runMarker,
  type Target,
} from './queue/outgoing-messages.ts';

export const AGENT_VERSION = '0.1.0';

/** Enrols with the connector's one-time client key, unless the state database already holds an enrolment. */
export async function ensureEnrolled(options: {
  config: AgentConfig;
  store: AgentStore;
  ca?: string[];
  logger: Logger;
}): Promise<{ enrolment: Enrolment; keys: AgentKeys }> {
  const { config, store } = options;
  const keys = await store.keys(async () => ({
    encryption: await generateEncryptionKeyPair(),
    signing: generateSigningKeyPair(),
  }));
  const existing = store.enrolment();
  if (existing !== undefined) {
    if (existing.tenantId !== config.tenantId || existing.connectorId !== config.connectorId) {
      throw new ConfigError(
        `connectorId (in ${config.file}): the state directory ${config.stateDir} belongs to connector ${existing.connectorId} of tenant ${existing.tenantId}; use another stateDir for another connector`,
      );
    }
    return { enrolment: existing, keys };
  }
  // Only now is the client key needed: an unset ${JOINERY_AGENT_CLIENT_KEY} is fine once enrolled.
  requireSettings(
    config,
    ['clientKey'],
    `the agent is not enrolled yet (state directory ${config.stateDir}) and needs the connector's one-time client key to enrol`,
  );
  if (config.clientKey === undefined) {
    throw new ConfigError(
      `clientKey (in ${config.file}): the agent is not enrolled yet; give the connector's one-time client key (e.g. clientKey: \${JOINERY_AGENT_CLIENT_KEY})`,
    );
  }
  const { response, apiUrl } = await enrol({
    urls: config.api.urls,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    request: {
      tenantId: config.tenantId,
      connectorId: config.connectorId,
      clientKey: config.clientKey,
      publicKeys: { x25519: keys.encryption.publicKey, ed25519: keys.signing.publicKey },
      agentVersion: AGENT_VERSION,
    },
  });
  const enrolment: Enrolment = {
    tenantId: response.tenantId,
    connectorId: response.connectorId,
    applicationIds: response.applicationIds,
    tenantKey: response.tenantKey,
    apiUrl,
    enrolledAt: new Date().toISOString(),
  };
  store.saveEnrolment(enrolment);
  options.logger.info(
    {
      tenantId: enrolment.tenantId,
      connectorId: enrolment.connectorId,
      apiUrl,
      applications: enrolment.applicationIds.length,
    },
    'enrolled',
  );
  return { enrolment, keys };
}

/** The application the directory is, from the configuration or the connector's only application. */
export function resolveApplication(config: AgentConfig, enrolment: Enrolment): string {
  const configured = config.directory.applicationId;
  if (configured !== undefined) {
    if (!enrolment.applicationIds.includes(configured)) {
      throw new ConfigError(
        `directory.applicationId (in ${config.file}): ${configured} is not one of the connector's applications (${enrolment.applicationIds.join(', ')})`,
      );
    }
    return configured;
  }
  const [only, ...others] = enrolment.applicationIds;
  if (only === undefined || others.length > 0) {
    throw new ConfigError(
      `directory.applicationId (in ${config.file}): the connector serves ${String(enrolment.applicationIds.length)} applications; name the directory's one`,
    );
  }
  return only;
}

export interface AgentOptions {
  config: AgentConfig;
  store: AgentStore;
  enrolment: Enrolment;
  keys: AgentKeys;
  parts: DirectoryParts;
  logger: Logger;
  ca?: string[];
  now?: () => Date;
}

export interface Agent {
  /** Runs until stop() is called; resolves once everything in flight has finished. */
  run(): Promise<void>;
  stop(): Promise<void>;
  readonly channel: ChannelClient;
}

export function createAgent(options: AgentOptions): Agent {
  const { config, store, enrolment, parts } = options;
  const log = options.logger;
  const now = options.now ?? (() => new Date());
  const target: Target = {
    tenantId: enrolment.tenantId,
    applicationId: resolveApplication(config, enrolment),
  };
  const problems = new Map<string, string>();
  const sleepers = new Set<() => void>();
  const lifecycle = { stopping: false };
  /** A call, not a property read: the flag flips while loops await, which narrowing cannot see. */
  const stopping = (): boolean => lifecycle.stopping;
  let exportsChain: Promise<void> = Promise.resolve();

  const health = (): AgentHealthReport =>
    problems.size === 0 ? { status: 'ok' } : { status: 'degraded', problems: [...problems.values()] };

  const channel = createChannelClient({
    urls: [enrolment.apiUrl, ...config.api.urls.filter((url) => url !== enrolment.apiUrl)],
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    enrolment,
    keys: options.keys,
    store,
    version: AGENT_VERSION,
    health,
    logger: log,
    onExports: (received) => {
      exportsChain = exportsChain.then(() => applyExports(received));
    },
  });

  /** Each step's pending sleep, to wake it early (a full import made due now). */
  const wakers = new Map<string, () => void>();
  const sleep = (ms: number, step: string) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sleepers.delete(done);
        wakers.delete(step);
        resolve();
      };
      const timer = setTimeout(done, ms);
      sleepers.add(done);
      wakers.set(step, done);
    });

  /** Runs a step every `intervalMs` until stopping; a failing step is logged and marks the agent degraded. */
  const every = async (name: string, intervalMs: number, step: () => Promise<void>): Promise<void> => {
    while (!stopping()) {
      try {
        await step();
        if (problems.delete(name)) log.info({ step: name }, `${name} recovered`);
      } catch (error) {
        const first = !problems.has(name);
        problems.set(name, `${name} failing (${(error as Error).name})`);
        const entry = { step: name, error: describeError(error), code: (error as { code?: unknown }).code };
        if (first) log.error(entry, `${name} failed; retrying every ${String(intervalMs)} ms`);
        else log.debug(entry, `${name} still failing`);
      }
      if (!stopping()) await sleep(intervalMs, name);
    }
  };

  const deltaStep = async (): Promise<void> => {
    const cookie = store.get('cookie');
    if (cookie === undefined) {
      // The first position is taken by the first full import, before it reads (see fullImport).
      if (!fullImportDue()) store.enqueue([], { cookie: await parts.source.currentCookie() });
      return;
    }
    let result;
    try {
      result = await parts.source.deltaImport(cookie);
    } catch (error) {
      if (!(error instanceof DeltaCookieExpiredError)) throw error;
      // Changes since the cookie cannot be read: start from now, and a full import (due at once) brings
      // back everything, deletions included (objects it does not see).
      store.enqueue([], { cookie: await parts.source.currentCookie(), values: { lastFullImportAt: null } });
      log.warn({ reason: error.message }, 'delta position lost: a full import runs now');
      wakers.get('full import')?.();
      return;
    }
    if (result.changes.length === 0 && result.cookie === cookie) return;
    const known = store.knownEnabled(
      result.changes.flatMap((change) => (change.operation === 'upsert' ? [change.record.externalId] : [])),
    );
    const planned = deltaMessages({
      target,
      changes: result.changes,
      known,
      cookie: result.cookie,
      now: now().toISOString(),
      newId: randomUUID,
    });
    store.enqueue(planned.messages, planned.changes);
    if (planned.messages.length > 0) {
      log.info({ changes: result.changes.length, messages: planned.messages.length }, 'delta captured');
      channel.notify();
    }
  };

  const passwordStep = async (): Promise<void> => {
    const capture = parts.capture;
    if (capture === undefined) return;
    const captured = await capture.poll();
    if (captured.length === 0) {
      await capture.acknowledge();
      return;
    }
    const messages = [];
    for (const change of captured) {
      // Sealed here: the clear password never leaves this process, not even to the state database.
      const secret = await sealSecret(enrolment.tenantKey, enrolment.tenantId, change.password);
      messages.push(
        passwordPulse({ target, externalId: change.externalId, at: change.at, secret, id: randomUUID() }),
      );
    }
    store.enqueue(messages);
    // Only now may the capture move on: a crash before this point captures the same changes again.
    await capture.acknowledge();
    log.info({ passwords: messages.length }, 'password changes captured');
    channel.notify();
  };

  const fullImportDue = (): boolean => {
    const last = store.get('lastFullImportAt');
    return (
      last === undefined ||
      now().getTime() - Date.parse(last) >= config.schedules.fullImportIntervalMinutes * 60_000
    );
  };

  const fullImport = async (): Promise<void> => {
    if (!fullImportDue()) return;
    // The delta starts from a position taken before this import reads: a change made while it reads, or
    // after, is read again by the delta. Taken after, it could pass over a change the import missed.
    if (store.get('cookie') === undefined) store.enqueue([], { cookie: await parts.source.currentCookie() });
    const runId = randomUUID();
    const startedAt = now().toISOString();
    store.enqueue([runMarker({ target, runId, phase: 'started', now: startedAt, id: randomUUID() })], {
      values: { fullRun: JSON.stringify({ runId, startedAt }) },
    });
    channel.notify();
    log.info({ runId }, 'full import started');
    let objectCount = 0;
    try {
      for await (const records of parts.source.fullImport()) {
        const planned = fullImportPage({
          target,
          runId,
          records,
          now: now().toISOString(),
          newId: randomUUID,
        });
        objectCount += records.length;
        store.enqueue(planned.messages, planned.changes);
        channel.notify();
        if (stopping()) {
          abortRun(runId, 'the agent is stopping');
          return;
        }
      }
    } catch (error) {
      abortRun(runId, describeError(error));
      throw error;
    }
    const completedAt = now().toISOString();
    store.enqueue(
      [runMarker({ target, runId, phase: 'completed', objectCount, now: completedAt, id: randomUUID() })],
      { values: { fullRun: null, lastFullImportAt: completedAt } },
    );
    channel.notify();
    log.info({ runId, objectCount }, 'full import completed');
  };

  const abortRun = (runId: string, reason: string): void => {
    store.enqueue(
      [runMarker({ target, runId, phase: 'aborted', now: now().toISOString(), id: randomUUID() })],
      {
        values: { fullRun: null },
      },
    );
    channel.notify();
    log.warn({ runId, reason }, 'full import aborted (it deletes nothing)');
  };

  const applyExports = async (received: ReceivedExport[]): Promise<void> => {
    for (const item of received) {
      const earlier = store.appliedExport(item.exportId);
      let result: WritebackResult;
      if (earlier !== undefined) {
        result = earlier; // delivered again (its lease ran out): answered, not applied twice
      } else if (parts.writeback === undefined) {
        result = {
          status: 'failed',
          code: 'JNY_WRITEBACK_UNAVAILABLE',
          message: `the ${config.directory.kind} agent has no writeback configured`,
          retriable: false,
        };
      } else {
        try {
          result = await parts.writeback.apply({
            ...item.instruction,
            ...(item.password === undefined ? {} : { password: item.password }),
          });
        } catch (error) {
          result = {
            status: 'failed',
            code: errorCode(error) ?? 'JNY_WRITEBACK_FAILED',
            message: describeError(error),
            retriable: isRetriable(error),
          };
        }
      }
      store.recordExportResult(item.exportId, result);
      log.info(
        {
          exportId: item.exportId,
          operation: item.instruction.operation,
          status: result.status,
          repeated: earlier !== undefined,
        },
        'export applied',
      );
    }
    channel.resultsReady();
  };

  let running: Promise<void> | undefined;
  return {
    channel,
    run() {
      running ??= (async () => {
        const open = store.get('fullRun');
        if (open !== undefined)
          abortRun((JSON.parse(open) as { runId: string }).runId, 'the agent stopped during the run');
        channel.start();
        log.info(
          {
            tenantId: target.tenantId,
            connectorId: enrolment.connectorId,
            applicationId: target.applicationId,
            queueDepth: store.depth(),
          },
          'agent started',
        );
        await Promise.all([
          every('delta import', config.schedules.deltaPollIntervalMs, deltaStep),
          config.schedules.passwordCapture
            ? every('password capture', config.schedules.passwordPollIntervalMs, passwordStep)
            : Promise.resolve(),
          every(
            'full import',
            Math.min(60_000, config.schedules.fullImportIntervalMinutes * 60_000),
            fullImport,
          ),
        ]);
        await exportsChain;
        await channel.stop();
      })();
      return running;
    },
    async stop() {
      lifecycle.stopping = true;
      for (const wake of [...sleepers]) wake();
      await running;
    },
  };
}

function errorCode(error: unknown): ErrorCode | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return isErrorCode(code) ? code : undefined;
}
