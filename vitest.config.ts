import { defineConfig } from 'vitest/config';
import { sambaAdProject, LongFirstSequencer } from './test/support/sequencer.ts';

// The files that talk to the Samba AD test DC. It serves LDAP from one process (`samba -M single`; with
// `-M prefork` its writes time out against each other), so two of these files at once keep one waiting
// for seconds on the other's operations, past their timeouts: each waits for its turn on the DC
// (test/support/samba-ad-turn.ts), beside the other integration files, spread out among them.
const activeDirectoryFiles = [
  'test/integration/agent-directory-read.test.ts',
  'test/integration/agent-e2e.test.ts',
  'test/integration/agent-password-capture.test.ts',
  'test/integration/agent-writeback.test.ts',
  'test/integration/samba-ad.test.ts',
];

// Two cores: more workers than that only makes the real servers slower. Every project has the same
// number, so that vitest runs all of them as one group on the same two workers (a project with another
// number, or a `sequence.groupOrder` of its own, would run after the others, on its own).
const maxWorkers = 2;

const integration = {
  // Brings up PostgreSQL, Kafka and OpenLDAP through the same code as `npm run infra:up`.
  globalSetup: ['test/support/global-setup.ts'],
  testTimeout: 60_000,
  hookTimeout: 180_000,
  // kafkajs 2.2 on Node 24 schedules timers from timestamps in the past; harmless, and `joinery`
  // silences it the same way (the npm test scripts also pass it to vitest's own process, where
  // the global setup runs).
  execArgv: ['--disable-warning=TimeoutNegativeWarning'],
  maxWorkers,
};

export default defineConfig({
  test: {
    sequence: { sequencer: LongFirstSequencer },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          maxWorkers,
        },
      },
      {
        test: {
          ...integration,
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: activeDirectoryFiles,
        },
      },
      {
        test: {
          ...integration,
          name: sambaAdProject,
          include: activeDirectoryFiles,
          setupFiles: ['test/support/samba-ad-turn.ts'],
        },
      },
    ],
  },
});
