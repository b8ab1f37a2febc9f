// The SCIM connector's pure parts: the attribute mapping (paths, resources, PATCH operations, reading back,
// match filters, member changes per vendor quirk), the retry decisions, and secret references.
import { describe, expect, it } from 'vitest';
import { resolveConnectorSecret } from '../../src/connectors/connector-secrets.ts';
import { scimSettingsProblems } from '../../src/connectors/scim/scim-settings.ts';
import { retryAfterMs, retryDecision, defaultRetry } from '../../src/connectors/scim/scim-client.ts';
import {
  defaultUserMapping,
  enterpriseSchema,
  fromScimResource,
  mappingFor,
  matchFilter,
  memberPatches,
  parseScimPath,
  toPatchOperations,
  toScimResource,
  userSchema,
} from '../../src/connectors/scim/scim-mapping.ts';

const declared = [
  'userName',
  'givenName',
  'familyName',
  'email',
  'active',
  'employeeNumber',
  'manager',
  'title',
];
const mapping = mappingFor(defaultUserMapping, declared, { title: 'title' });

describe('SCIM attribute mapping', () => {
  it('parses core, sub-attribute, filtered and extension paths', () => {
    expect(parseScimPath('name.givenName')).toMatchObject({
      schema: null,
      attribute: 'name',
      sub: 'givenName',
    });
    expect(parseScimPath('emails[type eq "work"].value')).toMatchObject({
      attribute: 'emails',
      filter: { attribute: 'type', value: 'work' },
      sub: 'value',
    });
    expect(parseScimPath(`${enterpriseSchema}:manager.value`)).toMatchObject({
      schema: enterpriseSchema,
      attribute: 'manager',
      sub: 'value',
    });
    const problem = (text: string) => {
      const parsed = parseScimPath(text);
      return 'problem' in parsed ? parsed.problem : undefined;
    };
    expect(problem('emails[type eq "work"]')).toContain('.value');
    expect(problem('name..x')).toContain('not a SCIM attribute path');
  });

  it('builds a user with the enterprise extension, leaving out nulls and unmapped attributes', () => {
    const resource = toScimResource(userSchema, mapping, {
      userName: 'ada@example.org',
      givenName: 'Ada',
      familyName: null,
      email: 'ada@example.org',
      active: true,
      employeeNumber: '42',
      manager: 'm-1',
      title: 'Countess',
      costCentre: 'CC-1',
    });
    expect(resource).toEqual({
      schemas: [userSchema, enterpriseSchema],
      userName: 'ada@example.org',
      name: { givenName: 'Ada' },
      emails: [{ type: 'work', value: 'ada@example.org', primary: true }],
      active: true,
      title: 'Countess',
      [enterpriseSchema]: { employeeNumber: '42', manager: { value: 'm-1' } },
    });
  });

  it('patches each changed value, removes each null, and adds a filtered element a resource lacks', () => {
    expect(
      toPatchOperations(mapping, { givenName: 'Augusta', email: 'a@x.org', employeeNumber: null }),
    ).toEqual([
      { op: 'replace', path: 'name.givenName', value: 'Augusta' },
      { op: 'replace', path: 'emails[type eq "work"].value', value: 'a@x.org' },
      { op: 'remove', path: `${enterpriseSchema}:employeeNumber` },
    ]);
    expect(
      toPatchOperations(mapping, { email: 'a@x.org', givenName: 'A' }, { missingElements: true }),
    ).toEqual([
      { op: 'add', path: 'emails', value: [{ type: 'work', value: 'a@x.org' }] },
      { op: 'replace', path: 'name.givenName', value: 'A' },
    ]);
  });

  it('reads a resource back into the attributes it maps', () => {
    const resource = toScimResource(userSchema, mapping, {
      userName: 'ada',
      email: 'a@x.org',
      manager: 'm-1',
    });
    expect(fromScimResource(mapping, { ...resource, id: 'u-1', meta: {} })).toEqual({
      userName: 'ada',
      email: 'a@x.org',
      manager: 'm-1',
    });
  });

  it('quotes values in a match filter, and matches nothing when a value is missing', () => {
    expect(matchFilter('userName eq "{userName}"', { userName: 'o"brien\\x' })).toBe(
      'userName eq "o\\"brien\\\\x"',
    );
    expect(matchFilter('userName eq "{userName}"', { givenName: 'Ada' })).toBeNull();
  });

  it('changes group members as each vendor quirk wants', () => {
    const change = { add: ['u-3', 'u-4'], remove: ['u-1'] };
    expect(memberPatches('patch', change, null)).toEqual([
      { op: 'add', path: 'members', value: [{ value: 'u-3' }, { value: 'u-4' }] },
      { op: 'remove', path: 'members[value eq "u-1"]' },
    ]);
    expect(memberPatches('patch-one-per-operation', change, null)).toEqual([
      { op: 'add', path: 'members', value: [{ value: 'u-3' }] },
      { op: 'add', path: 'members', value: [{ value: 'u-4' }] },
      { op: 'remove', path: 'members[value eq "u-1"]' },
    ]);
    expect(memberPatches('replace', change, ['u-1', 'u-2', 'u-3'])).toEqual([
      { op: 'replace', path: 'members', value: [{ value: 'u-2' }, { value: 'u-3' }, { value: 'u-4' }] },
    ]);
  });
});

