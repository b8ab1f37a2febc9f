// The API and a plan over a streams fixture, as most end-to-end tests set them up: the app `joinery start`
// serves (silent, on the fixture's database and bus), and the fixture's tenant's applications by name.
import { buildApp, type App, type AppDeps } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { silentLogger } from './factories.ts';
import type { StreamsFixture } from './streams.ts';

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
