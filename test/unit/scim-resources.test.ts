// The SCIM server's pure core: bodies checked and normalised, PATCHes applied, resources flattened for the
// Import stage, filters refused with invalidFilter — no infrastructure.
import { describe, expect, it } from 'vitest';
import { parseFilter, filterSql } from '../../src/scim-server/scim-filter.ts';
import {
  applyPatch,
  importAttributes,
  normaliseResource,
  patchOperations,
} from '../../src/scim-server/scim-resources.ts';
import { SCHEMA } from '../../src/scim-server/scim-schemas.ts';

const user = (extra: Record<string, unknown> = {}) =>
  normaliseResource('User', {
    schemas: [SCHEMA.user, SCHEMA.enterprise],
    userName: 'bjensen',
    name: { givenName: 'Barbara', familyName: 'Jensen' },
    emails: [{ value: 'b@example.com', type: 'work', primary: true }],
    [SCHEMA.enterprise]: { employeeNumber: '701984' },
    ...extra,
  });

describe('SCIM resources', () => {
  it('takes attribute names in any case, drops read-only, write-only and empty values, and reads "False" as false', () => {
    const { data, userName } = user({
      ACTIVE: 'False',
      password: 'secret',
      id: 'x',
      groups: [{ value: 'g' }],
      title: '',
    });
    expect(userName).toBe('bjensen');
    expect(data).toEqual({
      schemas: [SCHEMA.user, SCHEMA.enterprise],
      userName: 'bjensen',
      name: { givenName: 'Barbara', familyName: 'Jensen' },
      emails: [{ value: 'b@example.com', type: 'work', primary: true }],
      [SCHEMA.enterprise]: { employeeNumber: '701984' },
      active: false,
    });
  });

  it('refuses a User without userName, a wrong type and a missing core schema, naming the attribute', () => {
    expect(() => normaliseResource('User', { schemas: [SCHEMA.user] })).toThrow(/userName: is required/);
    expect(() => user({ active: 3 })).toThrow(/active: must be true or false/);
    expect(() => normaliseResource('User', { userName: 'x' })).toThrow(/schemas: must list/);
  });

  it('applies an Entra ID PATCH: enterprise URN paths, a bare manager id, dotted no-path keys', () => {
    const operations = patchOperations(
      {
        schemas: [SCHEMA.patchOp],
        Operations: [
          { op: 'Add', path: `${SCHEMA.enterprise}:manager`, value: 'm-1' },
          { op: 'Replace', value: { 'name.givenName': 'Babs' } },
          { op: 'Replace', path: `${SCHEMA.user}:Active`, value: 'True' },
        ],
      },
      10,
    );
    const patched = applyPatch('User', user().data, operations);
    expect(patched.data).toMatchObject({
      active: true,
      name: { givenName: 'Babs', familyName: 'Jensen' },
      [SCHEMA.enterprise]: { employeeNumber: '701984', manager: { value: 'm-1' } },
    });
  });

  it('removes the members an Entra ID "Remove Members" names in its value, matched by value, and only those', () => {
    const group = normaliseResource('Group', {
      schemas: [SCHEMA.group],
      displayName: 'Tour Guides',
      members: [{ value: 'u-1', display: 'Ada' }, { value: 'u-2' }, { value: 'u-3' }],
    });
    const operations = patchOperations(
      {
        schemas: [SCHEMA.patchOp],
        Operations: [
          {
            op: 'Remove',
            path: 'members',
            value: [
              { $ref: null, value: 'u-1' },
              { $ref: null, value: 'u-3' },
              { $ref: null, value: 'not-a-member' },
            ],
          },
        ],
      },
      10,
    );
    expect(applyPatch('Group', group.data, operations).data.members).toEqual([{ value: 'u-2' }]);
  });

  it('removes the e-mail addresses a remove names by value from a user, and leaves the others', () => {
    const bjensen = user({
      emails: [
        { value: 'b@example.com', type: 'work', primary: true },
        { value: 'babs@jensen.org', type: 'home' },
        { value: 'old@example.com', type: 'other' },
      ],
    });
    const operations = patchOperations(
      {
        schemas: [SCHEMA.patchOp],
        Operations: [
          {
            op: 'remove',
            path: 'emails',
            value: [{ value: 'old@example.com' }, { value: 'babs@jensen.org' }],
          },
        ],
      },
      10,
    );
    expect(applyPatch('User', bjensen.data, operations).data.emails).toEqual([
      { value: 'b@example.com', type: 'work', primary: true },
    ]);
  });

  it('refuses a PatchOp without its schema, a remove without a path and too many operations', () => {
    expect(() => patchOperations({ Operations: [{ op: 'add', value: {} }] }, 10)).toThrow(/PatchOp/);
    expect(() => patchOperations({ schemas: [SCHEMA.patchOp], Operations: [{ op: 'remove' }] }, 10)).toThrow(
      /needs a path/,
    );
    const many = Array.from({ length: 3 }, () => ({ op: 'add', path: 'title', value: 'x' }));
    expect(() => patchOperations({ schemas: [SCHEMA.patchOp], Operations: many }, 2)).toThrow(/more than 2/);
  });

  it('flattens a user for the Import stage: sub-attributes dotted, values by type and primary, the enterprise extension', () => {
    expect(importAttributes({ id: 'u-1', type: 'User', data: user().data })).toEqual({
      id: 'u-1',
      userName: 'bjensen',
      'name.givenName': 'Barbara',
      'name.familyName': 'Jensen',
      emails: ['b@example.com'],
      'emails.primary': 'b@example.com',
      'emails.work': 'b@example.com',
      'enterprise.employeeNumber': '701984',
    });
  });
});

describe('SCIM filters', () => {
  it('refuses malformed filters and unknown attributes with invalidFilter', () => {
    for (const text of ['userName eq', 'userName eq "x" garbage', '(userName eq "x"'])
      expect(() => parseFilter(text, 100), text).toThrow(
        expect.objectContaining({ scimType: 'invalidFilter' }) as Error,
      );
    expect(() => parseFilter('userName eq "x"', 5)).toThrow(/longer than the 5/);
    expect(() => filterSql('User', parseFilter('nope eq "x"', 100))).toThrow(/unknown attribute "nope"/);
    expect(() => filterSql('User', parseFilter('emails[nope eq "x"]', 100))).toThrow(/not a sub-attribute/);
    expect(() => filterSql('User', parseFilter('active gt true', 100))).toThrow(/only eq and ne/);
  });
});
