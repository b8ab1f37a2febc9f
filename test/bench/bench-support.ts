// Shared by the benchmarks: producing many messages quickly, the engine as a `joinery start` child
// process, and small formatting helpers.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Message, Producer } from 'kafkajs';
import { engineNodeFlags, projectRoot } from '../../src/infra/process.ts';

export const say = (line: string): void => {
  console.log(`[bench] ${line}`);
};
/** Writes a run to docs/benchmarks/<name>-<size>.json and appends it to docs/benchmarks/history.jsonl. */
/** The last recorded run of this benchmark at this size (docs/benchmarks/history.jsonl), to print beside a new one. */
export function previousBenchmark(name: string, size: number): Record<string, unknown> | undefined {
  const file = join(projectRoot, 'docs', 'benchmarks', 'history.jsonl');
  if (!existsSync(file)) return undefined;
  const runs = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((run) => run.benchmark === name && run.records === size);
  return runs.at(-1);
}

export function recordBenchmark(name: string, size: number, result: unknown): void {
  const dir = join(projectRoot, 'docs', 'benchmarks');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}-${String(size)}.json`), `${JSON.stringify(result, null, 2)}\n`);
  appendFileSync(join(dir, 'history.jsonl'), `${JSON.stringify(result)}\n`);
}

export const rate = (count: number, ms: number): number => Math.round((count * 1000) / ms);
export const mib = (kib: number): number => Math.round(kib / 1024);
export const thousands = (value: number): string => value.toLocaleString('en');

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Produces `count` messages built on the fly, 5,000 per request, four requests in flight. */
export async function produceAll(
  producer: Producer,
  topic: string,
  count: number,
  make: (index: number) => Message,
  progress?: (done: number) => void,
): Promise<void> {
  const chunk = 5000;
  const inFlight: Promise<unknown>[] = [];
  for (let start = 0; start < count; start += chunk) {
    const messages: Message[] = [];
    for (let index = start; index < Math.min(count, start + chunk); index++) messages.push(make(index));
    inFlight.push(producer.send({ topic, messages, acks: 1 }));
    if (inFlight.length >= 4) await inFlight.shift();
    progress?.(Math.min(count, start + chunk));
  }
  await Promise.all(inFlight);
}

export interface EngineChild {
  process: ChildProcess;
  /** Resident memory now (VmRSS) or at its peak (VmHWM), KiB. */
  memory(field: 'VmRSS' | 'VmHWM'): number;
  log(): string;
  /** The API's base URL, once it listens (from its "Joinery is listening" line). */
  url(): string | undefined;
  stop(): Promise<void>;
}

/** `joinery start` as a user runs it, against the given database and broker. */
export function spawnEngine(options: {
  databaseUrl: string;
  brokers: string[];
  topicPrefix: string;
  partitions: number;
  profileDir?: string;
  /** Further settings for this engine (e.g. JOINERY_AUDIT_CONSUMER). */
  env?: Record<string, string>;
}): EngineChild {
  const profiling =
    options.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`];
  const child = spawn(
    process.execPath,
    [
      ...profiling,
      ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
      ...engineNodeFlags,
      join(projectRoot, 'src/cli/main.ts'),
      'start',
    ],
    {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        DATABASE_URL: options.databaseUrl,
        KAFKA_BROKERS: options.brokers.join(','),
        JOINERY_TOPIC_PREFIX: options.topicPrefix,
        JOINERY_KAFKA_PARTITIONS: String(options.partitions),
        JOINERY_HTTP_PORT: '0',
        JOINERY_LOG_LEVEL: 'info',
        // Engine tuning given to the benchmark (e.g. JOINERY_ENGINE_ACTOR_CACHE_SIZE) reaches the engine.
        ...Object.fromEntries(
          Object.entries(process.env).filter(([name]) => name.startsWith('JOINERY_ENGINE_')),
        ),
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  let stopping = false;
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // An engine that ends before it is told to is the benchmark's failure, said at once with its last words.
  child.once('exit', (code, signal) => {
    if (stopping) return;
    process.stderr.write(
      `[bench] the engine exited on its own (${signal ?? `code ${String(code)}`}); its last output:\n${output.slice(-4000)}\n`,
    );
  });
  return {
    process: child,
    memory(field) {
      const match = new RegExp(`${field}:\\s+(\\d+)`).exec(
        readFileSync(`/proc/${String(child.pid ?? 0)}/status`, 'utf8'),
      );
      return Number(match?.[1] ?? 0);
    },
    log: () => output,
    url: () => /"url":"(https?:\/\/[^"]+)"[^\n]*Joinery is listening/.exec(output)?.[1],
    async stop() {
      stopping = true;
      // Ended already (an exit code, or a signal: then exitCode stays null).
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
