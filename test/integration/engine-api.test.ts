import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { buildApp, type App } from '../../src/api/app.ts';
import { enqueueExports, type NewExport } from '../../src/engine/export-queue.ts';
import { createImportStage } from '../../src/engine/import-stage.ts';
import { createInboundForwarder } from '../../src/engine/inbound.ts';
import { joinKeyMatches } from '../../src/engine/join-keys.ts';
import { rebuildJoinKeys } from '../../streams/identity-join-keys.ts';
import { createPlanCache } from '../../src/engine/plan-cache.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { projectRoot } from '../../src/infra/process.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant, type IssuedServiceAccount } from '../../src/tenancy/tenants.ts';
import { decodeMessage } from '../../streams/cloudevents.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { silentLogger, uniqueName } from '../support/factories.ts';

const examplePlan = readFileSync(join(projectRoot, 'docs/examples/sync-plan.yaml'), 'utf8');

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
interface ErrorReply {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

describe('engine administration API (buildApp with inject, real PostgreSQL)', () => {
  let database: TestDatabase;
  let orm: MikroORM;
  let app: App;
  let acme: IssuedServiceAccount;
  let globex: IssuedServiceAccount;
  let applications: Record<string, string>;
  const people = Array.from({ length: 5 }, (_, n) => ({
    id: randomUUID(),
    employeeId: `E${String(n + 1)}`,
    department: n < 3 ? 'Sales' : 'Finance',
    classification: n < 4 ? 1 : 2,
    state: n === 4 ? 'leaver' : 'active',
  }));

  const call = (
    account: IssuedServiceAccount,
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    payload?: unknown,
  ) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${account.apiKey}` },
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });

  /** Identities as the identity actor persists them, in one statement, with their join keys. */
  async function seedIdentities(tenantId: string): Promise<void> {
    const rows = people.map((person) => ({
      id: person.id,
      tenant_id: tenantId,
      state: person.state,
      snapshot: {
        state: person.state,
        context: {
          tenantId,
          identityId: person.id,
          attributes: { employeeId: person.employeeId, department: person.department },
          sources: [],
          deletionDelayDays: 90,
          classification: person.classification,
        },
      },
    }));
    await sql`
      insert into identity (id, tenant_id, version, state, snapshot, created_at, updated_at)
      select id, tenant_id, 1, state, snapshot, now(), now()
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as u(id uuid, tenant_id uuid, state text, snapshot jsonb)`.execute(
      orm.em.getKysely(),
    );
    // Their join keys, as the identity host writes them beside the identities.
    await rebuildJoinKeys(orm.em.fork(), tenantId, { added: ['employeeId'], dropped: [] });
  }

  /** Active Directory objects in each join state the inbound stage leaves them in. */
  async function seedObjects(tenantId: string, applicationId: string): Promise<void> {
    const [first, second, third] = people;
    const rows = [
      { external_id: 'CN=Orphan,OU=Users', join_state: 'unjoined', identity_id: null, candidates: null },
      {
        external_id: 'CN=Twin,OU=Users',
        join_state: 'ambiguous',
        identity_id: null,
        candidates: { rule: 'employee id', identityIds: [first?.id, second?.id] },
      },
      { external_id: 'CN=Known,OU=Users', join_state: 'joined', identity_id: third?.id, candidates: null },
    ].map((row) => ({
      ...row,
      tenant_id: tenantId,
      application_id: applicationId,
      attributes: { sAMAccountName: row.external_id.slice(3, 8).toLowerCase(), mail: 'x@example.test' },
    }));
    await sql`
      insert into repository_object (tenant_id, application_id, external_id, object_class, attributes, content_hash,
        deleted, join_state, identity_id, join_candidates, created_at, updated_at)
      select tenant_id, application_id, external_id, 'user', attributes, 'seeded', false, join_state, identity_id,
        candidates, now(), now()
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as u(tenant_id uuid, application_id uuid,
        external_id text, attributes jsonb, join_state text, identity_id uuid, candidates jsonb)`.execute(
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
    const applied = await app.inject({
      method: 'PUT',
      url: '/v1/plan',
      headers: { authorization: `Bearer ${acme.apiKey}`, 'content-type': 'application/yaml' },
      payload: examplePlan,
    });
    expect(applied.statusCode).toBe(201);
    applications = Object.fromEntries(
      applied
        .json<{ applications: { name: string; id: string }[] }>()
        .applications.map((a) => [a.name, a.id]),
    );
    await seedIdentities(acme.tenantId);
    await seedObjects(acme.tenantId, ad());
  });
  afterAll(async () => {
    await app.close();
    await orm.close();
    await database.drop();
  });

  const ad = () => applications['active-directory'] ?? '';

  describe('identity search', () => {
    it('finds an identity by the exact value of an attribute', async () => {
      const response = await call(acme, 'GET', '/v1/identities?attribute=employeeId&value=E2');
      expect(response.statusCode).toBe(200);
      const { items, nextCursor } =
        response.json<Page<{ id: string; attributes: Record<string, unknown> }>>();
      expect(items).toEqual([
        expect.objectContaining({
          id: people[1]?.id,
          state: 'active',
          classification: 1,
          attributes: { employeeId: 'E2', department: 'Sales' },
        }),
      ]);
      expect(nextCursor).toBeNull();
    });

    it('finds an attribute a joining rule compares through its join keys, by index, in either case', async () => {
      const response = await call(
        acme,
        'GET',
        '/v1/identities?attribute=employeeId&value=e2&ignoreCase=true',
      );
      expect(response.json<Page<{ id: string }>>().items.map((item) => item.id)).toEqual([people[1]?.id]);
      // A tiny table may still be scanned by the planner, so ask without sequential scans; and as the API
      // asks, under row-level security (the tenant role, the tenant set).
      const plans = await orm.em.fork().transactional(async (tx) => {
        await sql`set local enable_seqscan = off`.execute(tx.getKysely());
        await sql`select set_config('joinery.tenant_id', ${acme.tenantId}, true), set_config('role', 'joinery_tenant', true)`.execute(
          tx.getKysely(),
        );
        const explain = async (ignoreCase: boolean) => {
          const { rows } = await sql<{ 'QUERY PLAN': string }>`
            explain ${joinKeyMatches(acme.tenantId, 'employeeId', 'E2', ignoreCase)}`.execute(tx.getKysely());
          return rows.map((row) => row['QUERY PLAN']).join('\n');
        };
        return { exact: await explain(false), folded: await explain(true) };
      });
      // Which of the two the planner picks for an exact value on a five-row table is a toss-up; never a scan.
      expect(plans.exact).toMatch(/Index (Only )?Scan using identity_join_key_/);
      // lower(value) cannot be an index condition below a policy (lower() is not leakproof): the folded lookup
      // runs in a security definer function, by the folded index, for the transaction's tenant only.
      expect(plans.folded).toMatch(/joinery_folded_join_key_matches/);
      expect(plans.folded).not.toMatch(/Seq Scan/);
    });

    it('updates an identity in place, with no index write, whichever attribute changes', async () => {
      const [person] = people;
      // Looked at inside a transaction that is rolled back, so the other tests see the people unchanged.
      class Seen extends Error {
        readonly result: Record<string, unknown>;
        constructor(result: Record<string, unknown>) {
          super('rolled back');
          this.result = result;
        }
      }
      const hot = await orm.em
        .fork()
        .transactional(async (tx) => {
          const k = tx.getKysely();
          // As the identity actor writes a changed snapshot: a department moves, the employee id stays.
          await sql`
          update identity set version = version + 1, updated_at = now(),
            snapshot = jsonb_set(snapshot, '{context,attributes,department}', '"Finance"')
          where id = ${person?.id}`.execute(k);
          const unchanged = await sql<{ hot: string }>`
          select n_tup_hot_upd as hot from pg_stat_xact_user_tables where relid = 'identity'::regclass`.execute(
            k,
          );
          // The employee id changes: its join keys are rows of their own, the identity's indexes stay as they are.
          await sql`
          update identity set snapshot = jsonb_set(snapshot, '{context,attributes,employeeId}', '"E1-new"')
          where id = ${person?.id}`.execute(k);
          const changed = await sql<{ hot: string; updated: string }>`
          select n_tup_hot_upd as hot, n_tup_upd as updated
          from pg_stat_xact_user_tables where relid = 'identity'::regclass`.execute(k);
          throw new Seen({
            unchanged: Number(unchanged.rows[0]?.hot),
            changed: Number(changed.rows[0]?.hot),
            updated: Number(changed.rows[0]?.updated),
          });
        })
        .catch((error: unknown) => {
          if (error instanceof Seen) return error.result;
          throw error;
        });
      expect(hot).toEqual({ unchanged: 1, changed: 2, updated: 2 });
    });

    it('pages through every match with the cursor, and filters by state and classification', async () => {
      const seen: string[] = [];
      let url = '/v1/identities?attribute=department&value=Sales&limit=2';
      for (let pages = 0; pages < 5; pages++) {
        const body = (await call(acme, 'GET', url)).json<Page<{ id: string }>>();
        seen.push(...body.items.map((item) => item.id));
        if (body.nextCursor === null) break;
        url = `/v1/identities?attribute=department&value=Sales&limit=2&after=${body.nextCursor}`;
      }
      expect(seen).toEqual(
        people
          .filter((p) => p.department === 'Sales')
          .map((p) => p.id)
          .sort(),
      );

      const leavers = (await call(acme, 'GET', '/v1/identities?state=leaver')).json<Page<{ id: string }>>();
      expect(leavers.items.map((item) => item.id)).toEqual([people[4]?.id]);
      const contractors = (await call(acme, 'GET', '/v1/identities?classification=2')).json<
        Page<{ id: string }>
      >();
      expect(contractors.items.map((item) => item.id)).toEqual([people[4]?.id]);
    });

    it('refuses an attribute without a value, and a bad limit, naming the parameter', async () => {
      const half = await call(acme, 'GET', '/v1/identities?attribute=employeeId');
      expect(half.statusCode).toBe(400);
      expect(half.json<ErrorReply>().error.message).toMatch(/querystring\/value/);
      const limit = await call(acme, 'GET', '/v1/identities?limit=9000');
      expect(limit.statusCode).toBe(400);
      expect(limit.json<ErrorReply>().error.message).toMatch(/querystring\/limit/);
    });
  });

  describe('application repository', () => {
    it("cancels a leaver's scheduled deletion through the identity's actor, and 404s an unknown timer", async () => {
      const leaver = people[4]?.id ?? '';
      const timerId = 'deletion:2026-03-02T09:00:00.000Z';
      await sql`
        insert into identity_timer (tenant_id, identity_id, timer_id, kind, due_at, created_at)
        values (${acme.tenantId}, ${leaver}, ${timerId}, 'deletion', now() + interval '90 days', now())`.execute(
        orm.em.getKysely(),
      );
      const detail = (await call(acme, 'GET', `/v1/identities/${leaver}`)).json<{
        timers: { timerId: string }[];
      }>();
      expect(detail.timers.map((t) => t.timerId)).toEqual([timerId]);

      const path = `/v1/identities/${leaver}/timers/${encodeURIComponent(timerId)}`;
      expect((await call(globex, 'DELETE', path)).statusCode).toBe(404); // another tenant's identity
      const accepted = await call(acme, 'DELETE', path);
      expect(accepted.statusCode).toBe(202);
      expect(accepted.json()).toEqual({ identityId: leaver, timerId, status: 'cancelling' });
      const { rows } = await sql<{ key: string; value: Buffer; headers: Record<string, string> }>`
        select key, value, headers from outbox_message where topic = 'joinery.identity' and tenant_id = ${acme.tenantId}`.execute(
        orm.em.getKysely(),
      );
      expect(rows).toHaveLength(1);
      const decoded = decodeMessage('identity', rows[0] ?? { value: null });
      if (!decoded.ok) throw new Error(decoded.reason);
      expect(decoded.envelope).toMatchObject({
        type: 'joinery.identity.event.v1',
        data: {
          identityId: leaver,
          event: { type: 'timer.cancelled', timerId, by: `service-account:${acme.serviceAccountId}` },
        },
      });

      const unknown = await call(acme, 'DELETE', `/v1/identities/${leaver}/timers/deletion%3Anope`);
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json<ErrorReply>().error.message).toBe(
        `identity ${leaver} has no pending timer deletion:nope`,
      );
    });

    it('keeps the application and identity routes beside the new ones', async () => {
      expect((await call(acme, 'GET', `/v1/applications/${ad()}`)).json()).toMatchObject({
        name: 'active-directory',
      });
      expect((await call(acme, 'GET', `/v1/identities/${people[0]?.id ?? ''}`)).json()).toMatchObject({
        attributes: { employeeId: 'E1' },
      });
    });

    it('lists the disconnectors and the ambiguous joins with their candidates', async () => {
      const unjoined = await call(acme, 'GET', `/v1/applications/${ad()}/objects?joinState=unjoined`);
      expect(unjoined.statusCode).toBe(200);
      expect(unjoined.json<Page<unknown>>().items).toEqual([
        expect.objectContaining({
          externalId: 'CN=Orphan,OU=Users',
          joinState: 'unjoined',
          identityId: null,
        }),
      ]);
      const ambiguous = await call(acme, 'GET', `/v1/applications/${ad()}/objects?joinState=ambiguous`);
      expect(ambiguous.json<Page<unknown>>().items).toEqual([
        expect.objectContaining({
          externalId: 'CN=Twin,OU=Users',
          joinState: 'ambiguous',
          candidates: { rule: 'employee id', identityIds: [people[0]?.id, people[1]?.id] },
        }),
      ]);
      const one = await call(
        acme,
        'GET',
        `/v1/applications/${ad()}/objects/${encodeURIComponent('CN=Known,OU=Users')}`,
      );
      expect(one.json()).toMatchObject({
        joinState: 'joined',
        identityId: people[2]?.id,
        objectClass: 'user',
      });
    });

    it('pages through all objects of an application', async () => {
      const first = (await call(acme, 'GET', `/v1/applications/${ad()}/objects?limit=2`)).json<
        Page<{ externalId: string }>
      >();
      expect(first.items).toHaveLength(2);
      expect(first.nextCursor).not.toBeNull();
      const second = (
        await call(acme, 'GET', `/v1/applications/${ad()}/objects?limit=2&after=${first.nextCursor ?? ''}`)
      ).json<Page<{ externalId: string }>>();
      expect([...first.items, ...second.items].map((o) => o.externalId)).toEqual([
        'CN=Known,OU=Users',
        'CN=Orphan,OU=Users',
        'CN=Twin,OU=Users',
      ]);
      expect(second.nextCursor).toBeNull();
    });
  });

  describe('manual joins', () => {
    it('joins an ambiguous object to the chosen identity, resets its hash and re-feeds it to the engine', async () => {
      const chosen = people[1]?.id ?? '';
      const response = await call(acme, 'POST', '/v1/joins', {
        applicationId: ad(),
        externalId: 'CN=Twin,OU=Users',
        identityId: chosen,
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({
        joinState: 'joined',
        provenance: 'manual',
        identityId: chosen,
      });

      const k = orm.em.getKysely();
      const { rows: objects } = await sql<{ join_state: string; identity_id: string; content_hash: string }>`
        select join_state, identity_id, content_hash from repository_object
        where tenant_id = ${acme.tenantId} and application_id = ${ad()} and external_id = 'CN=Twin,OU=Users'`.execute(
        k,
      );
      expect(objects).toEqual([{ join_state: 'joined', identity_id: chosen, content_hash: '' }]);
      const { rows: hardJoins } = await sql<{ identity_id: string }>`
        select identity_id from identity_source
        where tenant_id = ${acme.tenantId} and application_id = ${ad()} and external_id = 'CN=Twin,OU=Users'`.execute(
        k,
      );
      expect(hardJoins).toEqual([{ identity_id: chosen }]);

      const { rows: outbox } = await sql<{ key: string; value: Buffer; headers: Record<string, string> }>`
        select key, value, headers from outbox_message where topic = 'joinery.imports' and tenant_id = ${acme.tenantId}`.execute(
        k,
      );
      expect(outbox).toHaveLength(1);
      const decoded = decodeMessage('imports', outbox[0] ?? { value: null });
      if (!decoded.ok) throw new Error(decoded.reason);
      expect(decoded.envelope).toMatchObject({
        type: 'joinery.import.object.v1',
        data: {
          applicationId: ad(),
          externalId: 'CN=Twin,OU=Users',
          operation: 'upsert',
          objectClass: 'user',
        },
      });

      // The engine's import stage processes the re-fed object (the hash no longer matches) and sends its
      // attributes to the chosen identity through the hard join.
      const stage = createImportStage({
        inbound: createInboundForwarder({
          plans: createPlanCache(),
          identityTopic: 'joinery.identity',
          source: '/test',
        }),
      });
      const result = await orm.em.fork().transactional((tx) =>
        stage(tx, [
          {
            envelope: decoded.envelope,
            message: {
              topic: 'imports',
              topicName: 'joinery.imports',
              partition: 0,
              offset: '0',
              key: Buffer.from(outbox[0]?.key ?? ''),
              value: outbox[0]?.value ?? null,
              headers: outbox[0]?.headers ?? {},
            },
          },
        ]),
      );
      expect(result.outbox.map((row) => ({ topic: row.topic, key: row.key }))).toEqual([
        { topic: 'joinery.identity', key: chosen },
      ]);
      const { rows: after } = await sql<{ join_state: string; identity_id: string; content_hash: string }>`
        select join_state, identity_id, content_hash from repository_object
        where tenant_id = ${acme.tenantId} and application_id = ${ad()} and external_id = 'CN=Twin,OU=Users'`.execute(
        k,
      );
      expect(after[0]).toMatchObject({ join_state: 'joined', identity_id: chosen });
      expect(after[0]?.content_hash).toHaveLength(64);
    });

    it('unjoins an object: its hard join goes and it is excluded', async () => {
      const response = await call(acme, 'POST', '/v1/joins/unjoin', {
        applicationId: ad(),
        externalId: 'CN=Known,OU=Users',
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ joinState: 'excluded', previousJoinState: 'joined' });
      const excluded = (await call(acme, 'GET', `/v1/applications/${ad()}/objects?joinState=excluded`)).json<
        Page<unknown>
      >();
      expect(excluded.items).toEqual([
        expect.objectContaining({ externalId: 'CN=Known,OU=Users', joinState: 'excluded', identityId: null }),
      ]);
    });

    it('answers 404 naming the unknown application, object or identity, and 400 naming a missing field', async () => {
      const body = { applicationId: ad(), externalId: 'CN=Orphan,OU=Users', identityId: people[0]?.id };
      const noApplication = await call(acme, 'POST', '/v1/joins', { ...body, applicationId: randomUUID() });
      expect(noApplication.statusCode).toBe(404);
      expect(noApplication.json<ErrorReply>().error.message).toMatch(/^application .* not found$/);
      const noObject = await call(acme, 'POST', '/v1/joins', { ...body, externalId: 'CN=Nobody' });
      expect(noObject.statusCode).toBe(404);
      expect(noObject.json<ErrorReply>().error.message).toMatch(/application object CN=Nobody not found/);
      const noIdentity = await call(acme, 'POST', '/v1/joins', { ...body, identityId: randomUUID() });
      expect(noIdentity.statusCode).toBe(404);
      expect(noIdentity.json<ErrorReply>().error.message).toMatch(/^identity .* not found$/);
      const missing = await call(acme, 'POST', '/v1/joins', { applicationId: ad(), externalId: 'x' });
      expect(missing.statusCode).toBe(400);
      expect(missing.json<ErrorReply>().error).toMatchObject({ code: 'JNY_VALIDATION' });
      expect(missing.json<ErrorReply>().error.message).toMatch(/identityId/);
    });
  });

  describe('export queue', () => {
    it('approves and cancels held operations by id, with counts', async () => {
      const base: Omit<NewExport, 'externalId' | 'status'> = {
        tenantId: acme.tenantId,
        applicationId: ad(),
        identityId: people[0]?.id ?? '',
        objectClass: 'user',
        operation: 'update',
        attributes: { title: 'Engineer' },
      };
      await enqueueExports(
        orm.em,
        [
          { ...base, externalId: 'CN=A', status: 'held', holdReason: 'approval' },
          {
            ...base,
            identityId: people[1]?.id ?? '',
            externalId: 'CN=B',
            status: 'held',
            holdReason: 'approval',
          },
          {
            ...base,
            identityId: people[2]?.id ?? '',
            externalId: 'CN=C',
            status: 'held',
            holdReason: 'approval',
          },
        ],
        new Date(),
      );
      const held = (await call(acme, 'GET', `/v1/exports?applicationId=${ad()}&status=held`)).json<
        Page<{ id: string; externalId: string }>
      >();
      expect(held.items.map((item) => item.externalId)).toEqual(['CN=A', 'CN=B', 'CN=C']);
      const [a, b, c] = held.items.map((item) => item.id);

      const approved = await call(acme, 'POST', '/v1/exports/approve', { ids: [a, b] });
      expect(approved.json()).toEqual({ requested: 2, approved: 2, unchanged: 0 });
      const again = await call(acme, 'POST', '/v1/exports/approve', { ids: [a] });
      expect(again.json()).toEqual({ requested: 1, approved: 0, unchanged: 1 });
      const cancelled = await call(acme, 'POST', '/v1/exports/cancel', { ids: [c] });
      expect(cancelled.json()).toEqual({ requested: 1, cancelled: 1, unchanged: 0 });

      const all = (await call(acme, 'GET', `/v1/exports?applicationId=${ad()}`)).json<
        Page<{ externalId: string; status: string; lastError: { code: string } | null }>
      >();
      expect(all.items.map((item) => [item.externalId, item.status])).toEqual([
        ['CN=A', 'pending'],
        ['CN=B', 'pending'],
        ['CN=C', 'failed'],
      ]);
      expect(all.items[2]?.lastError?.code).toBe('JNY_CANCELLED');

      const paged = (await call(acme, 'GET', '/v1/exports?limit=2')).json<Page<unknown>>();
      expect(paged.items).toHaveLength(2);
      const rest = (await call(acme, 'GET', `/v1/exports?limit=2&after=${paged.nextCursor ?? ''}`)).json<
        Page<unknown>
      >();
      expect(rest.items).toHaveLength(1);

      const unknown = await call(acme, 'POST', '/v1/exports/approve', { ids: [randomUUID()] });
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json<ErrorReply>().error.message).toMatch(/exports not found/);
    });
  });

  describe('sync runs', () => {
    it('requests a run the orchestrator hands to the connector, and lists it', async () => {
      const requested = await call(acme, 'POST', `/v1/applications/${ad()}/runs`, { kind: 'full' });
      expect(requested.statusCode).toBe(201);
      const run = requested.json<{ id: string }>();
      expect(run).toMatchObject({ applicationId: ad(), kind: 'full', status: 'requested' });
      expect((await call(acme, 'GET', `/v1/runs/${run.id}`)).json()).toMatchObject({ status: 'requested' });
      const listed = (await call(acme, 'GET', `/v1/runs?applicationId=${ad()}`)).json<{
        items: { id: string }[];
      }>();
      expect(listed.items.map((item) => item.id)).toContain(run.id);

      const badKind = await call(acme, 'POST', `/v1/applications/${ad()}/runs`, { kind: 'weekly' });
      expect(badKind.statusCode).toBe(400);
      expect(badKind.json<ErrorReply>().error.message).toMatch(/body\/kind/);
      const noApplication = await call(acme, 'POST', `/v1/applications/${randomUUID()}/runs`, {
        kind: 'delta',
      });
      expect(noApplication.statusCode).toBe(404);
    });
  });

  describe('schedules', () => {
    it('creates, lists and deletes an API schedule, and refuses to delete a plan schedule', async () => {
      const created = await call(acme, 'POST', '/v1/schedules', {
        applicationId: ad(),
        kind: 'full',
        cron: '30 3 * * 1',
      });
      expect(created.statusCode).toBe(201);
      const schedule = created.json<{ id: string; nextRunAt: string }>();
      expect(schedule).toMatchObject({ origin: 'api', cron: '30 3 * * 1', everyMinutes: null });
      expect(new Date(schedule.nextRunAt).getUTCHours()).toBe(3);

      const listed = (await call(acme, 'GET', '/v1/schedules')).json<{
        items: { id: string; origin: string }[];
      }>();
      expect(listed.items.filter((item) => item.origin === 'plan')).toHaveLength(3);
      expect(listed.items.map((item) => item.id)).toContain(schedule.id);

      const planSchedule = listed.items.find((item) => item.origin === 'plan');
      const refused = await call(acme, 'DELETE', `/v1/schedules/${planSchedule?.id ?? ''}`);
      expect(refused.statusCode).toBe(409);
      expect(refused.json<ErrorReply>().error.message).toMatch(/comes from the sync plan.*change the plan/);

      expect((await call(acme, 'DELETE', `/v1/schedules/${schedule.id}`)).statusCode).toBe(204);
      expect((await call(acme, 'DELETE', `/v1/schedules/${schedule.id}`)).statusCode).toBe(404);
    });

    it('refuses a bad cron, both or neither timing, naming the field', async () => {
      const badCron = await call(acme, 'POST', '/v1/schedules', {
        applicationId: ad(),
        kind: 'full',
        cron: '61 * * * *',
      });
      expect(badCron.statusCode).toBe(400);
      expect(badCron.json<ErrorReply>().error.message).toMatch(
        /^body\/cron: cron "61 \* \* \* \*" is not valid/,
      );
      const short = await call(acme, 'POST', '/v1/schedules', {
        applicationId: ad(),
        kind: 'full',
        cron: '* *',
      });
      expect(short.json<ErrorReply>().error.message).toMatch(/needs five fields/);
      const neither = await call(acme, 'POST', '/v1/schedules', { applicationId: ad(), kind: 'delta' });
      expect(neither.statusCode).toBe(400);
      expect(neither.json<ErrorReply>().error.message).toMatch(/everyMinutes or cron/);
      const missing = await call(acme, 'POST', '/v1/schedules', { kind: 'delta', everyMinutes: 5 });
      expect(missing.statusCode).toBe(400);
      expect(missing.json<ErrorReply>().error.message).toMatch(/applicationId/);
    });
  });

  describe('tenant isolation', () => {
    it("shows another tenant nothing of acme's identities, objects, exports, runs and schedules", async () => {
      expect(
        (await call(globex, 'GET', '/v1/identities?attribute=employeeId&value=E2')).json<Page<unknown>>()
          .items,
      ).toEqual([]);
      expect((await call(globex, 'GET', '/v1/identities')).json<Page<unknown>>().items).toEqual([]);
      expect((await call(globex, 'GET', `/v1/applications/${ad()}/objects`)).statusCode).toBe(404);
      expect(
        (
          await call(
            globex,
            'GET',
            `/v1/applications/${ad()}/objects/${encodeURIComponent('CN=Orphan,OU=Users')}`,
          )
        ).statusCode,
      ).toBe(404);
      const join = await call(globex, 'POST', '/v1/joins', {
        applicationId: ad(),
        externalId: 'CN=Orphan,OU=Users',
        identityId: people[0]?.id,
      });
      expect(join.statusCode).toBe(404);
      expect((await call(globex, 'GET', '/v1/exports')).json<Page<unknown>>().items).toEqual([]);
      const acmeExports = (await call(acme, 'GET', '/v1/exports')).json<Page<{ id: string }>>();
      const cancel = await call(globex, 'POST', '/v1/exports/cancel', { ids: [acmeExports.items[0]?.id] });
      expect(cancel.statusCode).toBe(404);
      expect((await call(globex, 'GET', '/v1/runs')).json<{ items: unknown[] }>().items).toEqual([]);
      expect((await call(globex, 'GET', '/v1/schedules')).json<{ items: unknown[] }>().items).toEqual([]);
      expect((await call(globex, 'POST', `/v1/applications/${ad()}/runs`, { kind: 'full' })).statusCode).toBe(
        404,
      );
    });
  });
});
