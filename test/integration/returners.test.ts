// A leaver who comes back, end to end on the real Kafka broker and PostgreSQL: with `leaveOnDelete`, an
// authoritative object deleted (a delete message, or a completed full run that did not see it) makes its
// identity a leaver with a pending deletion; the object imported again (a delta, or the next full run) makes
// the identity return — active, its deletion cancelled — with or without a `lifecycle.status` expression.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { encodeMessage } from '../../streams/cloudevents.ts';
import { silentLogger } from '../support/factories.ts';
import {
  createStreamsFixture,
  importObjectMessage,
  importRunMarker,
  query,
  startTestEngine,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';

interface IdentityDetail {
  state: string;
  attributes: Record<string, unknown>;
  timers: { timerId: string; kind: string; dueAt: string }[];
}

describe('a leaver who comes back (real Kafka and PostgreSQL, engine and API)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let app: App;
  // hr: leaveOnDelete without a status expression (the documented setup); payroll: with one.
  const apps = { hr: '', payroll: '' };

  const planSource = [
    'version: 1',
    'vault:',
    '  attributes: { employeeId: {}, givenName: {}, payrollId: {} }',
    'lifecycle: { deletionDelayDays: 90 }',
    'applications:',
    '  - name: hr',
    '    type: csv',
    '    createsIdentities: true',
    '    objectClasses:',
    '      worker: { attributes: { WorkerID: {}, FirstName: {} } }',
    '    inbound:',
    '      - { vault: employeeId, from: WorkerID, authority: 100 }',
    '      - { vault: givenName, from: FirstName, authority: 100 }',
    '    joining: [{ name: worker id, all: [{ source: WorkerID, vault: employeeId }] }]',
    '    lifecycle: { leaveOnDelete: true }',
    '  - name: payroll',
    '    type: csv',
    '    createsIdentities: true',
    '    objectClasses:',
    '      employee: { attributes: { PayrollID: {}, Status: {} } }',
    '    inbound:',
    '      - { vault: payrollId, from: PayrollID, authority: 100 }',
    '    lifecycle:',
    '      leaveOnDelete: true',
    `      status: 'source.Status == "suspended" ? "disabled" : "active"'`,
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
    apps.hr = ids.get('hr') ?? '';
    apps.payroll = ids.get('payroll') ?? '';
  });
  afterAll(async () => {
    await app.close();
    await engine.stop();
    await fixture.close();
  });

  const call = (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${fixture.apiKey}` },
      ...(payload === undefined ? {} : { payload }),
    });

  const identity = async (id: string) => {
    const response = await app.inject({
      method: 'GET',
      url: `/v1/identities/${id}`,
      headers: { authorization: `Bearer ${fixture.apiKey}` },
    });
    return response.statusCode === 200 ? response.json<IdentityDetail>() : undefined;
  };

  /** An object of `applicationId`: an upsert of the attributes, or its deletion without them. */
  const object = (
    applicationId: string,
    externalId: string,
    attributes: Record<string, string> | undefined,
    runId?: string,
  ) =>
    importObjectMessage({
      tenantId: fixture.tenantId,
      applicationId,
      objectClass: applicationId === apps.hr ? 'worker' : 'employee',
      externalId,
      ...(attributes === undefined ? {} : { attributes }),
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

  /** A full run of `applicationId` that sees exactly these objects; resolves once it has completed. */
  const fullRun = async (applicationId: string, objects: [string, Record<string, string>][]) => {
    const runId = randomUUID();
    await fixture.send('imports', [
      marker(applicationId, runId, 'started'),
      ...objects.map(([externalId, attributes]) => object(applicationId, externalId, attributes, runId)),
      marker(applicationId, runId, 'completed', objects.length),
    ]);
    await waitFor(`full run ${runId} to complete`, async () => {
      const [row] = await query<{ status: string }>(
        fixture.database.url,
        'select status from import_run where run_id = $1',
        [runId],
      );
      return row?.status === 'completed' ? row : undefined;
    });
  };

  /** The identity the object is joined to, once it is. */
  const identityOf = (applicationId: string, externalId: string) =>
    waitFor(`${externalId} to join an identity`, async () => {
      const [row] = await query<{ identity_id: string | null }>(
        fixture.database.url,
        `select identity_id from repository_object
         where tenant_id = $1 and application_id = $2 and external_id = $3 and join_state = 'joined'`,
        [fixture.tenantId, applicationId, externalId],
      );
      return row?.identity_id ?? undefined;
    });

  /** The identity once it is in `state` with a pending deletion or none, as the API shows it. */
  const reaches = (id: string, state: string, deletionPending: boolean) =>
    waitFor(`identity ${id} ${state} with${deletionPending ? '' : 'out'} a pending deletion`, async () => {
      const detail = await identity(id);
      if (detail?.state !== state) return undefined;
      const pending = detail.timers.some((timer) => timer.kind === 'deletion');
      return pending === deletionPending ? detail : undefined;
    });

  /** The identity's rows in identity_timer (what the timer scheduler would fire). */
  const timerRows = (id: string) =>
    query<{ timer_id: string }>(
      fixture.database.url,
      'select timer_id from identity_timer where tenant_id = $1 and identity_id = $2',
      [fixture.tenantId, id],
    );

  it('brings back a leaver whose object a full run did not see once the next full run sees it again (no status expression)', async () => {
    const stay: [string, Record<string, string>] = ['W-stay', { WorkerID: 'W-stay', FirstName: 'Ada' }];
    const away: [string, Record<string, string>] = ['W-away', { WorkerID: 'W-away', FirstName: 'Grace' }];
    await fullRun(apps.hr, [stay, away]);
    const id = await identityOf(apps.hr, 'W-away');
    await reaches(id, 'active', false);

    // A full run without them: a leaver, deletion scheduled 90 days out.
    await fullRun(apps.hr, [stay]);
    const left = await reaches(id, 'leaver', true);
    expect(left.timers).toHaveLength(1);

    // The next full run with them back, unchanged: they return, the deletion is called off.
    await fullRun(apps.hr, [stay, away]);
    const back = await reaches(id, 'active', false);
    expect(back.timers).toEqual([]);
    expect(await timerRows(id)).toEqual([]);
    // The one who never left was never touched.
    await reaches(await identityOf(apps.hr, 'W-stay'), 'active', false);
  });

  it('brings back a leaver whose object was deleted by a delta once a delta imports it again (no status expression)', async () => {
    const attributes = { WorkerID: 'W-delta', FirstName: 'Linus' };
    await fixture.send('imports', [object(apps.hr, 'W-delta', attributes)]);
    const id = await identityOf(apps.hr, 'W-delta');
    await reaches(id, 'active', false);

    await fixture.send('imports', [object(apps.hr, 'W-delta', undefined)]);
    await reaches(id, 'leaver', true);

    await fixture.send('imports', [object(apps.hr, 'W-delta', attributes)]);
    await reaches(id, 'active', false);
    expect(await timerRows(id)).toEqual([]);
  });

  it('brings back a leaver through a full run and through a delta when the application has a status expression', async () => {
    const row: [string, Record<string, string>] = ['P-1', { PayrollID: 'P-1', Status: 'employed' }];
    await fullRun(apps.payroll, [row]);
    const id = await identityOf(apps.payroll, 'P-1');
    await reaches(id, 'active', false);

    await fullRun(apps.payroll, []);
    await reaches(id, 'leaver', true);
    await fullRun(apps.payroll, [row]);
    await reaches(id, 'active', false);
    expect(await timerRows(id)).toEqual([]);

    await fixture.send('imports', [object(apps.payroll, 'P-1', undefined)]);
    await reaches(id, 'leaver', true);
    await fixture.send('imports', [object(apps.payroll, 'P-1', row[1])]);
    await reaches(id, 'active', false);
    expect(await timerRows(id)).toEqual([]);
  });

  /** An agent's pulse: the object was disabled in its application. */
  const pulseDisable = (applicationId: string, externalId: string) => {
    const at = new Date().toISOString();
    return encodeMessage({
      id: randomUUID(),
      type: 'joinery.pulse.v1',
      source: '/agents/test',
      time: at,
      tenantId: fixture.tenantId,
      data: {
        tenantId: fixture.tenantId,
        event: { type: 'pulse.disable', at, source: { applicationId, externalId } },
      },
    });
  };

  /** The repository object once it is flagged deleted (its transaction, with its identity event, has committed). */
  const flaggedDeleted = (applicationId: string, externalId: string) =>
    waitFor(`${externalId} to be flagged deleted`, async () => {
      const [row] = await query<{ deleted: boolean }>(
        fixture.database.url,
        'select deleted from repository_object where tenant_id = $1 and application_id = $2 and external_id = $3',
        [fixture.tenantId, applicationId, externalId],
      );
      return row?.deleted === true ? row : undefined;
    });

  it('keeps an identity that loses one of its two authoritative objects, makes it a leaver when the last goes and brings it back when a new record under another anchor joins it', async () => {
    await fixture.send('imports', [object(apps.hr, 'E-1a', { WorkerID: 'E1', FirstName: 'Edsger' })]);
    const id = await identityOf(apps.hr, 'E-1a');
    await fixture.send('imports', [object(apps.hr, 'E-1b', { WorkerID: 'E1', FirstName: 'Edsger' })]);
    expect(await identityOf(apps.hr, 'E-1b')).toBe(id);
    await reaches(id, 'active', false);

    // One of the two records goes: the person is still there.
    await fixture.send('imports', [object(apps.hr, 'E-1a', undefined)]);
    await flaggedDeleted(apps.hr, 'E-1a');
    // A later change of the other record reaches the identity after whatever the deletion sent it.
    await fixture.send('imports', [object(apps.hr, 'E-1b', { WorkerID: 'E1', FirstName: 'Edsger W.' })]);
    const kept = await waitFor('the later change', async () => {
      const detail = await identity(id);
      return detail?.attributes.givenName === 'Edsger W.' ? detail : undefined;
    });
    expect(kept.state).toBe('active');
    expect(kept.timers).toEqual([]);

    // Disabled in the meantime; the record that went comes back: it never made the identity leave, so it
    // does not enable it either.
    await fixture.send('pulses', [pulseDisable(apps.hr, 'E-1b')]);
    await reaches(id, 'disabled', false);
    await fixture.send('imports', [object(apps.hr, 'E-1a', { WorkerID: 'E1', FirstName: 'Edsger' })]);
    await waitFor('E-1a to be imported again', async () => {
      const [row] = await query<{ deleted: boolean }>(
        fixture.database.url,
        'select deleted from repository_object where tenant_id = $1 and application_id = $2 and external_id = $3',
        [fixture.tenantId, apps.hr, 'E-1a'],
      );
      return row?.deleted === false ? row : undefined;
    });
    await fixture.send('imports', [object(apps.hr, 'E-1b', { WorkerID: 'E1', FirstName: 'Edsger Wybe' })]);
    const still = await waitFor('the change after the return', async () => {
      const detail = await identity(id);
      return detail?.attributes.givenName === 'Edsger Wybe' ? detail : undefined;
    });
    expect(still.state).toBe('disabled');

    // Both go (in one full run): a leaver.
    await fullRun(apps.hr, []);
    await reaches(id, 'leaver', true);

    // Rehired under a new anchor, matched by the joining rule: back, the deletion cancelled.
    await fixture.send('imports', [object(apps.hr, 'E-1c', { WorkerID: 'E1', FirstName: 'Edsger' })]);
    expect(await identityOf(apps.hr, 'E-1c')).toBe(id);
    await reaches(id, 'active', false);
    expect(await timerRows(id)).toEqual([]);
  });

  it('brings back a leaver an administrator joins a new authoritative record to by hand', async () => {
    await fixture.send('imports', [object(apps.hr, 'M-1', { WorkerID: 'M1', FirstName: 'Barbara' })]);
    const leaver = await identityOf(apps.hr, 'M-1');
    await reaches(leaver, 'active', false);
    await fixture.send('imports', [object(apps.hr, 'M-1', undefined)]);
    await reaches(leaver, 'leaver', true);

    // A new record under another worker id projects an identity of its own; joined by hand to the leaver.
    await fixture.send('imports', [object(apps.hr, 'M-2', { WorkerID: 'M2', FirstName: 'Barbara' })]);
    const projected = await identityOf(apps.hr, 'M-2');
    expect(projected).not.toBe(leaver);
    const joined = await call('POST', '/v1/joins', {
      applicationId: apps.hr,
      externalId: 'M-2',
      identityId: leaver,
    });
    expect(joined.statusCode).toBe(200);
    await reaches(leaver, 'active', false);
    expect(await timerRows(leaver)).toEqual([]);
  });
});
