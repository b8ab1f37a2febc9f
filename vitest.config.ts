import { defineConfig } from 'vitest/config';

// The files that talk to the Samba AD test DC. It serves LDAP from one process (`samba -M single`; with
// `-M prefork` its writes time out against each other), so two of these files at once keep one waiting
// for seconds on the other's operations, past their timeouts: they run after the rest, one at a time.
const activeDirectoryFiles = [
  'test/integration/agent-directory-read.test.ts',
  'test/integration/agent-e2e.test.ts',
  'test/integration/agent-password-capture.test.ts',
  'test/integration/agent-writeback.test.ts',
  'test/integration/samba-ad.test.ts',
];

const integration = {
  // Brings up PostgreSQL, Kafka and OpenLDAP through the same code as `npm run infra:up`.
  globalSetup: ['test/support/global-setup.ts'],
  testTimeout: 60_000,
  hookTimeout: 180_000,
  // kafkajs 2.2 on Node 24 schedules timers from timestamps in the past; harmless, and `joinery`
  // silences it the same way (the npm test scripts also pass it to vitest's own process, where
  // the global setup runs).
  execArgv: ['--disable-warning=TimeoutNegativeWarning'],
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          ...integration,
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: activeDirectoryFiles,
          // Two cores: more workers than that only makes the real servers slower.
          maxWorkers: 2,
        },
      },
      {
        test: {
          ...integration,
          name: 'active-directory',
          include: activeDirectoryFiles,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
