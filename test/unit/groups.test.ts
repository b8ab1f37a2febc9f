// Groups, pure: member references, the group decision per target application, and the plan's group keys.
import { describe, expect, it } from 'vitest';
import { PlanInvalidError } from '../../kernel/errors.ts';
import { decideGroupExport, groupName, memberReferences } from '../../src/engine/group-outbound.ts';
import type { TargetState } from '../../src/engine/outbound.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';

/** A plan with a directory that has groups and a target that receives them; `change` breaks one line. */
function planText(change: (lines: string[]) => string[] = (lines) => lines): string {
  return change([
    'version: 1',
    'vault:',
    '  attributes: { employeeId: {} }',
    'applications:',
    '  - name: directory',
    '    type: active-directory',
    '    createsIdentities: true',
    '    objectClasses:',
    '      user: { attributes: { employeeID: {} } }',
    '      group: { kind: group, members: member, attributes: { cn: {}, member: { multiValued: true } } }',
    '    inbound: [{ vault: employeeId, from: employeeID }]',
    '  - name: ldap',
    '    type: ldap',
    '    objectClasses:',
    '      person: { attributes: { uid: {} } }',
    '      groupOfNames: { kind: group, members: member, attributes: { cn: { direction: both }, member: { multiValued: true, direction: out }, dn: { direction: out } } }',
    '    export:',
    '      groups:',
    '        objectClass: groupOfNames',
    '        from: [directory]',
    '        attributes:',
    '          cn: group.cn',
    '          dn: \'"cn=" + group.cn + ",ou=groups,dc=example,dc=org"\'',
  ]).join('\n');
}

