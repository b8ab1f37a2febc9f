#!/usr/bin/env node
// `joinery-agent`: the on-prem agent's own command, shipped on its own (agent/package.json, and a single
// executable built by `npm run agent:build`). It imports nothing of the service.
// No top-level await: the single executable runs this file bundled as CommonJS.
import { Command } from 'commander';
import { describeError, JoineryError } from '../../kernel/errors.ts';
import { AGENT_VERSION } from './agent.ts';
import { agentCommand } from './cli.ts';

const EXIT_CONFIG = 78; // sysexits EX_CONFIG
const EXIT_FAILURE = 1;

async function main(): Promise<void> {
  const program = agentCommand({
    env: process.env,
    globalConfig: () => undefined,
    onSignal: (handler) => {
      process.on('SIGTERM', () => {
        handler('SIGTERM');
      });
      process.on('SIGINT', () => {
        handler('SIGINT');
      });
    },
  }) satisfies Command;
  program.name('joinery-agent').version(AGENT_VERSION).showHelpAfterError();

  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    const code =
      error instanceof JoineryError && error.code === 'JNY_CONFIG_INVALID' ? EXIT_CONFIG : EXIT_FAILURE;
    console.error(
      `joinery-agent: ${code === EXIT_CONFIG ? 'configuration error' : 'error'}: ${describeError(error)}`,
    );
    process.exit(code);
  }
}

void main();
