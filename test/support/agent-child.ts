// The agent as its own process, for tests that kill it: `node agent-child.ts <agent.yaml>`, with the JSON
// file directory (directory.options.file) in place of a real one. Stops on SIGTERM like the CLI.
import { runAgent } from '../../agent/src/cli.ts';
import { loadAgentConfig } from '../../agent/src/config/load-agent-config.ts';
import { jsonFileDirectoryFactory } from './agent-fixtures.ts';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: agent-child.ts <agent.yaml>');
await runAgent({
  config: loadAgentConfig({ file, env: process.env }),
  directory: jsonFileDirectoryFactory,
  onSignal: (handler) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const)
      process.on(signal, () => {
        handler(signal);
      });
  },
});
