// The lifecycle of people in an authoritative source, as a property on the real Kafka broker and PostgreSQL:
// fast-check generates random sequences of full runs (each seeing a random part of a small population),
// delta upserts and delta deletes, and after every step the engine must agree with a model of the source —
// every person present is joined exactly once and active, every person absent is a leaver with one pending
// deletion, and nobody is deleted early (the deletion delay is 90 days). Half the sequences run on an
// application with a `lifecycle.status` expression, half without (leaveOnDelete alone, the documented setup).
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { silentLogger } from '../support/factories.ts';
import { waitUntilSettled } from '../support/settled.ts';
import {
  createStreamsFixture,
  importObjectMessage,
  importRunMarker,
  query,
  startTestEngine,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';

/** Sequences tried, each on an application of its own (a full run speaks for its whole application). */
const SEQUENCES = 10;
const POPULATION = 5;

type Step =
  | { kind: 'full'; present: boolean[] }
  | { kind: 'upsert'; person: number }
  | { kind: 'delete'; person: number };

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('full' as const),
      present: fc.array(fc.boolean(), { minLength: POPULATION, maxLength: POPULATION }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('upsert' as const), person: fc.nat(POPULATION - 1) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('delete' as const), person: fc.nat(POPULATION - 1) }),
  },
);

interface IdentityDetail {
  id: string;
  state: string;
  timers: { kind: string }[];
}

