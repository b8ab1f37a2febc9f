// The Outbound and Export stages and the identity lifecycle from a sync plan, end to end on the real Kafka
// broker and PostgreSQL: HR records in, classified identities out to a target application's export queue.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage } from '../../streams/cloudevents.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { claimExports, recordExportResult } from '../../src/engine/export-queue.ts';
import { reconciliationStatus } from '../../src/engine/plan-reconciliation.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import {
  exportQueue,
  createStreamsFixture,
  query,
  startTestEngine,
  type StreamsFixture,
  waitFor,
} from '../support/streams.ts';
import { waitUntilSettled } from '../support/settled.ts';

const DAY_MS = 86_400_000;

describe('Outbound and Export stages (real Kafka and PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let clockOffsetMs = 0;
  // Each test has a tenant of its own: a plan applied for one test must not provision another test's
  // identities (a tenant's identities are provisioned into every target of its plan in force).
  let tenantId = '';

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    engine = await startTestEngine(fixture, { now: () => new Date(Date.now() + clockOffsetMs) });
  });
  afterAll(async () => {
    await engine.stop();
    await fixture.close();
  });

  /**
   * A new tenant with a plan: an authoritative HR system and targets in live, approval and sandbox modes,
   * and one (the directory) without classifications. `edit` applies a later version for the same tenant:
   * another display name for the targets, more targets, a comment.
   */
  async function applyTestPlan(
    suffix: string,
    edit?: { displayName?: string; targets?: string[]; comment?: string; modes?: Record<string, string> },
  ) {
    if (edit === undefined)
      ({ tenantId } = await createTenant(fixture.orm.em, { tenant: `tenant-${suffix}` }));
    const displayName = edit?.displayName ?? 'identity.givenName + " " + identity.surname';
    const target = (name: string, mode: string, extra: string[] = []) => [
      `  - name: ${name}-${suffix}`,
      '    type: scim',
      `    mode: ${edit?.modes?.[name] ?? mode}`,
      '    objectClasses:',
      '      User:',
      '        attributes: { userName: { direction: both }, title: { direction: out }, displayName: { direction: out } }',
      '    joining: [{ name: user name, all: [{ source: userName, vault: employeeId }] }]',
      '    outbound:',
      '      - { target: userName, from: employeeId }',
      '      - { target: title, from: title }',
      `      - { target: displayName, expression: '${displayName}' }`,
      ...(extra.includes('no classifications') ? [] : ['    classifications: [1]']),
      ...extra.filter((line) => line !== 'no classifications'),
    ];
    const plan = [
      'version: 1',
      'vault:',
      '  attributes: { employeeId: {}, givenName: {}, surname: {}, title: {}, employeeType: {}, status: {} }',
      'lifecycle: { deletionDelayDays: 30 }',
      'applications:',
      `  - name: hr-${suffix}`,
      '    type: csv',
      '    createsIdentities: true',
      '    objectClasses:',
      '      worker: { attributes: { WorkerID: {}, FirstName: {}, LastName: {}, JobTitle: {}, WorkerType: {}, Status: {} } }',
      '    inbound:',
      '      - { vault: employeeId, from: WorkerID, authority: 100 }',
      '      - { vault: givenName, from: FirstName, authority: 100 }',
      '      - { vault: surname, from: LastName, authority: 100 }',
      '      - { vault: title, from: JobTitle, authority: 100 }',
      '      - { vault: employeeType, from: WorkerType, authority: 100 }',
      '      - { vault: status, from: Status, authority: 100 }',
      '    lifecycle:',
      '      status: \'source.Status == "terminated" ? "left" : source.Status == "leave" ? "disabled" : "active"\'',
      '      leaveOnDelete: true',
      ...target('saas', 'live', ['    export: { deprovision: delete, deletionThreshold: 1 }']),
      ...target('audited', 'approval'),
      ...target('trial', 'sandbox'),
      // No classifications: an identity belongs here only through an account joined to it.
      ...target('directory', 'live', ['no classifications']),
      ...(edit?.targets ?? []).flatMap((name) => target(name, 'live')),
      'classifications:',
      '  - { value: 1, name: employee, when: \'identity.employeeType == "Employee"\' }',
      '  - { value: 2, name: contractor, when: \'identity.employeeType == "Contractor"\' }',
      ...(edit?.comment === undefined ? [] : [`# ${edit.comment}`]),
    ].join('\n');
    const applied = await applyPlan(fixture.orm.em, {
      tenantId,
      source: plan,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
    });
    const ids = applied.applications.map((a) => a.id);
    return {
      hr: ids[0] ?? '',
      saas: ids[1] ?? '',
      audited: ids[2] ?? '',
      trial: ids[3] ?? '',
      directory: ids[4] ?? '',
      added: ids.slice(5),
      reconciles: applied.reconciles,
    };
  }

  const importObject = (
    applicationId: string,
    externalId: string,
    attributes: Record<string, string> | undefined,
    objectClass = 'worker',
  ) => {
    const at = new Date().toISOString();
    const data: MessageData<'joinery.import.object.v1'> = {
      tenantId,
      applicationId,
      objectClass,
      externalId,
      operation: attributes === undefined ? 'delete' : 'upsert',
      ...(attributes === undefined ? {} : { attributes }),
      observedAt: at,
    };
    return encodeMessage({
      id: randomUUID(),
      type: 'joinery.import.object.v1',
      source: '/tests',
      time: at,
      tenantId,
      data,
    });
  };
  const worker = (hr: string, id: string, fields: Partial<Record<string, string>> = {}) =>
    importObject(hr, id, {
      WorkerID: id,
      FirstName: 'Ada',
      LastName: 'Lovelace',
      JobTitle: 'Engineer',
      WorkerType: 'Employee',
      Status: 'active',
      ...(fields as Record<string, string>),
    });

  const queue = (applicationId: string) => exportQueue(fixture, applicationId);
  const identityOf = async (employeeId: string) => {
    const [row] = await query<{ id: string; state: string }>(
      fixture.database.url,
      `select id, state from identity where tenant_id = $1 and snapshot->'context'->'attributes'->>'employeeId' = $2`,
      [tenantId, employeeId],
    );
    return row;
  };
  const until = <T>(what: string, check: () => Promise<T | undefined | false>) =>
    waitFor(what, async () => (await check()) || undefined);

  it('provisions by classification, in each application mode, and exports only real differences', async () => {
    const suffix = randomUUID().slice(0, 8);
    const apps = await applyTestPlan(suffix);
    const [employee, contractor] = [`E-${suffix}`, `C-${suffix}`];
    await fixture.send('imports', [
      worker(apps.hr, employee),
      worker(apps.hr, contractor, { WorkerType: 'Contractor', FirstName: 'Grace' }),
    ]);
    await until('the live create', async () => (await queue(apps.saas)).length === 1);
    await until('the approval create', async () => (await queue(apps.audited)).length === 1);
    await until('the sandbox create', async () => (await queue(apps.trial)).length === 1);
    const employeeIdentity = await identityOf(employee);
    // Only the employee (classification 1) belongs in the targets; the contractor is in none of them.
    const [create] = await queue(apps.saas);
    expect(create).toMatchObject({
      identity_id: employeeIdentity?.id,
      operation: 'create',
      status: 'pending',
      external_id: null,
      attributes: { userName: employee, title: 'Engineer', displayName: 'Ada Lovelace' },
    });
    expect((await queue(apps.audited))[0]).toMatchObject({ status: 'held', hold_reason: 'approval' });
    expect((await queue(apps.trial))[0]).toMatchObject({ status: 'sandbox' });

    // A connector claims the create, applies it and reports the new object's anchor.
    const claimed = await claimExports(fixture.orm.em.fork(), {
      tenantId,
      applicationIds: [apps.saas],
      limit: 10,
      leaseMs: 60_000,
    });
    expect(claimed).toEqual([
      expect.objectContaining({ exportId: create?.export_id, operation: 'create', attempt: 1 }),
    ]);
    await recordExportResult(fixture.orm.em.fork(), {
      tenantId,
      exportId: create?.export_id ?? '',
      result: { status: 'succeeded', externalId: `scim-${suffix}` },
    });
    // The new object is the identity's hard join, and says how it came to be: Joinery created it.
    expect(
      await query(
        fixture.database.url,
        'select identity_id, provenance from identity_source where application_id = $1 and external_id = $2',
        [apps.saas, `scim-${suffix}`],
      ),
    ).toEqual([{ identity_id: employeeIdentity?.id, provenance: 'provisioned' }]);

    // A title change goes out as an update of only the title, addressed to the new object; the same
    // record again changes nothing anywhere.
    await fixture.send('imports', [worker(apps.hr, employee, { JobTitle: 'Architect' })]);
    await until('the update', async () => (await queue(apps.saas)).length === 2);
    const update = (await queue(apps.saas))[1];
    expect(update).toMatchObject({
      operation: 'update',
      status: 'pending',
      external_id: `scim-${suffix}`,
      attributes: { title: 'Architect' },
    });
    // Every target's update was decided in the transaction of the saas one waited for; the repeat is
    // compared once everything that follows from it has been consumed.
    const everywhere = async () =>
      Promise.all(
        [apps.saas, apps.audited, apps.trial, apps.directory].map(async (id) => (await queue(id)).length),
      );
    const before = await everywhere();
    await fixture.send('imports', [worker(apps.hr, employee, { JobTitle: 'Architect' })]);
    await waitUntilSettled(fixture);
    expect(await everywhere()).toEqual(before);
    expect(await queue(apps.saas)).toHaveLength(2);

    // A retriable failure comes back later; a success is confirmed by the import that shows the values.
    const [again] = await claimExports(fixture.orm.em.fork(), {
      tenantId,
      applicationIds: [apps.saas],
      limit: 10,
      leaseMs: 60_000,
    });
    expect(again?.exportId).toBe(update?.export_id);
    await recordExportResult(fixture.orm.em.fork(), {
      tenantId,
      exportId: update?.export_id ?? '',
      result: { status: 'failed', code: 'BUSY', message: 'try later', retriable: true },
    });
    const [retry] = await query<{ status: string; next_attempt_at: Date; attempts: number }>(
      fixture.database.url,
      'select status, next_attempt_at, attempts from export_item where export_id = $1',
      [update?.export_id],
    );
    expect(retry?.status).toBe('pending');
    expect(retry?.attempts).toBe(1);
    expect(new Date(retry?.next_attempt_at ?? 0).getTime()).toBeGreaterThan(Date.now());
    const [redelivered] = await claimExports(fixture.orm.em.fork(), {
      tenantId,
      applicationIds: [apps.saas],
      limit: 10,
      leaseMs: 60_000,
      now: new Date(Date.now() + 3_600_000),
    });
    expect(redelivered).toMatchObject({ exportId: update?.export_id, attempt: 2 });
    await recordExportResult(fixture.orm.em.fork(), {
      tenantId,
      exportId: update?.export_id ?? '',
      result: { status: 'succeeded', externalId: `scim-${suffix}` },
    });
    await fixture.send('imports', [
      importObject(
        apps.saas,
        `scim-${suffix}`,
        { userName: employee, title: 'Architect', displayName: 'Ada Lovelace' },
        'User',
      ),
    ]);
    await until('the confirmation', async () =>
      (await queue(apps.saas)).every((item) => item.status === 'confirmed'),
    );
  });

  it('applies a new plan version to the identities already in the Vault: a new target, a changed mapper', async () => {
    const suffix = randomUUID().slice(0, 8);
    const apps = await applyTestPlan(suffix);
    const [employee, contractor] = [`P-${suffix}`, `Q-${suffix}`];
    await fixture.send('imports', [
      worker(apps.hr, employee),
      worker(apps.hr, contractor, { WorkerType: 'Contractor', FirstName: 'Grace' }),
    ]);
    await until('the live create', async () => (await queue(apps.saas)).length === 1);
    await until('both identities', async () => (await identityOf(contractor)) !== undefined);

    // Version 2 adds a target for employees and writes the display name the other way round. No record
    // is imported again: the engine looks at the identities it already has with the new plan.
    const v2 = await applyTestPlan(suffix, {
      targets: ['crm'],
      displayName: 'identity.surname + ", " + identity.givenName',
    });
    expect(v2.reconciles).toBe(true);
    const crm = v2.added[0] ?? '';
    await until('the new target provisioned', async () => (await queue(crm)).length === 1);
    await until('the changed display name', async () => (await queue(apps.saas)).length === 2);
    const identity = await identityOf(employee);
    expect(await queue(crm)).toEqual([
      expect.objectContaining({
        identity_id: identity?.id,
        operation: 'create',
        attributes: { userName: employee, title: 'Engineer', displayName: 'Lovelace, Ada' },
      }),
    ]);
    expect((await queue(apps.saas))[1]).toMatchObject({
      identity_id: identity?.id,
      operation: 'update',
      attributes: { displayName: 'Lovelace, Ada' },
    });
    await until('the reconciliation complete', async () => {
      const status = await reconciliationStatus(fixture.orm.em, tenantId);
      return status?.planVersion === 2 && status.completedAt !== null ? status : undefined;
    });
    expect((await reconciliationStatus(fixture.orm.em, tenantId))?.identities).toBe(2);

    // A version that changes nothing an identity depends on asks for no reconciliation, and nothing leaves.
    const v3 = await applyTestPlan(suffix, {
      targets: ['crm'],
      displayName: 'identity.surname + ", " + identity.givenName',
      comment: 'reviewed by the identity team',
    });
    expect(v3.reconciles).toBe(false);
    // Applying a version writes its reconciliation request in the same transaction: none is pending now,
    // so the orchestrator has nothing to send; and what version 2's reconciliation sent is all decided.
    expect(await reconciliationStatus(fixture.orm.em, tenantId)).toMatchObject({
      planVersion: 2,
      completedAt: expect.any(String) as string,
    });
    await waitUntilSettled(fixture);
    expect(await queue(crm)).toHaveLength(1);
    expect(await queue(apps.saas)).toHaveLength(2);
  });

  it('exports, once an application leaves sandbox, what its report showed: nothing had left', async () => {
    const suffix = randomUUID().slice(0, 8);
    const apps = await applyTestPlan(suffix);
    const employee = `S-${suffix}`;
    await fixture.send('imports', [worker(apps.hr, employee)]);
    await until('the sandbox report', async () => (await queue(apps.trial)).length === 1);
    expect((await queue(apps.trial))[0]).toMatchObject({ operation: 'create', status: 'sandbox' });

    const live = await applyTestPlan(suffix, { modes: { trial: 'live' } });
    expect(live.reconciles).toBe(true);
    await until('the real create', async () => (await queue(apps.trial)).length === 2);
    expect((await queue(apps.trial))[1]).toMatchObject({
      identity_id: (await identityOf(employee))?.id,
      operation: 'create',
      status: 'pending',
      attributes: { userName: employee, title: 'Engineer', displayName: 'Ada Lovelace' },
    });
  });

  it('updates the account an identity is joined to in a target, addressed to that account, with only what differs', async () => {
    const suffix = randomUUID().slice(0, 8);
    const apps = await applyTestPlan(suffix);
    const employee = `J-${suffix}`;
    await fixture.send('imports', [worker(apps.hr, employee)]);
    await until('the identity', async () => (await identityOf(employee)) !== undefined);
    await until('the live create', async () => (await queue(apps.saas)).length === 1);
    // Not joined in the directory yet, and no classification puts it there: nothing for the directory.
    expect(await queue(apps.directory)).toEqual([]);

    // The directory's existing account joins by the user name rule; it holds an old title.
    const account = `uid=ada-${suffix},ou=people`;
    await fixture.send('imports', [
      importObject(
        apps.directory,
        account,
        { userName: employee, title: 'Apprentice', displayName: 'Ada Lovelace' },
        'User',
      ),
    ]);
    await until('the directory update', async () => (await queue(apps.directory)).length === 1);
    const [update] = await queue(apps.directory);
    expect(update).toMatchObject({
      operation: 'update',
      external_id: account,
      attributes: { title: 'Engineer' },
    });
  });

  it('creates the account again for an identity that belongs again after its account was deleted', async () => {
    const suffix = randomUUID().slice(0, 8);
    const apps = await applyTestPlan(suffix);
    const employee = `R-${suffix}`;
    const deliver = async (operation: string, externalId: string) => {
      const [claimed] = await claimExports(fixture.orm.em.fork(), {
        tenantId,
        applicationIds: [apps.saas],
        limit: 10,
        leaseMs: 60_000,
      });
      expect(claimed).toMatchObject({ operation });
      await recordExportResult(fixture.orm.em.fork(), {
        tenantId,
        exportId: claimed?.exportId ?? '',
        result: { status: 'succeeded', externalId },
      });
    };
    await fixture.send('imports', [worker(apps.hr, employee)]);
    await until('the create', async () => (await queue(apps.saas)).length === 1);
    await deliver('create', `scim-${suffix}`);
    // The next import of the target shows the account, which joins the identity.
    await fixture.send('imports', [
      importObject(
        apps.saas,
        `scim-${suffix}`,
        { userName: employee, title: 'Engineer', displayName: 'Ada Lovelace' },
        'User',
      ),
    ]);
    await until('the account joined', async () =>
      (
        await query<{ join_state: string }>(
          fixture.database.url,
          'select join_state from repository_object where application_id = $1 and external_id = $2',
          [apps.saas, `scim-${suffix}`],
        )
      )[0]?.join_state === 'joined'
        ? true
        : undefined,
    );

    // A contractor no longer belongs: the account is deleted (deprovision: delete), and the target says so.
    await fixture.send('imports', [worker(apps.hr, employee, { WorkerType: 'Contractor' })]);
    await until('the delete', async () => (await queue(apps.saas)).length === 2);
    expect((await queue(apps.saas))[1]).toMatchObject({ operation: 'delete', external_id: `scim-${suffix}` });
    await deliver('delete', `scim-${suffix}`);

    // An employee again: the old account is gone, so a new one is created — not an update of the deleted one.
    await fixture.send('imports', [worker(apps.hr, employee, { WorkerType: 'Employee' })]);
    await until('the second create', async () => (await queue(apps.saas)).length === 3);
    expect((await queue(apps.saas))[2]).toMatchObject({ operation: 'create', external_id: null });
  });

  it('disables a leaver, deletes it after the scheduled delay, and cancels the deletion of a returner', async () => {
    const suffix = randomUUID().slice(0, 8);
    const apps = await applyTestPlan(suffix);
    const [leaver, returner] = [`L-${suffix}`, `R-${suffix}`];
    await fixture.send('imports', [worker(apps.hr, leaver), worker(apps.hr, returner)]);
    await until('both creates', async () => (await queue(apps.saas)).length === 2);

    await fixture.send('imports', [
      worker(apps.hr, leaver, { Status: 'terminated' }),
      worker(apps.hr, returner, { Status: 'terminated' }),
    ]);
    await until('both leavers', async () => (await identityOf(leaver))?.state === 'leaver');
    await until('both disables', async () =>
      (await queue(apps.saas)).filter((item) => item.operation === 'disable').length === 2 ? true : false,
    );
    const timers = await query<{ due_at: Date }>(
      fixture.database.url,
      'select due_at from identity_timer where identity_id = $1',
      [(await identityOf(leaver))?.id],
    );
    expect(timers).toHaveLength(1);
    expect(new Date(timers[0]?.due_at ?? 0).getTime()).toBeGreaterThan(Date.now() + 29 * DAY_MS);

    // The returner comes back before the deletion: enabled again, its deletion cancelled.
    await fixture.send('imports', [worker(apps.hr, returner, { Status: 'active' })]);
    await until('the returner active', async () => (await identityOf(returner))?.state === 'active');
    const returnerId = (await identityOf(returner))?.id;
    expect(
      (await query(fixture.database.url, 'select 1 from identity_timer where identity_id = $1', [returnerId]))
        .length,
    ).toBe(0);
    await until('the returner enabled', async () =>
      (await queue(apps.saas)).some((item) => item.identity_id === returnerId && item.operation === 'enable'),
    );

    // 31 days later the leaver is deleted, and so is its object in the target; the returner stays.
    clockOffsetMs = 31 * DAY_MS;
    try {
      await until('the leaver deleted', async () => (await identityOf(leaver))?.state === 'deleted');
    } finally {
      clockOffsetMs = 0;
    }
    const leaverId = (await identityOf(leaver))?.id;
    await until('the delete export', async () =>
      (await queue(apps.saas)).some((item) => item.identity_id === leaverId && item.operation === 'delete'),
    );
    expect(
      (await queue(apps.saas))
        .filter((item) => item.identity_id === returnerId)
        .map((item) => item.operation),
    ).toEqual(['create', 'disable', 'enable']);
  });

  it('holds deletions beyond the mass-deletion threshold for an administrator', async () => {
    const suffix = randomUUID().slice(0, 8);
    const apps = await applyTestPlan(suffix);
    const people = [`M1-${suffix}`, `M2-${suffix}`];
    await fixture.send(
      'imports',
      people.map((person) => worker(apps.hr, person)),
    );
    await until('both creates', async () => (await queue(apps.saas)).length === 2);
    // Both become contractors: they no longer belong in the application, which deletes on deprovision —
    // two deletions against a threshold of one.
    await fixture.send(
      'imports',
      people.map((person) => worker(apps.hr, person, { WorkerType: 'Contractor' })),
    );
    await until('both deletions', async () =>
      (await queue(apps.saas)).filter((item) => item.operation === 'delete').length === 2 ? true : false,
    );
    const deletions = (await queue(apps.saas)).filter((item) => item.operation === 'delete');
    // The first may go through (one is within the threshold); past it, deletions are held.
    expect(deletions.some((item) => item.status === 'held' && item.hold_reason === 'mass-deletion')).toBe(
      true,
    );
    expect(deletions.filter((item) => item.status === 'pending').length).toBeLessThanOrEqual(1);
  });

  it('makes the identity of an authoritative record deleted in its application a leaver', async () => {
    const suffix = randomUUID().slice(0, 8);
    const apps = await applyTestPlan(suffix);
    const person = `D-${suffix}`;
    await fixture.send('imports', [worker(apps.hr, person)]);
    await until('active', async () => (await identityOf(person))?.state === 'active');
    await fixture.send('imports', [importObject(apps.hr, person, undefined)]);
    await until('a leaver', async () => (await identityOf(person))?.state === 'leaver');
    await until('the disable export', async () =>
      (await queue(apps.saas)).some((item) => item.operation === 'disable'),
    );
  });
});
