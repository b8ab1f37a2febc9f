// Joinery's SCIM 2.0 server walked through the identity providers' published test lists (issue 19), on the
// real engine, Kafka and PostgreSQL: Okta's "SCIM 2.0 Spec Test" (the Runscope suite of developer.okta.com's
// "Test your SCIM API") and the requests Microsoft Entra ID documents in "Develop and plan provisioning for a
// SCIM endpoint" (User Operations, Group Operations). One `it` per step of the list, in its order and named
// as the list names it; later steps use the ids earlier ones got. The hosted runners need a public URL, so
// the requests are played here, with the providers' headers and body shapes.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName } from '../support/factories.ts';
import {
  SCIM,
  scimClient,
  startScimService,
  type ScimClient,
  type ScimService,
} from '../support/scim-service.ts';
import { waitFor } from '../support/streams.ts';

const planSource = [
  'version: 1',
  'vault:',
  '  attributes: { userName: {}, givenName: {}, familyName: {}, email: {} }',
  'applications:',
  '  - name: okta',
  '    type: scim',
  '    createsIdentities: true',
  '    objectClasses:',
  '      user: { attributes: { userName: {}, name.givenName: {}, name.familyName: {}, emails.work: {}, active: {} } }',
  '      group: { kind: group, members: members, attributes: { displayName: {}, members: {} } }',
  '    inbound:',
  '      - { vault: userName, from: userName, authority: 100 }',
  '      - { vault: givenName, from: name.givenName, authority: 100 }',
  '      - { vault: familyName, from: name.familyName, authority: 100 }',
  '      - { vault: email, from: emails.work, authority: 100 }',
  '    joining: [{ name: user name, all: [{ source: userName, vault: userName }] }]',
  '  - name: entra',
  '    type: scim',
  '    objectClasses:',
  '      user: { attributes: { userName: {}, name.familyName: {}, emails.work: {}, active: {} } }',
  '      group: { kind: group, members: members, attributes: { displayName: {}, members: {} } }',
].join('\n');

/** A filter query string, encoded as the providers send it. */
const filter = (expression: string) => `filter=${encodeURIComponent(expression)}`;

let service: ScimService;

beforeAll(async () => {
  service = await startScimService(planSource);
}, 60_000);
afterAll(async () => {
  await service.close();
});