describe('the lifecycle of people in a source, as a property (real Kafka and PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let app: App;
  let applications: string[] = [];

  const planSource = [
    'version: 1',
    'vault:',
    '  attributes: { employeeId: {}, givenName: {} }',
    'lifecycle: { deletionDelayDays: 90 }',
    'applications:',
    ...Array.from({ length: SEQUENCES }, (_, index) => [
      `  - name: hr${String(index)}`,
      '    type: csv',
      '    createsIdentities: true',
      '    objectClasses:',
      '      worker: { attributes: { WorkerID: {}, FirstName: {} } }',
      '    inbound:',
      '      - { vault: employeeId, from: WorkerID, authority: 100 }',
      '      - { vault: givenName, from: FirstName, authority: 100 }',
      '    joining: [{ name: worker id, all: [{ source: WorkerID, vault: employeeId }] }]',
      index % 2 === 0
        ? '    lifecycle: { leaveOnDelete: true }'
        : `    lifecycle: { leaveOnDelete: true, status: '"active"' }`,
    ]).flat(),
  ].join('\n');

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    engine = await startTestEngine(fixture);
    app = await buildApp({
      orm: fixture.orm,
      readiness: createReadiness({}),
      logger: silentLogger,
      topicPrefix: fixture.topics.topicPrefix,
    });
    const applied = await applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
      source: planSource,
    });
    const ids = new Map(applied.applications.map((a) => [a.name, a.id]));
    applications = Array.from({ length: SEQUENCES }, (_, index) => ids.get(`hr${String(index)}`) ?? '');
  });
  afterAll(async () => {
    await app.close();
    await engine.stop();
    await fixture.close();
  });

  const get = async <T>(url: string): Promise<T> => {
    const response = await app.inject({
      method: 'GET',
      url,
      headers: { authorization: `Bearer ${fixture.apiKey}` },
    });
    expect(response.statusCode, `GET ${url}: ${response.body}`).toBe(200);
    return response.json<T>();
  };

  /** A worker of the HR application: an upsert with its first name, or a deletion without one. */
  const worker = (applicationId: string, workerId: string, firstName: string | undefined, runId?: string) =>
    importObjectMessage({
      tenantId: fixture.tenantId,
      applicationId,
      objectClass: 'worker',
      externalId: workerId,
      ...(firstName === undefined ? {} : { attributes: { WorkerID: workerId, FirstName: firstName } }),
      ...(runId === undefined ? {} : { runId }),
    });
  const marker = (
    applicationId: string,
    runId: string,
    phase: 'started' | 'completed',
    objectCount?: number,
  ) =>
    importRunMarker({
      tenantId: fixture.tenantId,
      applicationId,
      runId,
      phase,
      ...(objectCount === undefined ? {} : { objectCount }),
    });

  /** Sends one step to the engine and waits until it has taken it in full. */
  const apply = async (applicationId: string, ids: string[], step: Step, name: string) => {
    if (step.kind === 'full') {
      const runId = randomUUID();
      const seen = ids.filter((_, person) => step.present[person] === true);
      await fixture.send('imports', [
        marker(applicationId, runId, 'started'),
        ...seen.map((id) => worker(applicationId, id, name, runId)),
        marker(applicationId, runId, 'completed', seen.length),
      ]);
      await waitFor(`full run ${runId} to complete`, async () => {
        const [row] = await query<{ status: string }>(
          fixture.database.url,
          'select status from import_run where run_id = $1',
          [runId],
        );
        return row?.status === 'completed' ? row : undefined;
      });
    } else {
      const id = ids[step.person] ?? '';
      await fixture.send('imports', [worker(applicationId, id, step.kind === 'upsert' ? name : undefined)]);
    }
    await waitUntilSettled(fixture);
  };

  /** Every person's identity agrees with the model: present → joined once and active; gone → a leaver. */
  const check = async (applicationId: string, ids: string[], present: Set<string>, seen: Set<string>) => {
    for (const id of ids) {
      if (!seen.has(id)) continue;
      const found = await get<{ items: IdentityDetail[] }>(
        `/v1/identities?attribute=employeeId&value=${encodeURIComponent(id)}`,
      );
      // Nobody is deleted early, and nobody gets a second identity.
      expect(
        found.items.map((item) => item.id),
        `${id}: one identity`,
      ).toHaveLength(1);
      const identityId = found.items[0]?.id ?? '';
      const joined = await query<{ external_id: string }>(
        fixture.database.url,
        `select external_id from repository_object
         where tenant_id = $1 and application_id = $2 and identity_id = $3 and join_state = 'joined'
           and not deleted`,
        [fixture.tenantId, applicationId, identityId],
      );
      const detail = await get<IdentityDetail>(`/v1/identities/${identityId}`);
      const deletions = detail.timers.filter((timer) => timer.kind === 'deletion');
      if (present.has(id)) {
        expect(
          joined.map((row) => row.external_id),
          `${id}: joined once`,
        ).toEqual([id]);
        expect({ state: detail.state, deletions: deletions.length }, `${id}: present`).toEqual({
          state: 'active',
          deletions: 0,
        });
      } else {
        expect(joined, `${id}: no living object`).toEqual([]);
        expect({ state: detail.state, deletions: deletions.length }, `${id}: gone`).toEqual({
          state: 'leaver',
          deletions: 1,
        });
      }
    }
  };

  it('keeps every present person joined once and active, every absent one a leaver with one pending deletion', async () => {
    let sequence = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(stepArbitrary, { minLength: 2, maxLength: 6 }), async (steps) => {
        const index = sequence++;
        const applicationId = applications[index] ?? '';
        const ids = Array.from({ length: POPULATION }, (_, person) => `S${String(index)}-W${String(person)}`);
        const present = new Set<string>();
        const seen = new Set<string>();
        for (const [number, step] of steps.entries()) {
          await apply(applicationId, ids, step, `name-${String(number)}`);
          if (step.kind === 'full') {
            present.clear();
            ids.forEach((id, person) => {
              if (step.present[person] === true) present.add(id);
            });
          } else if (step.kind === 'upsert') present.add(ids[step.person] ?? '');
          else present.delete(ids[step.person] ?? '');
          for (const id of present) seen.add(id);
          await check(applicationId, ids, present, seen);
        }
      }),
      // Each sequence writes to its own application, so a failure is reported as found, not shrunk.
      { numRuns: SEQUENCES, endOnFailure: true },
    );
  }, 300_000);
});
