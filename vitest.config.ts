import { defineConfig } from 'vitest/config';

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
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Brings up PostgreSQL, Kafka and OpenLDAP through the same code as `npm run infra:up`.
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
          // Two cores: more workers than that only makes the real servers slower.
          maxWorkers: 2,
          // kafkajs 2.2 on Node 24 schedules timers from timestamps in the past; harmless, and `joinery`
          // silences it the same way (the npm test scripts also pass it to vitest's own process, where
          // the global setup runs).
          execArgv: ['--disable-warning=TimeoutNegativeWarning'],
        },
      },
    ],
  },
});
