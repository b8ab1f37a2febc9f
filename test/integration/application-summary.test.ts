// GET /v1/applications/:id/summary against real PostgreSQL: the application's repository objects counted
// by object class and join state (and deleted), and its last five runs; another tenant's application is 404.
// Objects and runs are seeded as the Import stage writes them (one statement each).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { buildApp, type App } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant, type IssuedServiceAccount } from '../../src/tenancy/tenants.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';

interface Counts {
  objects: number;
  joinStates: Record<string, number>;
  deleted: number;
}
interface Summary {
  applicationId: string;
  name: string;
  objects: Counts;
  objectClasses: (Counts & { objectClass: string })[];
  runs: {
    id: string;
    kind: string | null;
    status: string;
    reason: string | null;
    objectCount: number | null;
    seen: number;
    deletions: number;
    startedAt: string;
    finishedAt: string | null;
  }[];
}
interface ErrorReply {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

describe('application summary (buildApp with inject, real PostgreSQL)', () => {
  let database: TestDatabase;
  let orm: MikroORM;
  let app: App;
  let acme: IssuedServiceAccount;
  let globex: IssuedServiceAccount;
  let directory: string;
  let empty: string;
  const runs = Array.from({ length: 7 }, (_, n) => ({
    run_id: randomUUID(),
    kind: n % 2 === 0 ? 'full' : 'delta',
    status: n === 6 ? 'incomplete' : n === 5 ? 'running' : 'completed',
    reason: n === 6 ? 'the completed marker of a full run had no objectCount' : null,
    object_count: n === 5 ? null : 10 + n,
    seen: 10 + n,
    deletions: n === 4 ? 2 : 0,
    // One an hour, the newest last.
    started_at: new Date(Date.UTC(2026, 11, 1, n)).toISOString(),
    finished_at: n === 5 ? null : new Date(Date.UTC(2026, 11, 1, n, 5)).toISOString(),
  }));

  const get = (account: IssuedServiceAccount, url: string) =>
    app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${account.apiKey}` } });

  async function createApplication(account: IssuedServiceAccount, name: string): Promise<string> {
    const created = await app.inject({
      method: 'POST',
      url: '/v1/applications',
      headers: { authorization: `Bearer ${account.apiKey}` },
      payload: { name, type: 'ldap' },
    });
    expect(created.statusCode).toBe(201);
    return created.json<{ id: string }>().id;
  }

  /** Objects in each join state, of two object classes, some deleted. */
  async function seedObjects(tenantId: string, applicationId: string): Promise<void> {
    const identity = randomUUID();
    const spec: [objectClass: string, joinState: string | null, deleted: boolean, count: number][] = [
      ['user', 'joined', false, 4],
      ['user', 'unjoined', false, 3],
      ['user', 'ambiguous', false, 2],
      ['user', 'excluded', false, 1],
      // A join conflict, and a state no version of the list names (as a newer engine could write): both counted.
      ['user', 'conflict', false, 1],
      ['user', 'quarantined', false, 1],
      ['user', null, false, 1],
      ['user', 'joined', true, 2],
      ['user', 'unjoined', true, 1],
      ['group', null, false, 5],
      ['group', null, true, 1],
    ];
    const rows = spec.flatMap(([objectClass, joinState, deleted, count]) =>
      Array.from({ length: count }, (_, n) => ({
        tenant_id: tenantId,
        application_id: applicationId,
        external_id: `cn=${objectClass}-${joinState ?? 'none'}-${String(deleted)}-${String(n)},dc=example`,
        object_class: objectClass,
        deleted,
        join_state: joinState,
        identity_id: joinState === 'joined' ? identity : null,
      })),
    );
    await sql`
      insert into repository_object (tenant_id, application_id, external_id, object_class, attributes, content_hash,
        deleted, join_state, identity_id, created_at, updated_at)
      select tenant_id, application_id, external_id, object_class, '{}'::jsonb, 'seeded', deleted, join_state,
        identity_id, now(), now()
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as u(tenant_id uuid, application_id uuid,
        external_id text, object_class text, deleted boolean, join_state text, identity_id uuid)`.execute(
      orm.em.getKysely(),
    );
  }

  async function seedRuns(tenantId: string, applicationId: string): Promise<void> {
    await sql`
      insert into import_run (run_id, tenant_id, application_id, kind, status, reason, object_count, seen, deletions,
        started_at, finished_at)
      select run_id, ${tenantId}, ${applicationId}, kind, status, reason, object_count, seen, deletions, started_at,
        finished_at
      from jsonb_to_recordset(${JSON.stringify(runs)}::jsonb) as u(run_id uuid, kind text, status text, reason text,
        object_count int, seen int, deletions int, started_at timestamptz, finished_at timestamptz)`.execute(
      orm.em.getKysely(),
    );
  }

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: true });
    orm = await openDatabase({ url: database.url, poolSize: 4, logger: silentLogger });
    await migrate(orm);
    app = await buildApp({ orm, readiness: createReadiness({}), logger: silentLogger });
    acme = await createTenant(orm.em, { tenant: uniqueName('acme') });
    globex = await createTenant(orm.em, { tenant: uniqueName('globex') });
    directory = await createApplication(acme, 'directory');
    empty = await createApplication(acme, 'empty');
    await seedObjects(acme.tenantId, directory);
    await seedRuns(acme.tenantId, directory);
    // Another tenant's application of the same name, with objects of its own: never counted for acme.
    const theirs = await createApplication(globex, 'directory');
    await seedObjects(globex.tenantId, theirs);
  });
  afterAll(async () => {
    await app.close();
    await orm.close();
    await database.drop();
  });

  it('counts the objects by object class and join state, the deleted ones apart', async () => {
    const response = await get(acme, `/v1/applications/${directory}/summary`);
    expect(response.statusCode).toBe(200);
    const summary = response.json<Summary>();
    expect(summary.applicationId).toBe(directory);
    expect(summary.name).toBe('directory');
    expect(summary.objects).toEqual({
      objects: 18,
      joinStates: expect.objectContaining({
        joined: 4,
        unjoined: 3,
        ambiguous: 2,
        excluded: 1,
        conflict: 1,
        quarantined: 1,
        none: 6,
      }) as unknown,
      deleted: 4,
    });
    expect(summary.objectClasses).toEqual([
      {
        objectClass: 'group',
        objects: 5,
        joinStates: expect.objectContaining({
          joined: 0,
          unjoined: 0,
          ambiguous: 0,
          excluded: 0,
          none: 5,
        }) as unknown,
        deleted: 1,
      },
      {
        objectClass: 'user',
        objects: 13,
        joinStates: expect.objectContaining({
          joined: 4,
          unjoined: 3,
          ambiguous: 2,
          excluded: 1,
          conflict: 1,
          quarantined: 1,
          none: 1,
        }) as unknown,
        deleted: 3,
      },
    ]);
    // Every state the repository knows is present, zero or not, and the states add up to the objects.
    for (const counts of [summary.objects, ...summary.objectClasses])
      expect(Object.values(counts.joinStates).reduce((sum, count) => sum + count, 0)).toBe(counts.objects);
  });

  it('shows the last five runs, newest first, with their counts, times and reason', async () => {
    const response = await get(acme, `/v1/applications/${directory}/summary`);
    const summary = response.json<Summary>();
    expect(summary.runs.map((run) => run.id)).toEqual(
      runs
        .slice(-5)
        .reverse()
        .map((run) => run.run_id),
    );
    expect(summary.runs[0]).toEqual({
      id: runs[6]?.run_id,
      kind: 'full',
      status: 'incomplete',
      reason: 'the completed marker of a full run had no objectCount',
      objectCount: 16,
      seen: 16,
      deletions: 0,
      startedAt: '2026-12-01T06:00:00.000Z',
      finishedAt: '2026-12-01T06:05:00.000Z',
    });
    expect(summary.runs[1]).toMatchObject({
      kind: 'delta',
      status: 'running',
      objectCount: null,
      finishedAt: null,
    });
    expect(summary.runs[2]).toMatchObject({ kind: 'full', status: 'completed', deletions: 2, reason: null });
  });

  it('answers an application without objects or runs with zeros', async () => {
    const response = await get(acme, `/v1/applications/${empty}/summary`);
    expect(response.statusCode).toBe(200);
    const summary = response.json<Summary>();
    expect(summary).toMatchObject({ applicationId: empty, name: 'empty', objectClasses: [], runs: [] });
    expect(summary.objects).toMatchObject({ objects: 0, deleted: 0 });
    expect(Object.values(summary.objects.joinStates).every((count) => count === 0)).toBe(true);
  });

  it("answers another tenant's application as not found, like a missing one", async () => {
    for (const id of [directory, randomUUID()]) {
      const response = await get(globex, `/v1/applications/${id}/summary`);
      expect(response.statusCode).toBe(404);
      expect(response.json<ErrorReply>().error).toMatchObject({
        code: 'JNY_NOT_FOUND',
        message: `application ${id} not found`,
        details: { applicationId: id },
      });
    }
  });

  it('rejects an id that is not a uuid', async () => {
    const response = await get(acme, '/v1/applications/not-a-uuid/summary');
    expect(response.statusCode).toBe(400);
    expect(response.json<ErrorReply>().error.code).toBe('JNY_VALIDATION');
  });
});
