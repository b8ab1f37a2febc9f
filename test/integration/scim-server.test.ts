// Joinery's SCIM 2.0 server (issue 19, item 4) on the real engine, Kafka and PostgreSQL: an external SCIM
// client written from the RFC 7643/7644 examples — over HTTP, as an identity provider would — creates,
// filters, patches (with Okta- and Entra ID-style bodies), replaces and deletes Users and Groups, and the
// users reach the Vault (GET /v1/identities) through the application's joining rules and projection.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/infra/process.ts';
import type { App } from '../../src/api/app.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { uniqueName } from '../support/factories.ts';
import { SCIM, scimClient, startScimService, type ScimService } from '../support/scim-service.ts';
import { waitFor, type StreamsFixture } from '../support/streams.ts';

const { user: USER, enterprise: ENTERPRISE, group: GROUP, patchOp: PATCH_OP, error: ERROR } = SCIM;

/** An RFC 7643 §8.2-style user (Barbara Jensen), made unique. */
function userBody(userName: string, extra: Record<string, unknown> = {}) {
  return {
    schemas: [USER, ENTERPRISE],
    userName,
    externalId: `ext-${userName}`,
    name: { formatted: 'Ms. Barbara J Jensen III', familyName: 'Jensen', givenName: 'Barbara' },
    displayName: 'Babs Jensen',
    emails: [
      { value: `${userName}@example.com`, type: 'work', primary: true },
      { value: `${userName}@jensen.org`, type: 'home' },
    ],
    active: true,
    [ENTERPRISE]: { employeeNumber: `E-${userName}`, department: 'Tour Operations' },
    ...extra,
  };
}

