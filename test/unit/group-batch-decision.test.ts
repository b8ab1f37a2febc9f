// Groups, pure: a batch of Vault groups decided in every application that receives them, from the rows
// group-exports.ts reads — the members' objects there, what was decided before, the copies Joinery made.
import { describe, expect, it } from 'vitest';
import {
  decideGroupExports,
  indexMemberObjects,
  pairsWithoutDecision,
  type MemberObjectRow,
  type VaultGroupRow,
} from '../../src/engine/group-outbound.ts';
import { groupTargetsOf } from '../../src/engine/group-plan.ts';
import type { PlanInForce } from '../../src/engine/plan-cache.ts';
import type { TargetState } from '../../src/engine/outbound.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';

const DIRECTORY = '00000000-0000-4000-8000-00000000000d';
const LDAP = '00000000-0000-4000-8000-00000000000e';

/** A directory whose groups an LDAP server receives (members by DN), in the given mode. */
function planInForce(mode: 'live' | 'sandbox'): PlanInForce {
  const compiled = loadPlan(
    [
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
      `    mode: ${mode}`,
      '    objectClasses:',
      '      person: { attributes: { uid: {} } }',
      '      groupOfNames: { kind: group, members: member, attributes: { cn: { direction: both }, member: { multiValued: true, direction: out } } }',
      '    export:',
      '      groups:',
      '        objectClass: groupOfNames',
      '        from: [directory]',
      '        attributes:',
      '          cn: group.cn',
    ].join('\n'),
    'plan.yaml',
  );
  const [directory, ldap] = compiled.plan.applications;
  if (directory === undefined || ldap === undefined) throw new Error('the plan has two applications');
  return {
    version: 1,
    compiled,
    applications: new Map([
      [DIRECTORY, { plan: directory, index: 0 }],
      [LDAP, { plan: ldap, index: 1 }],
    ]),
    inboundDigests: new Map(),
    joinAttributes: [],
    sensitive: new Map(),
    sensitiveAttributes: new Set(),
  };
}

const group = (overrides: Partial<VaultGroupRow> = {}): VaultGroupRow => ({
  id: 'group-1',
  tenant_id: 'tenant-1',
  application_id: DIRECTORY,
  object_class: 'group',
  attributes: { cn: 'staff' },
  deleted: false,
  ...overrides,
});

const memberObject = (overrides: Partial<MemberObjectRow> = {}): MemberObjectRow => ({
  identity_id: 'ada',
  application_id: LDAP,
  external_id: 'ldap-ada',
  dn: 'uid=ada,dc=example,dc=org',
  deleted: false,
  ...overrides,
});

function decide(input: {
  plan?: PlanInForce;
  groups?: VaultGroupRow[];
  members?: string[];
  objects?: MemberObjectRow[];
  previous?: Map<string, TargetState>;
}) {
  const plan = input.plan ?? planInForce('live');
  const groups = input.groups ?? [group()];
  return decideGroupExports({
    groups,
    targetsByGroup: new Map(
      groups.map((row) => [row.id, { plan, targets: groupTargetsOf(plan, row.application_id) }]),
    ),
    membersOf: new Map([['group-1', input.members ?? ['ada', 'grace']]]),
    memberObjects: indexMemberObjects(input.objects ?? [memberObject()]),
    previous: input.previous ?? new Map<string, TargetState>(),
    copies: new Map(),
  });
}

describe('a batch of groups decided in the applications that receive them', () => {
  it('creates a new group with the members that have an object in the target, named as the target names them', () => {
    const { exports, states } = decide({});
    expect(exports).toEqual([
      {
        tenantId: 'tenant-1',
        applicationId: LDAP,
        identityId: 'group-1',
        objectClass: 'groupOfNames',
        externalId: null,
        operation: 'create',
        attributes: { cn: 'staff' },
        members: { add: ['uid=ada,dc=example,dc=org'], remove: [] },
        status: 'pending',
      },
    ]);
    expect(states).toMatchObject([
      { ownerId: 'group-1', applicationId: LDAP, state: 'provisioned', desired: { cn: 'staff' } },
    ]);
  });

  it('leaves out a member whose object in the target is deleted, and prefers the object with a DN', () => {
    const { exports } = decide({
      objects: [
        memberObject({ identity_id: 'ada', dn: null, external_id: 'no-dn' }),
        memberObject({ identity_id: 'ada' }),
        memberObject({ identity_id: 'grace', external_id: 'ldap-grace', dn: 'uid=grace,dc=example,dc=org' }),
        memberObject({ identity_id: 'grace', external_id: 'ldap-grace', deleted: true }),
      ],
    });
    expect(exports[0]?.members).toEqual({ add: ['uid=ada,dc=example,dc=org'], remove: [] });
  });

  it('deletes the exported copy of a group deleted in its source', () => {
    const previous = new Map<string, TargetState>([
      [
        `group-1|${LDAP}`,
        {
          objectClass: 'groupOfNames',
          externalId: 'cn=staff,ou=groups',
          desired: { cn: 'staff', member: [] },
          state: 'provisioned',
          enabled: true,
        },
      ],
    ]);
    const { exports, states } = decide({ groups: [group({ deleted: true })], previous });
    expect(exports).toMatchObject([{ operation: 'delete', externalId: 'cn=staff,ou=groups' }]);
    expect(states).toMatchObject([{ state: 'deprovisioned' }]);
  });

  it('queues what a sandbox decides as a report', () => {
    const { exports, states } = decide({ plan: planInForce('sandbox') });
    expect(exports).toMatchObject([{ operation: 'create', status: 'sandbox' }]);
    expect(states).toMatchObject([{ sandbox: true }]);
  });
});

describe("which groups' copies in the targets are read", () => {
  const reported: TargetState = {
    objectClass: 'groupOfNames',
    externalId: null,
    desired: {},
    state: 'provisioned',
    enabled: true,
    sandbox: true,
  };
  const pairs = (plan: PlanInForce, previous: Map<string, TargetState>) =>
    pairsWithoutDecision(
      [group()],
      new Map([['group-1', { plan, targets: groupTargetsOf(plan, DIRECTORY) }]]),
      previous,
    );

  it('those without a decision, and those decided in sandbox once the target is out of it', () => {
    const expected = [{ groupId: 'group-1', applicationId: LDAP }];
    expect(pairs(planInForce('live'), new Map())).toEqual(expected);
    expect(pairs(planInForce('live'), new Map([[`group-1|${LDAP}`, reported]]))).toEqual(expected);
    expect(pairs(planInForce('sandbox'), new Map([[`group-1|${LDAP}`, reported]]))).toEqual([]);
  });
});