describe('SCIM retry decisions', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('waits as a 429 Retry-After says, in seconds or as a date', () => {
    expect(retryDecision({ status: 429, retryAfter: '2' }, 1, defaultRetry, now)).toEqual({
      retry: true,
      delayMs: 2000,
    });
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
  });

  it('backs off on a 5xx and a broken connection, within the ceiling', () => {
    for (const status of [500, 503, null]) {
      const decision = retryDecision({ status, retryAfter: null }, 2, defaultRetry, now);
      expect(decision.retry).toBe(true);
      if (decision.retry) {
        expect(decision.delayMs).toBeGreaterThanOrEqual(defaultRetry.policy.initialDelayMs);
        expect(decision.delayMs).toBeLessThanOrEqual(defaultRetry.policy.initialDelayMs * 2);
      }
    }
  });

  it('gives a retriable failure back to the export queue once tries are spent or the wait is too long', () => {
    expect(
      retryDecision({ status: 503, retryAfter: null }, defaultRetry.attempts, defaultRetry, now),
    ).toEqual({
      retry: false,
      retriable: true,
    });
    expect(retryDecision({ status: 429, retryAfter: '3600' }, 1, defaultRetry, now)).toEqual({
      retry: false,
      retriable: true,
    });
  });

  it('never retries a refusal', () => {
    for (const status of [400, 403, 404, 409])
      expect(retryDecision({ status, retryAfter: null }, 1, defaultRetry, now)).toEqual({
        retry: false,
        retriable: false,
      });
  });
});

describe('connector secrets', () => {
  it('reads env:NAME from the environment given, and says which variable is missing', () => {
    expect(resolveConnectorSecret('env:SCIM_TOKEN', { SCIM_TOKEN: 's3cret' })).toBe('s3cret');
    expect(() => resolveConnectorSecret('env:SCIM_TOKEN', {})).toThrow(
      "the environment variable SCIM_TOKEN (secret env:SCIM_TOKEN) is not set in the engine's environment",
    );
    expect(() => resolveConnectorSecret('s3cret', { s3cret: 'x' })).toThrow('is not env:NAME');
  });
});

describe('scim settings in a plan', () => {
  const application = (scim: Record<string, unknown>) =>
    ({
      name: 'slack',
      type: 'scim',
      objectClasses: { user: { attributes: { userName: {}, mail: {} } } },
      scim,
    }) as unknown as Parameters<typeof scimSettingsProblems>[0];

  it('names what cannot work: a token sent in clear, two kinds of auth, an unknown attribute, a bad path', () => {
    const problems = scimSettingsProblems(
      application({
        baseUrl: 'http://scim.example.com/v2',
        auth: {
          bearer: 'env:T',
          oauth2: { tokenUrl: 'https://x/token', clientId: 'c', clientSecret: 'env:S' },
        },
        users: {
          attributes: { title: 'title', mail: 'emails[type eq "work"]' },
          match: 'userName eq "{login}"',
        },
      }),
    );
    expect(problems.map((problem) => [problem.path.join('.'), problem.message])).toEqual([
      ['baseUrl', expect.stringContaining('must be https (http only on loopback)')],
      ['auth', 'name exactly one of bearer (env:NAME) and oauth2'],
      ['users.attributes.title', expect.stringContaining('"title" is not an attribute of object class user')],
      ['users.attributes.mail', expect.stringContaining('name the sub-attribute written')],
      ['users.match', expect.stringContaining('{login} is not an attribute of object class user')],
    ]);
  });

  it('accepts https, or http on loopback, with one kind of auth', () => {
    expect(
      scimSettingsProblems(
        application({ baseUrl: 'http://127.0.0.1:8080/scim/v2', auth: { bearer: 'env:T' } }),
      ),
    ).toEqual([]);
  });
});
