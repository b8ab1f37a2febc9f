// Where a benchmark phase's CPU goes, read from /proc: the engine (this process's children, the ones still
// running and the ones that exited), PostgreSQL (every postmaster with its backends, including the
// backends that exited, which a postmaster's children times hold) and the Kafka broker. On a 2-core machine
// these three share the cores, so the split says which one a phase waits for. PostgreSQL's figure includes
// the benchmark's own progress queries and whatever else the cluster serves meanwhile (nothing else runs
// during a benchmark here). Linux only; elsewhere every figure is 0.
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

export interface CpuSample {
  engine: number;
  postgres: number;
  kafka: number;
  /** Wall clock, ms (performance.now()). */
  at: number;
}

export interface CpuSpent {
  /** CPU seconds of each, and the wall-clock seconds they were spent in. */
  engine: number;
  postgres: number;
  kafka: number;
  wallSeconds: number;
}

interface ProcessTimes {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime, ticks. */
  own: number;
  /** cutime + cstime (children it has waited for), ticks. */
  reaped: number;
}

function readProcess(pid: number): ProcessTimes | undefined {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: the fields that follow start after the last one.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    const field = (index: number) => Number(fields[index] ?? 0);
    // fields[0] is the state (field 3 of proc(5)): ppid is field 4, utime..cstime fields 14-17.
    return { pid, ppid: field(1), comm, own: field(11) + field(12), reaped: field(13) + field(14) };
  } catch {
    return undefined; // exited while we looked
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** The CPU spent so far by the engine, PostgreSQL and Kafka. */
export function sampleCpu(): CpuSample {
  const at = performance.now();
  let pids: number[];
  try {
    pids = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map(Number);
  } catch {
    return { engine: 0, postgres: 0, kafka: 0, at };
  }
  const all = pids.flatMap((pid) => readProcess(pid) ?? []);
  const byPid = new Map(all.map((entry) => [entry.pid, entry]));
  let engine = byPid.get(process.pid)?.reaped ?? 0;
  let postgres = 0;
  let kafka = 0;
  for (const entry of all) {
    if (entry.comm === 'postgres') {
      const isPostmaster = byPid.get(entry.ppid)?.comm !== 'postgres';
      postgres += entry.own + (isPostmaster ? entry.reaped : 0);
    } else if (entry.comm === 'java' && commandLine(entry.pid).includes('kafka.Kafka')) {
      kafka += entry.own; // a broker the benchmark started is its child too: counted here only
    } else if (entry.ppid === process.pid) {
      engine += entry.own + entry.reaped;
    }
  }
  const seconds = (ticks: number) => ticks / TICKS_PER_SECOND;
  return { engine: seconds(engine), postgres: seconds(postgres), kafka: seconds(kafka), at };
}

/** The CPU spent between pairs of samples (a phase may be measured in several intervals). */
export function cpuSpent(...intervals: [CpuSample, CpuSample][]): CpuSpent {
  const total: CpuSpent = { engine: 0, postgres: 0, kafka: 0, wallSeconds: 0 };
  for (const [from, to] of intervals) {
    total.engine += to.engine - from.engine;
    total.postgres += to.postgres - from.postgres;
    total.kafka += to.kafka - from.kafka;
    total.wallSeconds += (to.at - from.at) / 1000;
  }
  const round = (value: number) => Math.round(value * 10) / 10;
  return {
    engine: round(total.engine),
    postgres: round(total.postgres),
    kafka: round(total.kafka),
    wallSeconds: round(total.wallSeconds),
  };
}

/** "engine 120.3 s, PostgreSQL 300.1 s, Kafka 20.2 s of CPU in 250.0 s (1.76 of 2 cores busy)" */
export function describeCpu(spent: CpuSpent, cores: number): string {
  const busy = (spent.engine + spent.postgres + spent.kafka) / Math.max(spent.wallSeconds, 0.001);
  return `engine ${spent.engine.toFixed(1)} s, PostgreSQL ${spent.postgres.toFixed(1)} s, Kafka ${spent.kafka.toFixed(1)} s of CPU in ${spent.wallSeconds.toFixed(1)} s (${busy.toFixed(2)} of ${String(cores)} cores busy)`;
}
