// The API and a plan over a streams fixture, as most end-to-end tests set them up: the app `joinery start`
// serves (silent, on the fixture's database and bus), and the fixture's tenant's applications by name.
import { buildApp, type App, type AppDeps } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { silentLogger } from './factories.ts';
import { expect } from 'vitest';
import { waitFor, type StreamsFixture } from './streams.ts';

/** The API over the fixture's database and bus; `deps` adds to or overrides what it is built with. */
export function testApp(
  fixture: StreamsFixture,
  deps: Partial<Omit<AppDeps, 'orm' | 'topicPrefix'>> = {},
): Promise<App> {
  return buildApp({
    orm: fixture.orm,
    readiness: createReadiness({}),
    logger: silentLogger,
    topicPrefix: fixture.topics.topicPrefix,
    bus: fixture.bus,
    ...deps,
  });
}

/** Applies the plan (YAML or JSON text) to the fixture's tenant, or another; its applications' ids by name. */
export async function applyTestPlan(
  fixture: StreamsFixture,
  source: string,
  tenantId = fixture.tenantId,
): Promise<Record<string, string>> {
  const applied = await applyPlan(fixture.orm.em, {
    tenantId,
    sourceName: 'plan.yaml',
    appliedBy: 'test',
    source,
  });
  return Object.fromEntries(applied.applications.map((application) => [application.name, application.id]));
}

/** An import run as `GET /v1/runs/:id` shows it (the fields tests read). */
export interface TestRun {
  id: string;
  kind: string;
  status: string;
  reason: string | null;
  objectCount: number | null;
  sent: number;
  rejected: number;
}

/** Runs through the API with the fixture's key: request one of an application, wait for one to end. */
export function runsApi(app: App, fixture: StreamsFixture) {
  const headers = { authorization: `Bearer ${fixture.apiKey}` };
  const run = async (runId: string) =>
    (await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers })).json<TestRun>();
  return {
    /** `POST /v1/applications/:id/runs`: the new run's id (201 expected). */
    async request(applicationId: string, kind: 'full' | 'delta'): Promise<string> {
      const response = await app.inject({
        method: 'POST',
        url: `/v1/applications/${applicationId}/runs`,
        headers,
        payload: { kind },
      });
      expect(response.statusCode, response.body).toBe(201);
      return response.json<TestRun>().id;
    },
    /** The run once it has ended (completed, aborted, held, incomplete or failed). */
    finished: (runId: string) =>
      waitFor(`run ${runId} to finish`, async () => {
        const found = await run(runId);
        return ['completed', 'aborted', 'held', 'incomplete', 'failed'].includes(found.status)
          ? found
          : undefined;
      }),
  };
}