function problemsOf(text: string): string[] {
  try {
    loadPlan(text, 'plan.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(PlanInvalidError);
    return (error as PlanInvalidError).problems.map((problem) => `${problem.path}: ${problem.message}`);
  }
  throw new Error('the plan was accepted');
}

const replace = (search: string, replacement: string) => (lines: string[]) => {
  const text = lines.join('\n');
  expect(text).toContain(search);
  return text.replace(search, replacement).split('\n');
};

describe('group plan keys', () => {
  it('accepts groups and a target receiving them, compiling the attribute expressions over the group', () => {
    const compiled = loadPlan(planText(), 'plan.yaml');
    const dn = compiled.expressions.get('applications[1].export.groups.attributes.dn');
    expect(dn?.({ group: { cn: 'staff' } })).toBe('cn=staff,ou=groups,dc=example,dc=org');
  });

  it('names the path of a group class without its members attribute', () => {
    expect(
      problemsOf(
        planText(
          replace(
            '{ kind: group, members: member, attributes: { cn: {},',
            '{ kind: group, attributes: { cn: {},',
          ),
        ),
      ),
    ).toEqual([
      'applications[0].objectClasses.group.members: object class "group" of kind group needs "members": the attribute holding its member references',
    ]);
  });

  it('names the path of a members attribute the class does not declare', () => {
    expect(
      problemsOf(
        planText(
          replace(
            'kind: group, members: member, attributes: { cn: {},',
            'kind: group, members: uniqueMember, attributes: { cn: {},',
          ),
        ),
      ),
    ).toEqual([
      'applications[0].objectClasses.group.members: unknown attribute "uniqueMember" of object class group (known: cn, member)',
    ]);
  });

  it('rejects members on a class that is not a group, and an unknown kind', () => {
    expect(
      problemsOf(
        planText(
          replace(
            'user: { attributes: { employeeID: {} } }',
            'user: { members: employeeID, attributes: { employeeID: {} } }',
          ),
        ),
      ),
    ).toEqual([
      'applications[0].objectClasses.user.members: "members" needs kind group (object class "user" is of kind user)',
    ]);
    const [unknownKind] = problemsOf(
      planText(replace('user: { attributes:', 'user: { kind: team, attributes:')),
    );
    expect(unknownKind).toMatch(/^applications\[0\]\.objectClasses\.user\.kind: /);
  });

  it('checks where groups are exported: the class, the source applications and the attributes', () => {
    expect(problemsOf(planText(replace('objectClass: groupOfNames', 'objectClass: person')))).toEqual([
      'applications[1].export.groups.objectClass: object class "person" of application ldap is of kind user; groups need kind group',
      'applications[1].export.groups.attributes.cn: unknown attribute "cn" of object class person (known: uid)',
      'applications[1].export.groups.attributes.dn: unknown attribute "dn" of object class person (known: uid)',
    ]);
    expect(problemsOf(planText(replace('from: [directory]', 'from: [directory, hr]')))).toEqual([
      'applications[1].export.groups.from[1]: unknown application "hr" (known: directory, ldap)',
    ]);
    const [noGroups] = problemsOf(
      planText(replace('group: { kind: group, members: member,', 'group: { kind: contact,')),
    );
    expect(noGroups).toBe(
      'applications[1].export.groups.from[0]: application directory declares no object class of kind group',
    );
    expect(problemsOf(planText(replace('cn: { direction: both }', 'cn: {}')))).toEqual([
      'applications[1].export.groups.attributes.cn: attribute "cn" of object class groupOfNames has direction in; this needs out or both',
    ]);
    const [badExpression] = problemsOf(planText(replace('cn: group.cn', 'cn: group.name')));
    expect(badExpression).toMatch(
      /^applications\[1\]\.export\.groups\.attributes\.cn: expression "group\.name" does not compile/,
    );
  });
});

describe('member references', () => {
  it('reads one value or a list, without blanks (the empty DN) or the same DN twice in another case', () => {
    expect(memberReferences(['uid=a,dc=x', '', 'UID=A,DC=X', 'uid=b,dc=x'])).toEqual([
      'uid=a,dc=x',
      'uid=b,dc=x',
    ]);
    expect(memberReferences('uid=a,dc=x')).toEqual(['uid=a,dc=x']);
    expect(memberReferences(null)).toEqual([]);
    expect(memberReferences(['uid=a,dc=x', `uid=${'x'.repeat(2048)}`])).toEqual(['uid=a,dc=x']);
    expect(memberReferences(undefined)).toEqual([]);
  });

  it('names a group by cn, name or displayName, else by its external id', () => {
    expect(groupName({ cn: ['Staff'] }, 'g-1')).toBe('Staff');
    expect(groupName({ displayName: 'Sales' }, 'g-1')).toBe('Sales');
    expect(groupName({}, 'g-1')).toBe('g-1');
  });
});

describe('the group decision for one target application', () => {
  const provisioned = (members: string[], attributes = { displayName: 'Staff' }): TargetState => ({
    objectClass: 'Group',
    externalId: 'grp-1',
    desired: { ...attributes, members },
    state: 'provisioned',
    enabled: true,
  });
  const decide = (desired: Parameters<typeof decideGroupExport>[0]['desired'], previous?: TargetState) =>
    decideGroupExport({ desired, previous, objectClass: 'Group', membersAttribute: 'members' });

  it('creates a group not yet there with its members, and remembers them', () => {
    const { operations, next } = decide({
      attributes: { displayName: 'Staff', description: null },
      members: ['b', 'a'],
    });
    expect(operations).toEqual([
      {
        operation: 'create',
        externalId: null,
        attributes: { displayName: 'Staff' },
        members: { add: ['a', 'b'], remove: [] },
      },
    ]);
    expect(next).toMatchObject({
      state: 'provisioned',
      desired: { displayName: 'Staff', members: ['a', 'b'] },
    });
  });

  it('updates only the members that differ, and only the attributes that changed', () => {
    expect(
      decide({ attributes: { displayName: 'Staff' }, members: ['a', 'b'] }, provisioned(['a', 'b', 'c']))
        .operations,
    ).toEqual([{ operation: 'update', externalId: 'grp-1', members: { add: [], remove: ['c'] } }]);
    expect(
      decide({ attributes: { displayName: 'All staff' }, members: ['a', 'd'] }, provisioned(['a', 'b']))
        .operations,
    ).toEqual([
      {
        operation: 'update',
        externalId: 'grp-1',
        attributes: { displayName: 'All staff' },
        members: { add: ['d'], remove: ['b'] },
      },
    ]);
  });

  it('decides nothing when the group is as exported (DNs compared without case)', () => {
    const previous = provisioned(['uid=a,dc=x']);
    const decision = decide({ attributes: { displayName: 'Staff' }, members: ['UID=A,DC=X'] }, previous);
    expect(decision.operations).toEqual([]);
    expect(decision.next).toBe(previous);
  });

  it('deletes the group once its source is gone, and nothing when it was never exported', () => {
    expect(decide(undefined, provisioned(['a']))).toMatchObject({
      operations: [{ operation: 'delete', externalId: 'grp-1' }],
      next: { state: 'deprovisioned' },
    });
    expect(decide(undefined, undefined)).toEqual({ operations: [], next: undefined });
  });

  it('in sandbox, reports what it would do and marks the decision as a report', () => {
    const decision = decideGroupExport({
      desired: { attributes: { displayName: 'Staff' }, members: ['a'] },
      previous: undefined,
      objectClass: 'Group',
      membersAttribute: 'members',
      sandbox: true,
    });
    expect(decision.operations).toMatchObject([{ operation: 'create', members: { add: ['a'] } }]);
    expect(decision.next).toMatchObject({ state: 'provisioned', sandbox: true });
  });

  it('out of sandbox, counts a reported decision for nothing: creates the group, or updates its copy there', () => {
    const reported = { ...provisioned(['a', 'b']), externalId: null, sandbox: true };
    const live = (copy?: { externalId: string; attributes: Record<string, string | string[]> }) =>
      decideGroupExport({
        desired: { attributes: { displayName: 'Staff' }, members: ['a', 'b'] },
        previous: reported,
        copy,
        objectClass: 'Group',
        membersAttribute: 'members',
      });
    const created = live();
    expect(created.operations).toEqual([
      {
        operation: 'create',
        externalId: null,
        attributes: { displayName: 'Staff' },
        members: { add: ['a', 'b'], remove: [] },
      },
    ]);
    expect(created.next?.sandbox).toBeUndefined();
    // A copy Joinery created before the sandbox: compared with what it holds there.
    const updated = live({ externalId: 'grp-9', attributes: { displayName: 'Staff', members: ['b', 'c'] } });
    expect(updated.operations).toEqual([
      { operation: 'update', externalId: 'grp-9', members: { add: ['a'], remove: ['c'] } },
    ]);
    expect(updated.next).toMatchObject({ externalId: 'grp-9', desired: { members: ['a', 'b'] } });
  });

  it('leaves a decision that counts alone when a copy is there too (the copy lags behind the exports)', () => {
    const previous = provisioned(['a']);
    const decision = decideGroupExport({
      desired: { attributes: { displayName: 'Staff' }, members: ['a'] },
      previous,
      copy: { externalId: 'grp-1', attributes: { members: [] } },
      objectClass: 'Group',
      membersAttribute: 'members',
    });
    expect(decision).toEqual({ operations: [], next: previous });
  });
});
