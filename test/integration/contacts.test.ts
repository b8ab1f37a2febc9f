// Contacts as first-class objects, end to end on the real Kafka broker and PostgreSQL: an object class of
// kind contact follows the user path — a CRM's contact projects an identity (or joins one by a joining
// rule), is mapped and classified like a user, and is provisioned with each target's export class: as a
// contact in a directory whose export class is its contact class, as a user in a SaaS application whose
// export class is its user class. A later change goes out as an update of only what changed.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { claimExports, recordExportResult } from '../../src/engine/export-queue.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import {
  exportQueue,
  createStreamsFixture,
  importMessage,
  query,
  startTestEngine,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';

describe('contacts (real Kafka and PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  // Each test has a tenant of its own: a plan applied for one test must not provision another test's
  // identities (a tenant's identities are provisioned into every target of its plan in force).
  let tenantId = '';

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    engine = await startTestEngine(fixture);
  });
  afterAll(async () => {
    await engine.stop();
    await fixture.close();
  });

  /**
   * A new tenant with a plan: a CRM whose contacts are authoritative (it creates identities), an events
   * application whose contacts only join, and two live targets that both declare a user and a contact
   * class — the directory exports its contact class, the SaaS application its user class. In each target
   * the exported class is deliberately not the first declared (the default), so the export class decides.
   */
  async function applyTestPlan(suffix: string) {
    ({ tenantId } = await createTenant(fixture.orm.em, { tenant: `tenant-${suffix}` }));
    const plan = [
      'version: 1',
      'vault:',
      '  attributes: { mail: {}, displayName: {}, company: {}, phone: {}, audience: {} }',
      'applications:',
      `  - name: crm-${suffix}`,
      '    type: csv',
      '    createsIdentities: true',
      '    objectClasses:',
      '      contact: { kind: contact, attributes: { Email: {}, Name: {}, Company: {} } }',
      '    joining: [{ name: email, all: [{ source: Email, vault: mail }] }]',
      '    inbound:',
      '      - { vault: mail, from: Email, authority: 100 }',
      '      - { vault: displayName, from: Name, authority: 100 }',
      '      - { vault: company, from: Company, authority: 100 }',
      `      - { vault: audience, expression: '"external"', authority: 100 }`,
      `  - name: events-${suffix}`,
      '    type: sql',
      '    objectClasses:',
      '      attendee: { kind: contact, attributes: { email: {}, phone: {} } }',
      '    joining: [{ name: attendee email, all: [{ source: email, vault: mail }] }]',
      '    inbound:',
      '      - { vault: phone, from: phone, authority: 50 }',
      `  - name: directory-${suffix}`,
      '    type: ldap',
      '    mode: live',
      '    objectClasses:',
      '      user: { attributes: { uid: { direction: out }, mail: { direction: both }, cn: { direction: both } } }',
      '      contact:',
      '        kind: contact',
      '        attributes: { mail: { direction: both }, cn: { direction: both }, company: { direction: out }, telephoneNumber: { direction: out } }',
      '    outbound:',
      '      - { target: mail, from: mail }',
      '      - { target: cn, from: displayName }',
      '      - { target: company, from: company }',
      '      - { target: telephoneNumber, from: phone }',
      '    classifications: [2]',
      '    export: { objectClass: contact }',
      `  - name: saas-${suffix}`,
      '    type: scim',
      '    mode: live',
      '    objectClasses:',
      '      Contact: { kind: contact, attributes: { email: { direction: out }, name: { direction: out } } }',
      '      User: { attributes: { userName: { direction: both }, displayName: { direction: out } } }',
      '    outbound:',
      '      - { target: userName, from: mail }',
      '      - { target: displayName, from: displayName }',
      '    classifications: [2]',
      '    export: { objectClass: User }',
      'classifications:',
      `  - { value: 1, name: employee, when: 'identity.audience == "internal"' }`,
      `  - { value: 2, name: external contact, when: 'identity.audience == "external"' }`,
    ].join('\n');
    const applied = await applyPlan(fixture.orm.em, {
      tenantId,
      source: plan,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
    });
    const ids = applied.applications.map((a) => a.id);
    return { crm: ids[0] ?? '', events: ids[1] ?? '', directory: ids[2] ?? '', saas: ids[3] ?? '' };
  }

  const importObject = (
    applicationId: string,
    objectClass: string,
    externalId: string,
    attributes: Record<string, string>,
  ) => importMessage({ tenantId, applicationId, objectClass, externalId, attributes });
  const crmContact = (crm: string, id: string, email: string, fields: Partial<Record<string, string>> = {}) =>
    importObject(crm, 'contact', id, {
      Email: email,
      Name: 'Ada Lovelace',
      Company: 'Analytical Engines Ltd',
      ...(fields as Record<string, string>),
    });

  const queue = (applicationId: string) => exportQueue(fixture, applicationId);
  /** The application's queue, once it holds at least `count` operations. */
  const queueOf = (applicationId: string, count: number, what: string) =>
    waitFor(what, async () => {
      const rows = await queue(applicationId);
      return rows.length >= count ? rows : undefined;
    });
  const identitiesWithMail = (mail: string) =>
    query<{ id: string; classification: number | null }>(
      fixture.database.url,
      `select id, (snapshot->'context'->>'classification')::int as classification from identity
       where tenant_id = $1 and snapshot->'context'->'attributes'->>'mail' = $2`,
      [tenantId, mail],
    );
  const hardJoin = async (applicationId: string, externalId: string) => {
    const [row] = await query<{ identity_id: string; provenance: string }>(
      fixture.database.url,
      'select identity_id, provenance from identity_source where application_id = $1 and external_id = $2',
      [applicationId, externalId],
    );
    return row;
  };
  /** The connector takes the application's queue and reports the create a success, with its anchor. */
  const createSucceeded = async (applicationId: string, exportId: string, externalId: string) => {
    const claimed = await claimExports(fixture.orm.em.fork(), {
      tenantId,
      applicationIds: [applicationId],
      limit: 10,
      leaseMs: 60_000,
    });
    expect(claimed.map((item) => item.exportId)).toEqual([exportId]);
    await recordExportResult(fixture.orm.em.fork(), {
      tenantId,
      exportId,
      result: { status: 'succeeded', externalId },
    });
    return claimed[0];
  };

  it('projects an identity from a CRM contact, writes it as a contact or a user by each target export class, then only the change', async () => {
    const suffix = randomUUID().slice(0, 8);
    const apps = await applyTestPlan(suffix);
    const mail = `ada-${suffix}@example.org`;
    await fixture.send('imports', [crmContact(apps.crm, `crm-${suffix}`, mail)]);

    const [directoryCreate] = await queueOf(apps.directory, 1, 'the directory create');
    const [saasCreate] = await queueOf(apps.saas, 1, 'the SaaS create');
    // The contact projected one identity, classified as an external contact, hard-joined to its CRM record.
    const identities = await identitiesWithMail(mail);
    expect(identities).toEqual([{ id: expect.any(String) as string, classification: 2 }]);
    const identityId = identities[0]?.id;
    expect(await hardJoin(apps.crm, `crm-${suffix}`)).toEqual({
      identity_id: identityId,
      provenance: 'projected',
    });

    // The directory's export class is its contact class: the identity is written there as a contact, with
    // the outbound-mapped attributes (the phone the Vault does not have is left out).
    expect(directoryCreate).toMatchObject({
      identity_id: identityId,
      object_class: 'contact',
      operation: 'create',
      status: 'pending',
      external_id: null,
      attributes: { mail, cn: 'Ada Lovelace', company: 'Analytical Engines Ltd' },
    });
    // The SaaS application also has a contact class, but exports its user class: there it is a user.
    expect(saasCreate).toMatchObject({
      identity_id: identityId,
      object_class: 'User',
      operation: 'create',
      status: 'pending',
      external_id: null,
      attributes: { userName: mail, displayName: 'Ada Lovelace' },
    });

    // The connectors are told which class to write, and report the new objects' anchors.
    const anchor = `cn=Ada Lovelace,ou=contacts,dc=example,dc=org`;
    const delivered = await createSucceeded(apps.directory, directoryCreate?.export_id ?? '', anchor);
    expect(delivered).toMatchObject({ objectClass: 'contact', operation: 'create', identityId });
    expect(await createSucceeded(apps.saas, saasCreate?.export_id ?? '', `scim-${suffix}`)).toMatchObject({
      objectClass: 'User',
    });
    expect(await hardJoin(apps.directory, anchor)).toEqual({
      identity_id: identityId,
      provenance: 'provisioned',
    });

    // The contact created in the directory comes back in its import as the same identity's object, and
    // confirms the create.
    await fixture.send('imports', [
      importObject(apps.directory, 'contact', anchor, {
        mail,
        cn: 'Ada Lovelace',
        company: 'Analytical Engines Ltd',
      }),
    ]);
    await waitFor('the directory create confirmed', async () =>
      (await queue(apps.directory))[0]?.status === 'confirmed' ? true : undefined,
    );
    const [directoryObject] = await query<{ join_state: string; identity_id: string }>(
      fixture.database.url,
      'select join_state, identity_id from repository_object where application_id = $1 and external_id = $2',
      [apps.directory, anchor],
    );
    expect(directoryObject).toEqual({ join_state: 'joined', identity_id: identityId });

    // The contact's name changes in the CRM: each target gets an update of only the attribute mapped from
    // it, in its own export class, addressed to the object created there.
    await fixture.send('imports', [crmContact(apps.crm, `crm-${suffix}`, mail, { Name: 'Ada King' })]);
    const directoryQueue = await queueOf(apps.directory, 2, 'the directory update');
    const saasQueue = await queueOf(apps.saas, 2, 'the SaaS update');
    expect(directoryQueue.slice(1)).toEqual([
      expect.objectContaining({
        identity_id: identityId,
        object_class: 'contact',
        operation: 'update',
        status: 'pending',
        external_id: anchor,
        attributes: { cn: 'Ada King' },
      }),
    ]);
    expect(saasQueue.slice(1)).toEqual([
      expect.objectContaining({
        identity_id: identityId,
        object_class: 'User',
        operation: 'update',
        status: 'pending',
        external_id: `scim-${suffix}`,
        attributes: { displayName: 'Ada King' },
      }),
    ]);
    expect(await identitiesWithMail(mail)).toHaveLength(1);
  });

  it('joins a contact of another application to the identity by the joining rule: one contact written, then only its phone', async () => {
    const suffix = randomUUID().slice(0, 8);
    const apps = await applyTestPlan(suffix);
    const mail = `grace-${suffix}@example.org`;
    await fixture.send('imports', [crmContact(apps.crm, `crm-${suffix}`, mail, { Name: 'Grace Hopper' })]);
    const [create] = await queueOf(apps.directory, 1, 'the directory create');
    expect(create).toMatchObject({
      object_class: 'contact',
      operation: 'create',
      attributes: { mail, cn: 'Grace Hopper', company: 'Analytical Engines Ltd' },
    });
    const [identity] = await identitiesWithMail(mail);

    // The same person registers for an event: the attendee (a contact, in an application that creates no
    // identities) joins her identity by the email rule and brings her phone.
    await fixture.send('imports', [
      importObject(apps.events, 'attendee', `attendee-${suffix}`, { email: mail, phone: '+44 20 7946 0000' }),
    ]);
    const directoryQueue = await queueOf(apps.directory, 2, 'the phone update');
    expect(await hardJoin(apps.events, `attendee-${suffix}`)).toEqual({
      identity_id: identity?.id,
      provenance: 'rule:attendee email',
    });
    expect(await identitiesWithMail(mail)).toEqual([identity]);
    // No second contact: the create (not delivered yet) is followed by an update of only the phone.
    expect(directoryQueue).toEqual([
      expect.objectContaining({ export_id: create?.export_id, operation: 'create' }),
      expect.objectContaining({
        identity_id: identity?.id,
        object_class: 'contact',
        operation: 'update',
        attributes: { telephoneNumber: '+44 20 7946 0000' },
      }),
    ]);
  });
});
