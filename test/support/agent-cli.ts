// The agent's own command (agent/src/main.ts, `joinery-agent`) run from the checkout as a child process with
// this process's Node 24: what a user types, with exactly the environment a test gives it (nothing inherited
// but PATH and HOME), so a test can leave a variable the configuration names unset.
import { join } from 'node:path';
import { run, start, type Finished, type Started } from './agent-artifact.ts';

const main = join(import.meta.dirname, '..', '..', 'agent', 'src', 'main.ts');

/** The environment of the command: PATH and HOME, and the variables given (the others unset). */
export function agentEnv(variables: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...variables };
}

/** Runs `joinery-agent <args>` to its end. */
export function runAgentCli(
  args: string[],
  options: { cwd: string; variables?: Record<string, string> },
): Promise<Finished> {
  return run(process.execPath, [main, ...args], { cwd: options.cwd, env: agentEnv(options.variables) });
}

/** Starts `joinery-agent <args>` (e.g. `run`), collecting what it prints. */
export function startAgentCli(
  args: string[],
  options: { cwd: string; variables?: Record<string, string> },
): Started {
  return start(process.execPath, [main, ...args], { cwd: options.cwd, env: agentEnv(options.variables) });
}