describe('Okta "SCIM 2.0 Spec Test" (Runscope): Okta SCIM Integration provisions into Joinery', () => {
  let okta: ScimClient;
  /** What the list calls ISVUserid and the user's values, read by its first step. */
  let existing: { id: string; userName: string; familyName: string; givenName: string; email: string };
  const randomEmail = `${uniqueName('okta')}@example.com`.toLowerCase();
  const created = { id: '', givenName: 'Dolores', familyName: 'Abernathy' };
  const createBody = {
    schemas: [SCIM.user],
    userName: randomEmail,
    name: { givenName: created.givenName, familyName: created.familyName },
    emails: [{ primary: true, value: randomEmail, type: 'work' }],
    displayName: `${created.givenName} ${created.familyName}`,
    locale: 'en-US',
    externalId: randomUUID(),
    groups: [],
    password: 'Sw0rdf1sh!',
    active: true,
  };

  beforeAll(async () => {
    // Okta's headers on every request, GETs included.
    okta = scimClient(service.baseUrl, (await service.issueToken('okta', 'okta')).token, {
      'content-type': 'application/scim+json; charset=utf-8',
      accept: 'application/scim+json',
      'accept-charset': 'utf-8',
      'user-agent': 'OKTA SCIM Integration',
    });
    // The list starts against an application that already has users and groups (its first step reads
    // Resources[0]): one of each, as a previous provisioning would have left.
    const userName = `${uniqueName('ann.existing')}@example.com`;
    const seeded = await okta('POST', '/Users', {
      schemas: [SCIM.user],
      userName,
      name: { givenName: 'Ann', familyName: 'Existing' },
      emails: [{ primary: true, value: userName, type: 'work' }],
      active: true,
    });
    expect(seeded.status, JSON.stringify(seeded.body)).toBe(201);
    const group = await okta('POST', '/Groups', {
      schemas: [SCIM.group],
      displayName: uniqueName('Okta Everyone'),
      members: [{ value: seeded.body.id }],
    });
    expect(group.status, JSON.stringify(group.body)).toBe(201);
  });

  it('Required Test: Test Users endpoint', async () => {
    const answer = await okta('GET', '/Users?count=1&startIndex=1');
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^application\/scim\+json/);
    expect(answer.body.schemas).toContain(SCIM.listResponse);
    expect(answer.body).toMatchObject({
      itemsPerPage: 1,
      startIndex: 1,
      totalResults: expect.any(Number) as unknown,
    });
    const first = answer.body.Resources?.[0] as
      | {
          id: string;
          userName: string;
          active: boolean;
          name: Record<string, string>;
          emails: { value: string }[];
        }
      | undefined;
    expect(first).toMatchObject({
      id: expect.any(String) as unknown,
      userName: expect.any(String) as unknown,
      active: true,
      name: { familyName: expect.any(String) as unknown, givenName: expect.any(String) as unknown },
      emails: [{ value: expect.any(String) as unknown }],
    });
    if (first === undefined) throw new Error('no user in the first page');
    existing = {
      id: first.id,
      userName: first.userName,
      familyName: first.name.familyName ?? '',
      givenName: first.name.givenName ?? '',
      email: first.emails[0]?.value ?? '',
    };
  });

  it('Required Test: Get Users/{{id}}', async () => {
    const answer = await okta('GET', `/Users/${existing.id}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      id: existing.id,
      userName: existing.userName,
      active: true,
      name: { familyName: existing.familyName, givenName: existing.givenName },
      emails: [{ value: existing.email }],
    });
  });

  it('Required Test: Test invalid User by username', async () => {
    const answer = await okta(
      'GET',
      `/Users?${filter(`userName eq "${uniqueName('invalid')}@example.com"`)}`,
    );
    expect(answer.status).toBe(200);
    expect(answer.body.schemas).toContain(SCIM.listResponse);
    expect(answer.body.totalResults).toBe(0);
  });

  it('Required Test: Test invalid User by ID', async () => {
    // Okta's list uses an id that is no UUID at all; Joinery's ids are, and any other is simply not found.
    for (const id of ['010101001010101010', randomUUID()]) {
      const answer = await okta('GET', `/Users/${id}`);
      expect(answer.status, id).toBe(404);
      expect(answer.body.schemas, id).toContain(SCIM.error);
      expect(answer.body, id).toMatchObject({ status: '404', detail: expect.any(String) as unknown });
    }
  });

  it("Required Test: Make sure random user doesn't exist", async () => {
    const answer = await okta('GET', `/Users?${filter(`userName eq "${randomEmail}"`)}`);
    expect(answer.status).toBe(200);
    expect(answer.body.schemas).toContain(SCIM.listResponse);
    expect(answer.body.totalResults).toBe(0);
  });

  it('Required Test: Create Okta user with realistic values', async () => {
    const answer = await okta('POST', '/Users', createBody);
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    expect(answer.body).toMatchObject({
      id: expect.any(String) as unknown,
      userName: randomEmail,
      active: true,
      name: { givenName: created.givenName, familyName: created.familyName },
      emails: [{ primary: true, value: randomEmail, type: 'work' }],
    });
    // Okta sends a password; Joinery takes the user but never stores nor answers it (docs/scim-server.md).
    expect(answer.body).not.toHaveProperty('password');
    created.id = String(answer.body.id);
  });

  it('Required Test: Verify that user was created', async () => {
    const answer = await okta('GET', `/Users/${created.id}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      id: created.id,
      userName: randomEmail,
      name: { givenName: created.givenName, familyName: created.familyName },
    });
    // And it went on to the Vault, as a user pushed from Okta does.
    const person = await waitFor('the Okta user in the Vault', () => service.identity(randomEmail));
    expect(person.attributes).toMatchObject({ givenName: created.givenName, familyName: created.familyName });
  });

  it('Required Test: Expect failure when recreating user with same values', async () => {
    const answer = await okta('POST', '/Users', createBody);
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ schemas: [SCIM.error], status: '409', scimType: 'uniqueness' });
  });

  it('Required Test: Username Case Sensitivity Check', async () => {
    // The list asks only for a 200; Joinery also finds the user, userName being caseExact: false (RFC 7643
    // §4.1.1) as Okta expects, where a case-sensitive server would answer none.
    const answer = await okta('GET', `/Users?${filter(`userName eq "${randomEmail.toUpperCase()}"`)}`);
    expect(answer.status).toBe(200);
    expect(answer.body.totalResults).toBe(1);
    expect(answer.body.Resources?.[0]).toMatchObject({ id: created.id, userName: randomEmail });
  });

  it('Optional Test: Verify Groups endpoint', async () => {
    const answer = await okta('GET', '/Groups?count=1&startIndex=1');
    expect(answer.status).toBe(200);
    expect(answer.body.schemas).toContain(SCIM.listResponse);
    expect(answer.body).toMatchObject({
      itemsPerPage: 1,
      startIndex: 1,
      totalResults: expect.any(Number) as unknown,
    });
    expect(answer.body.Resources?.[0]).toMatchObject({
      id: expect.any(String) as unknown,
      displayName: expect.any(String) as unknown,
    });
  });
});

