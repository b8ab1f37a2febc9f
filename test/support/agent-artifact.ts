// The agent as it ships: what `npm run agent:build` leaves in dist/agent (a single executable, and an npm
// package of the same bundle), built by the tests that need it, and run as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Metafile } from 'esbuild';

const root = join(import.meta.dirname, '..', '..');
export const artifactDir = join(root, 'dist', 'agent');
export const agentExecutable = join(artifactDir, 'joinery-agent');

/** A finished command: its exit code (null when a signal ended it), signal and output. */
export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Started {
  child: ChildProcess;
  exited: Promise<Finished>;
  /** What it printed so far, both streams. */
  output(): string;
}

/** Starts a command, collecting what it prints. */
export function start(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Started {
  const child = spawn(command, args, {
    cwd: options.cwd ?? root,
    env: options.env ?? { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'close').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
    stdout,
    stderr,
  }));
  return { child, exited, output: () => `${stdout}${stderr}` };
}

/** Runs a command to its end. */
export function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Finished> {
  return start(command, args, options).exited;
}

/** Runs the build (agent/build/build-agent.ts) with this process's Node 24; rejects with its output. */
export async function buildAgentArtifact(): Promise<void> {
  const built = await run(process.execPath, [join(root, 'agent', 'build', 'build-agent.ts')]);
  if (built.code !== 0)
    throw new Error(`npm run agent:build failed (${String(built.code)}):\n${built.stdout}${built.stderr}`);
}

/** The files that went into the bundle, relative to the checkout (esbuild's metafile, kept by the build). */
export function bundledInputs(): string[] {
  const metafile = JSON.parse(readFileSync(join(artifactDir, 'build-meta.json'), 'utf8')) as Metafile;
  return Object.keys(metafile.inputs);
}
