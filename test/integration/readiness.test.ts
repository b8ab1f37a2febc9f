import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka, type KafkaService } from '../../src/infra/kafka.ts';
import { startService, type RunningService } from '../../src/service.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { recordingLogger, testConfig } from '../support/factories.ts';
import { query } from '../support/streams.ts';

interface ReadyBody {
  status: string;
  checks: Record<string, { status: string; reason?: string }>;
}

describe('readiness follows Kafka (a broker of its own, really stopped and started)', () => {
  // Its own broker, so stopping it does not disturb other test files.
  const broker: KafkaService = createKafka({ name: 'kafka-readiness', port: 29092, heapMb: 512 });
  let database: TestDatabase;
  let service: RunningService;
  const log = recordingLogger('warn');

  const readyz = async (): Promise<{ statusCode: number; body: ReadyBody }> => {
    const response = await fetch(`${service.url}/readyz`);
    return { statusCode: response.status, body: (await response.json()) as ReadyBody };
  };
  const waitFor = async (want: string): Promise<ReadyBody> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { body } = await readyz();
      if (body.status === want || Date.now() > deadline) return body;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };

  beforeAll(async () => {
    await broker.up();
    database = await createTestDatabase();
    service = await startService(
      testConfig({
        DATABASE_URL: database.url,
        KAFKA_BROKERS: broker.brokers.join(','),
        JOINERY_DATABASE_MIGRATE_ON_START: 'true',
      }),
      log.logger,
    );
  });
  afterAll(async () => {
    await service.stop();
    await database.drop();
    await broker.down();
  });

  it('warns once at start when the external database is reached as a superuser', async () => {
    const [role] = await query<{ rolsuper: boolean }>(
      database.url,
      'select rolsuper from pg_roles where rolname = current_user',
    );
    const warnings = log.lines().filter((line) => line.includes('connected to PostgreSQL as a superuser'));
    expect(warnings).toHaveLength(role?.rolsuper === true ? 1 : 0);
  });

  it('is ready against the real Kafka and PostgreSQL', async () => {
    const { statusCode, body } = await readyz();
    expect(statusCode).toBe(200);
    expect(body).toEqual({
      status: 'ready',
      checks: { postgres: { status: 'ok' }, migrations: { status: 'ok' }, kafka: { status: 'ok' } },
    });
  });

  it('turns not-ready with the reason when Kafka stops, and recovers without a restart when it returns', async () => {
    await broker.down();
    const down = await waitFor('not-ready');
    expect(down.status).toBe('not-ready');
    expect(down.checks.kafka?.status).toBe('failed');
    expect(down.checks.kafka?.reason).toMatch(/connect|ECONNREFUSED|broker/i);
    expect(down.checks.postgres?.status).toBe('ok');
    expect((await readyz()).statusCode).toBe(503);
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);

    await broker.up();
    const back = await waitFor('ready');
    expect(back.status).toBe('ready');
  });
});