describe('Microsoft Entra ID provisioning requests ("Build a SCIM endpoint"): User Operations and Group Operations', () => {
  let entra: ScimClient;
  const AD_GROUP = 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group';
  const userName = `Test_User_${randomUUID()}@testuser.com`;
  const renamed = `${randomUUID()}@testuser.com`;
  let userId = '';
  /** Users Entra ID provisioned before it pushes groups: the members of Update Group. */
  const members: string[] = [];
  const groupName = `displayName_${randomUUID()}`;
  let groupId = '';
  const replaceOp = (operations: Record<string, unknown>[]) => ({
    schemas: [SCIM.patchOp],
    Operations: operations,
  });

  beforeAll(async () => {
    entra = scimClient(service.baseUrl, (await service.issueToken('entra', 'entra-id')).token);
    for (const name of ['Test_Member_1', 'Test_Member_2']) {
      const member = await entra('POST', '/Users', {
        schemas: [SCIM.user],
        userName: `${name}_${randomUUID()}@testuser.com`,
        active: true,
      });
      expect(member.status, JSON.stringify(member.body)).toBe(201);
      members.push(String(member.body.id));
    }
  });

  describe('User Operations', () => {
    it('Create User', async () => {
      const answer = await entra('POST', '/Users', {
        schemas: [SCIM.user, SCIM.enterprise],
        externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
        userName,
        active: true,
        emails: [{ primary: true, type: 'work', value: userName }],
        meta: { resourceType: 'User' },
        name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
        roles: [],
      });
      expect(answer.status, JSON.stringify(answer.body)).toBe(201);
      expect(answer.body).toMatchObject({
        id: expect.any(String) as unknown,
        externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
        userName,
        active: true,
        emails: [{ primary: true, type: 'work', value: userName }],
        name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
        meta: {
          resourceType: 'User',
          created: expect.any(String) as unknown,
          lastModified: expect.any(String) as unknown,
        },
      });
      userId = String(answer.body.id);
      expect(answer.body.meta).toMatchObject({ location: `${service.baseUrl}/Users/${userId}` });
    });

    it('Get User', async () => {
      const answer = await entra('GET', `/Users/${userId}`);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({
        id: userId,
        userName,
        active: true,
        name: { familyName: 'familyName', givenName: 'givenName' },
      });
    });

    it('Get User by query', async () => {
      const answer = await entra('GET', `/Users?${filter(`userName eq "${userName}"`)}`);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({
        schemas: [SCIM.listResponse],
        totalResults: 1,
        itemsPerPage: 1,
        startIndex: 1,
      });
      expect(answer.body.Resources?.[0]).toMatchObject({ id: userId, userName });
    });

    it('Get User by query - Zero results', async () => {
      const answer = await entra('GET', `/Users?${filter('userName eq "non-existent user"')}`);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({
        schemas: [SCIM.listResponse],
        totalResults: 0,
        Resources: [],
        startIndex: 1,
        itemsPerPage: 0,
      });
    });

    it('Update User [Multi-valued properties]', async () => {
      const answer = await entra(
        'PATCH',
        `/Users/${userId}`,
        replaceOp([
          { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@microsoft.com' },
          { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
        ]),
      );
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.body).toMatchObject({
        id: userId,
        emails: [{ primary: true, type: 'work', value: 'updatedEmail@microsoft.com' }],
        name: { familyName: 'updatedFamilyName', givenName: 'givenName' },
      });
    });

    it('Update User [Single-valued properties]', async () => {
      const answer = await entra(
        'PATCH',
        `/Users/${userId}`,
        replaceOp([{ op: 'Replace', path: 'userName', value: renamed }]),
      );
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.body).toMatchObject({ id: userId, userName: renamed });
      const byNewName = await entra('GET', `/Users?${filter(`userName eq "${renamed}"`)}`);
      expect(byNewName.body.Resources?.[0]).toMatchObject({ id: userId });
    });

    it('Disable User', async () => {
      const answer = await entra(
        'PATCH',
        `/Users/${userId}`,
        replaceOp([{ op: 'Replace', path: 'active', value: 'False' }]),
      );
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.body).toMatchObject({ id: userId, active: false });
      expect((await entra('GET', `/Users/${userId}`)).body.active).toBe(false);
    });

    it('Delete User', async () => {
      const answer = await entra('DELETE', `/Users/${userId}`);
      expect(answer.status).toBe(204);
      expect(answer.body).toEqual({});
      expect((await entra('GET', `/Users/${userId}`)).status).toBe(404);
    });
  });

  describe('Group Operations', () => {
    it('Create Group', async () => {
      const answer = await entra('POST', '/Groups', {
        schemas: [SCIM.group, AD_GROUP],
        externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159',
        displayName: groupName,
        meta: { resourceType: 'Group' },
      });
      expect(answer.status, JSON.stringify(answer.body)).toBe(201);
      expect(answer.body).toMatchObject({
        id: expect.any(String) as unknown,
        externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159',
        displayName: groupName,
        meta: { resourceType: 'Group', created: expect.any(String) as unknown },
      });
      groupId = String(answer.body.id);
    });

    it('Get Group', async () => {
      const answer = await entra('GET', `/Groups/${groupId}?excludedAttributes=members`);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ id: groupId, displayName: groupName });
      expect(answer.body).not.toHaveProperty('members');
    });

    it('Get Group by displayName', async () => {
      const answer = await entra(
        'GET',
        `/Groups?excludedAttributes=members&${filter(`displayName eq "${groupName}"`)}`,
      );
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({
        schemas: [SCIM.listResponse],
        totalResults: 1,
        itemsPerPage: 1,
        startIndex: 1,
      });
      expect(answer.body.Resources?.[0]).toMatchObject({ id: groupId, displayName: groupName });
      expect(answer.body.Resources?.[0]).not.toHaveProperty('members');
    });

    // Entra ID documents 204 No Content for a group PATCH; Joinery answers 200 with the group, which RFC
    // 7644 §3.5.2 allows as well and Entra ID takes (any 2xx is success).
    it('Update Group [Non-member attributes]', async () => {
      const answer = await entra(
        'PATCH',
        `/Groups/${groupId}`,
        replaceOp([{ op: 'Replace', path: 'displayName', value: `${groupName}updatedDisplayName` }]),
      );
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.body).toMatchObject({ id: groupId, displayName: `${groupName}updatedDisplayName` });
    });

    it('Update Group [Add Members]', async () => {
      const answer = await entra(
        'PATCH',
        `/Groups/${groupId}`,
        replaceOp([{ op: 'Add', path: 'members', value: members.map((value) => ({ $ref: null, value })) }]),
      );
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      const now = await entra('GET', `/Groups/${groupId}`);
      expect((now.body.members as { value: string }[]).map((member) => member.value).sort()).toEqual(
        [...members].sort(),
      );
    });

    it('Update Group [Remove Members]', async () => {
      const [gone, stays] = members;
      const answer = await entra(
        'PATCH',
        `/Groups/${groupId}`,
        replaceOp([{ op: 'Remove', path: 'members', value: [{ $ref: null, value: gone }] }]),
      );
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      // Only the member named goes; the others stay.
      const now = await entra('GET', `/Groups/${groupId}`);
      expect((now.body.members as { value: string }[]).map((member) => member.value)).toEqual([stays]);
    });

    it('Delete Group', async () => {
      const answer = await entra('DELETE', `/Groups/${groupId}`);
      expect(answer.status).toBe(204);
      expect((await entra('GET', `/Groups/${groupId}`)).status).toBe(404);
    });
  });
});