describe('SCIM 2.0 server (real engine, Kafka and PostgreSQL): an identity provider provisions into Joinery', () => {
  let service: ScimService;
  let fixture: StreamsFixture;
  let app: App;
  let baseUrl = '';
  let scim: ReturnType<typeof scimClient>;
  const apps = { okta: '', entra: '', hr: '' };
  let otherTenantToken = '';
  let entraToken = '';

  const planSource = [
    'version: 1',
    'vault:',
    '  attributes: { userName: {}, givenName: {}, familyName: {}, email: {}, employeeNumber: {}, department: {} }',
    'applications:',
    '  - name: okta',
    '    type: scim',
    '    createsIdentities: true',
    '    objectClasses:',
    '      user:',
    '        attributes: { userName: {}, name.givenName: {}, name.familyName: {}, emails.work: {}, enterprise.employeeNumber: {}, enterprise.department: {}, active: {} }',
    '      group: { kind: group, members: members, attributes: { displayName: {}, members: {} } }',
    '    inbound:',
    '      - { vault: userName, from: userName, authority: 100 }',
    '      - { vault: givenName, from: name.givenName, authority: 100 }',
    '      - { vault: familyName, from: name.familyName, authority: 100 }',
    '      - { vault: email, from: emails.work, authority: 100 }',
    '      - { vault: employeeNumber, from: enterprise.employeeNumber, authority: 100 }',
    '      - { vault: department, from: enterprise.department, authority: 100 }',
    '    joining: [{ name: user name, all: [{ source: userName, vault: userName }] }]',
    '    lifecycle: { leaveOnDelete: true }',
    '  - name: entra',
    '    type: scim',
    '    objectClasses:',
    '      user: { attributes: { userName: {} } }',
    '  - name: hr',
    '    type: csv',
    '    objectClasses:',
    '      worker: { attributes: { id: {} } }',
    '    csv: { externalId: id }',
  ].join('\n');

  const admin = (method: string, url: string, apiKey?: string, payload?: unknown) =>
    service.admin(method, url, apiKey, payload);
  const identity = (userName: string) => service.identity(userName);

  beforeAll(async () => {
    service = await startScimService(planSource);
    ({ fixture, app, baseUrl } = service);
    apps.okta = service.applications.get('okta') ?? '';
    apps.entra = service.applications.get('entra') ?? '';
    apps.hr = service.applications.get('hr') ?? '';
    const issued = await service.issueToken('okta', 'okta');
    expect(issued.baseUrl).toMatch(/\/scim\/v2$/);
    scim = scimClient(baseUrl, issued.token);
    entraToken = (await service.issueToken('entra')).token;
    // Another tenant with a scim application of its own.
    const other = await createTenant(fixture.orm.em, { tenant: uniqueName('globex') });
    const otherPlan = await applyPlan(fixture.orm.em, {
      tenantId: other.tenantId,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
      source: [
        'version: 1',
        'vault: { attributes: { userName: {} } }',
        'applications:',
        '  - name: okta',
        '    type: scim',
        '    objectClasses:',
        '      user: { attributes: { userName: {} } }',
      ].join('\n'),
    });
    const otherApp = otherPlan.applications[0]?.id ?? '';
    const otherIssued = await admin('POST', `/v1/applications/${otherApp}/scim-tokens`, other.apiKey);
    expect(otherIssued.status, JSON.stringify(otherIssued.body)).toBe(201);
    otherTenantToken = String(otherIssued.body.token);
  }, 60_000);
  afterAll(async () => {
    await service.close();
  });

  it('serves ServiceProviderConfig, Schemas and ResourceTypes as application/scim+json', async () => {
    const config = await scim('GET', '/ServiceProviderConfig');
    expect(config.status).toBe(200);
    expect(config.headers.get('content-type')).toMatch(/^application\/scim\+json/);
    expect(config.body).toMatchObject({
      patch: { supported: true },
      filter: { supported: true, maxResults: 1000 },
      etag: { supported: true },
      bulk: { supported: false },
    });
    const schemas = await scim('GET', '/Schemas');
    expect(schemas.body.Resources?.map((schema) => schema.id)).toEqual([USER, ENTERPRISE, GROUP]);
    const user = await scim('GET', `/Schemas/${USER}`);
    expect((user.body.attributes as { name: string }[]).map((a) => a.name)).toContain('userName');
    const types = await scim('GET', '/ResourceTypes');
    expect(types.body.Resources).toEqual([
      expect.objectContaining({
        name: 'User',
        endpoint: '/Users',
        schemaExtensions: [{ schema: ENTERPRISE, required: false }],
      }),
      expect.objectContaining({ name: 'Group', endpoint: '/Groups' }),
    ]);
    expect((await scim('GET', '/ResourceTypes/User')).body).toMatchObject({ id: 'User' });
  });

  it('creates a user (201, Location, ETag) that reaches the Vault through the joining rules and projection', async () => {
    const userName = uniqueName('bjensen');
    const created = await scim('POST', '/Users', userBody(userName));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = String(created.body.id);
    expect(created.headers.get('location')).toBe(`${baseUrl}/Users/${id}`);
    expect(created.headers.get('etag')).toBe('W/"1"');
    expect(created.body).toMatchObject({
      schemas: [USER, ENTERPRISE],
      userName,
      active: true,
      meta: { resourceType: 'User', version: 'W/"1"', location: `${baseUrl}/Users/${id}` },
      [ENTERPRISE]: { employeeNumber: `E-${userName}` },
    });
    // Consistent right after the write.
    expect((await scim('GET', `/Users/${id}`)).body).toMatchObject({ id, userName });
    const person = await waitFor('the user in the Vault', async () => {
      const found = await identity(userName);
      return found?.attributes.employeeNumber === `E-${userName}` ? found : undefined;
    });
    expect(person.attributes).toMatchObject({
      givenName: 'Barbara',
      familyName: 'Jensen',
      email: `${userName}@example.com`,
      department: 'Tour Operations',
    });
  });

  it('refuses a second userName of the application, in any case, with 409 uniqueness', async () => {
    const userName = uniqueName('dup');
    expect((await scim('POST', '/Users', userBody(userName))).status).toBe(201);
    const again = await scim('POST', '/Users', userBody(userName.toUpperCase()));
    expect(again.status).toBe(409);
    expect(again.body).toEqual({
      schemas: [ERROR],
      status: '409',
      scimType: 'uniqueness',
      detail: expect.any(String) as unknown,
    });
  });

  it('filters with eq, ne, co, sw, ew, pr, gt, and/or/not, grouping and complex attribute filters, and pages', async () => {
    const prefix = uniqueName('flt');
    const names = ['alice', 'bob', 'carol'].map((name) => `${prefix}-${name}`);
    const ids: string[] = [];
    for (const [index, userName] of names.entries()) {
      const created = await scim(
        'POST',
        '/Users',
        userBody(userName, { title: index === 0 ? 'Boss' : undefined, active: index !== 2 }),
      );
      ids.push(String(created.body.id));
    }
    const found = async (filter: string) => {
      const answer = await scim('GET', `/Users?filter=${encodeURIComponent(filter)}&count=1000`);
      expect(answer.status, `${filter}: ${JSON.stringify(answer.body)}`).toBe(200);
      return (answer.body.Resources ?? [])
        .map((user) => String(user.userName))
        .filter((name) => name.startsWith(prefix))
        .sort();
    };
    const [alice = '', bob = '', carol = ''] = names;
    expect(await found(`userName eq "${alice.toUpperCase()}"`)).toEqual([alice]);
    expect(await found(`userName sw "${prefix}" and userName ne "${bob}"`)).toEqual([alice, carol]);
    expect(await found(`userName co "${prefix}-b"`)).toEqual([bob]);
    expect(await found(`userName ew "-carol" and userName sw "${prefix}"`)).toEqual([carol]);
    expect(await found(`userName sw "${prefix}" and title pr`)).toEqual([alice]);
    expect(await found(`userName sw "${prefix}" and not (title pr)`)).toEqual([bob, carol]);
    expect(await found(`userName sw "${prefix}" and (active eq false or title eq "boss")`)).toEqual([
      alice,
      carol,
    ]);
    expect(await found(`emails[type eq "work" and value co "${prefix}-bob@"]`)).toEqual([bob]);
    expect(await found(`emails.value ew "${prefix}-carol@jensen.org"`)).toEqual([carol]);
    expect(
      await found(
        `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "E-${alice}"`,
      ),
    ).toEqual([alice]);
    expect(await found(`externalId eq "ext-${bob}"`)).toEqual([bob]);
    expect(await found(`userName sw "${prefix}" and meta.created gt "2000-01-01T00:00:00Z"`)).toEqual(names);
    expect(await found(`id eq "${ids[1] ?? ''}"`)).toEqual([bob]);
    // Pagination: 1-based startIndex, count, totalResults of the whole filter; sortBy.
    const page = await scim(
      'GET',
      `/Users?filter=${encodeURIComponent(`userName sw "${prefix}"`)}&startIndex=2&count=1&sortBy=userName&sortOrder=descending`,
    );
    expect(page.body).toMatchObject({ totalResults: 3, startIndex: 2, itemsPerPage: 1 });
    expect(page.body.Resources?.[0]?.userName).toBe(bob);
    const none = await scim('GET', `/Users?filter=${encodeURIComponent(`userName sw "${prefix}"`)}&count=0`);
    expect(none.body).toMatchObject({ totalResults: 3, itemsPerPage: 0, Resources: [] });
    // attributes / excludedAttributes.
    const only = await scim('GET', `/Users/${ids[0] ?? ''}?attributes=emails.value,name.givenName`);
    expect(only.body).toEqual({
      schemas: [USER, ENTERPRISE],
      id: ids[0],
      userName: alice,
      meta: expect.any(Object) as unknown,
      name: { givenName: 'Barbara' },
      emails: [{ value: `${alice}@example.com` }, { value: `${alice}@jensen.org` }],
    });
    const without = await scim(
      'GET',
      `/Users?filter=${encodeURIComponent(`userName eq "${alice}"`)}&excludedAttributes=emails,${ENTERPRISE}`,
    );
    expect(without.body.Resources?.[0]).not.toHaveProperty('emails');
    expect(without.body.Resources?.[0]).not.toHaveProperty([ENTERPRISE]);
    expect(without.body.Resources?.[0]).toHaveProperty('name');
  });

  it('answers a bad filter with 400 invalidFilter, naming it', async () => {
    for (const filter of [
      'userName eq',
      'userName zz "x"',
      'nosuchattribute eq "x"',
      'emails[type eq "work"',
      'active eq "maybe"',
    ]) {
      const answer = await scim('GET', `/Users?filter=${encodeURIComponent(filter)}`);
      expect(answer.status, filter).toBe(400);
      expect(answer.body, filter).toMatchObject({
        schemas: [ERROR],
        status: '400',
        scimType: 'invalidFilter',
      });
    }
    const long = await scim(
      'GET',
      `/Users?filter=${encodeURIComponent(`userName eq "${'x'.repeat(5000)}"`)}`,
    );
    expect(long.body).toMatchObject({ status: '400', scimType: 'invalidFilter' });
  });

  it('takes Entra ID PATCH bodies: "False" as a string, no path with dotted keys, the enterprise manager by URN path', async () => {
    const userName = uniqueName('entra');
    const manager = String((await scim('POST', '/Users', userBody(uniqueName('boss')))).body.id);
    const id = String((await scim('POST', '/Users', userBody(userName))).body.id);
    const patched = await scim('PATCH', `/Users/${id}`, {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'Replace', path: 'active', value: 'False' },
        { op: 'Add', path: `${ENTERPRISE}:manager`, value: manager },
        { op: 'Replace', path: 'emails[type eq "work"].value', value: `${userName}@contoso.com` },
        { op: 'Add', value: { 'name.givenName': 'Barbie', [`${ENTERPRISE}:department`]: 'Sales' } },
      ],
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body).toMatchObject({
      active: false,
      name: { givenName: 'Barbie', familyName: 'Jensen' },
      emails: [{ value: `${userName}@contoso.com`, type: 'work', primary: true }, { type: 'home' }],
      [ENTERPRISE]: { manager: { value: manager }, department: 'Sales' },
      meta: { version: 'W/"2"' },
    });
    await waitFor('the patch in the Vault', async () => {
      const person = await identity(userName);
      return person?.attributes.department === 'Sales' && person.attributes.givenName === 'Barbie'
        ? true
        : undefined;
    });
    // Entra ID's "remove the manager".
    const removed = await scim('PATCH', `/Users/${id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Remove', path: `${ENTERPRISE}:manager` }],
    });
    expect(removed.body[ENTERPRISE]).not.toHaveProperty('manager');
  });

  it('takes Okta PATCH and PUT bodies: deactivate with a no-path replace, replace the whole user', async () => {
    const userName = uniqueName('okta');
    const created = await scim('POST', '/Users', userBody(userName));
    const id = String(created.body.id);
    const deactivated = await scim('PATCH', `/Users/${id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'replace', value: { id, active: false } }],
    });
    expect(deactivated.body).toMatchObject({ id, active: false });
    const replaced = await scim('PUT', `/Users/${id}`, {
      ...userBody(userName),
      id,
      name: { givenName: 'Babs', familyName: 'Jensen' },
      emails: [],
      active: true,
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({
      id,
      active: true,
      name: { givenName: 'Babs', familyName: 'Jensen' },
    });
    expect(replaced.body).not.toHaveProperty('emails');
    expect(replaced.body.meta?.version).toBe('W/"3"');
  });

  it('checks ETags: If-Match mismatch 412, a match applies, If-None-Match 304', async () => {
    const id = String((await scim('POST', '/Users', userBody(uniqueName('etag')))).body.id);
    const stale = await scim(
      'PATCH',
      `/Users/${id}`,
      { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'X' }] },
      { 'if-match': 'W/"7"' },
    );
    expect(stale.status).toBe(412);
    expect(stale.body).toMatchObject({ schemas: [ERROR], status: '412' });
    const fresh = await scim(
      'PATCH',
      `/Users/${id}`,
      { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'X' }] },
      { 'if-match': 'W/"1"' },
    );
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('etag')).toBe('W/"2"');
    expect((await scim('DELETE', `/Users/${id}`, undefined, { 'if-match': 'W/"1"' })).status).toBe(412);
    expect((await scim('GET', `/Users/${id}`, undefined, { 'if-none-match': 'W/"2"' })).status).toBe(304);
  });

  it('manages groups with Okta and Entra ID member PATCHes, and the group reaches the Vault with its members', async () => {
    const people = await Promise.all(
      ['g1', 'g2', 'g3'].map(async (name) => {
        const userName = uniqueName(name);
        return { userName, id: String((await scim('POST', '/Users', userBody(userName))).body.id) };
      }),
    );
    const [ada, bob, cy] = people as [(typeof people)[0], (typeof people)[0], (typeof people)[0]];
    const displayName = uniqueName('Tour Guides');
    const created = await scim('POST', '/Groups', {
      schemas: [GROUP],
      displayName,
      members: [{ value: ada.id }],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const groupId = String(created.body.id);
    // Okta: add members.
    await scim('PATCH', `/Groups/${groupId}`, {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'add', path: 'members', value: [{ value: bob.id, display: bob.userName }, { value: cy.id }] },
      ],
    });
    // Entra ID: remove one by filter.
    const removed = await scim('PATCH', `/Groups/${groupId}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Remove', path: `members[value eq "${bob.id}"]` }],
    });
    expect((removed.body.members as { value: string }[]).map((m) => m.value).sort()).toEqual(
      [ada.id, cy.id].sort(),
    );
    const byName = await scim(
      'GET',
      `/Groups?filter=${encodeURIComponent(`displayName eq "${displayName}"`)}&excludedAttributes=members`,
    );
    expect(byName.body.totalResults).toBe(1);
    expect(byName.body.Resources?.[0]).not.toHaveProperty('members');
    // A member that is no resource of this application is refused.
    const unknown = await scim('PATCH', `/Groups/${groupId}`, {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'add', path: 'members', value: [{ value: '00000000-0000-4000-8000-000000000000' }] },
      ],
    });
    expect(unknown.body).toMatchObject({ status: '400', scimType: 'invalidValue' });
    const vaultIds = await Promise.all(
      [ada, cy].map(async (person) => (await waitFor(person.userName, () => identity(person.userName))).id),
    );
    await waitFor('the group in the Vault with its members', async () => {
      const groups = await app.inject({
        method: 'GET',
        url: `/v1/groups?name=${encodeURIComponent(displayName)}`,
        headers: { authorization: `Bearer ${fixture.apiKey}` },
      });
      const group = groups.json<{ items: { id: string }[] }>().items[0];
      if (group === undefined) return undefined;
      const detail = await app.inject({
        method: 'GET',
        url: `/v1/groups/${group.id}`,
        headers: { authorization: `Bearer ${fixture.apiKey}` },
      });
      const members = detail.json<{ members: string[] }>().members;
      return JSON.stringify(members) === JSON.stringify(vaultIds.sort()) ? true : undefined;
    });
    // Deleting a user takes it out of the group.
    expect((await scim('DELETE', `/Users/${cy.id}`)).status).toBe(204);
    const after = await scim('GET', `/Groups/${groupId}`);
    expect((after.body.members as { value: string }[]).map((m) => m.value)).toEqual([ada.id]);
    expect((await scim('DELETE', `/Groups/${groupId}`)).status).toBe(204);
    expect((await scim('GET', `/Groups/${groupId}`)).status).toBe(404);
  });

  it('deletes a user: 204, then 404, and the person becomes a leaver in the Vault', async () => {
    const userName = uniqueName('leaver');
    const id = String((await scim('POST', '/Users', userBody(userName))).body.id);
    await waitFor('the user in the Vault', () => identity(userName));
    expect((await scim('DELETE', `/Users/${id}`)).status).toBe(204);
    const gone = await scim('GET', `/Users/${id}`);
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ schemas: [ERROR], status: '404' });
    await waitFor('a leaver', async () =>
      (await identity(userName))?.state === 'leaver' ? true : undefined,
    );
  });

  it('keeps each token to its own application and tenant: 401 for a wrong, revoked or missing token', async () => {
    const userName = uniqueName('private');
    const id = String((await scim('POST', '/Users', userBody(userName))).body.id);
    const other = scimClient(baseUrl, otherTenantToken);
    expect((await other('GET', `/Users/${id}`)).status).toBe(404);
    expect(
      (await other('GET', `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`)).body
        .totalResults,
    ).toBe(0);
    const entra = scimClient(baseUrl, entraToken);
    expect((await entra('GET', `/Users/${id}`)).status).toBe(404);
    expect((await entra('DELETE', `/Users/${id}`)).status).toBe(404);
    expect((await scim('GET', `/Users/${id}`)).status).toBe(200);
    for (const token of [
      '',
      'jsc_00000000000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      fixture.apiKey,
    ]) {
      const answer = await scimClient(baseUrl, token)('GET', '/Users');
      expect(answer.status).toBe(401);
      expect(answer.body).toMatchObject({ schemas: [ERROR], status: '401' });
    }
    // Revoked: 401 from then on; listed without its secret.
    const issued = await admin('POST', `/v1/applications/${apps.entra}/scim-tokens`);
    const token = String(issued.body.token);
    expect((await scimClient(baseUrl, token)('GET', '/Users')).status).toBe(200);
    expect(
      (await admin('DELETE', `/v1/applications/${apps.entra}/scim-tokens/${String(issued.body.id)}`)).status,
    ).toBe(204);
    expect((await scimClient(baseUrl, token)('GET', '/Users')).status).toBe(401);
    const listed = await admin('GET', `/v1/applications/${apps.entra}/scim-tokens`);
    expect(JSON.stringify(listed.body)).not.toContain(token.slice(-43));
    expect(listed.body.items).toContainEqual(
      expect.objectContaining({ id: issued.body.id, revokedAt: expect.any(String) as unknown }),
    );
    // Only scim applications get tokens.
    const refused = await admin('POST', `/v1/applications/${apps.hr}/scim-tokens`);
    expect(refused.status).toBe(400);
  });

  it('issues a token from the command line: `joinery scim token <application> --tenant T`, shown once', async () => {
    const cli = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [join(projectRoot, 'src/cli/main.ts'), ...args],
          { env: { ...process.env, DATABASE_URL: fixture.database.url, JOINERY_LOG_LEVEL: 'warn' } },
          (error, stdout, stderr) => {
            resolve({ code: error === null ? 0 : (error.code as number | null), stdout, stderr });
          },
        );
      });
    const issued = await cli(['scim', 'token', 'entra', '--tenant', fixture.tenantId, '--name', 'entra-id']);
    expect(issued.code, issued.stderr).toBe(0);
    const token = /^SCIM token\s+(jsc_\S+)$/m.exec(issued.stdout)?.[1];
    if (token === undefined) throw new Error(`no token in: ${issued.stdout}`);
    expect((await scimClient(baseUrl, token)('GET', '/Users')).status).toBe(200);
    const listed = await admin('GET', `/v1/applications/${apps.entra}/scim-tokens`);
    expect(listed.body.items).toContainEqual(expect.objectContaining({ name: 'entra-id', revokedAt: null }));

    const missing = await cli(['scim', 'token', 'nowhere', '--tenant', fixture.tenantId]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr.trim()).toMatch(/^joinery: error: application nowhere not found in tenant /);
  });

  it('refuses malformed input in the SCIM error shape: bad JSON, wrong types, missing userName, a huge body', async () => {
    const bad = await scim('POST', '/Users', '{"schemas": [');
    expect(bad.body).toMatchObject({ schemas: [ERROR], status: '400', scimType: 'invalidSyntax' });
    expect(
      (await scim('POST', '/Users', { schemas: [USER], userName: uniqueName('x'), active: 'perhaps' })).body,
    ).toMatchObject({ status: '400', scimType: 'invalidValue' });
    expect(
      (await scim('POST', '/Users', { schemas: [USER], displayName: 'no user name' })).body,
    ).toMatchObject({ status: '400', scimType: 'invalidValue' });
    expect((await scim('POST', '/Users', { userName: uniqueName('noschema') })).body).toMatchObject({
      status: '400',
      scimType: 'invalidSyntax',
    });
    const patch = await scim(
      'PATCH',
      `/Users/${String((await scim('POST', '/Users', userBody(uniqueName('p')))).body.id)}`,
      { schemas: [PATCH_OP], Operations: [{ op: 'remove' }] },
    );
    expect(patch.body).toMatchObject({ status: '400', scimType: 'noTarget' });
    const huge = await scim(
      'POST',
      '/Users',
      userBody(uniqueName('huge'), { title: 'x'.repeat(3 * 1024 * 1024) }),
    );
    expect(huge.status).toBe(413);
    expect(huge.body).toMatchObject({ schemas: [ERROR], status: '413' });
    expect((await scim('GET', '/Users/not-an-id')).status).toBe(404);
    expect((await scim('GET', '/Nothing')).body).toMatchObject({ schemas: [ERROR], status: '404' });
  });
});
