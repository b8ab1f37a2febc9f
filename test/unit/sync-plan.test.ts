import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PlanInvalidError } from '../../kernel/errors.ts';
import { projectRoot } from '../../src/infra/process.ts';
import { whyRunCannotStart } from '../../src/connectors/connector.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import { PLAN_SCHEMA_FILE, planSchemaFileContent, publishedPlanSchema } from '../../src/plan/plan.schema.ts';

const example = readFileSync(join(projectRoot, 'docs/examples/sync-plan.yaml'), 'utf8');

/** The documented example with one line changed: the way a user would break it. */
function variant(search: string, replacement: string): string {
  expect(example).toContain(search);
  return example.replace(search, replacement);
}

function problemsOf(text: string): string[] {
  try {
    loadPlan(text, 'plan.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(PlanInvalidError);
    return (error as PlanInvalidError).message.split('\n').slice(1);
  }
  throw new Error('the plan was accepted');
}

const lineOf = (text: string, search: string): number =>
  text.slice(0, text.indexOf(search)).split('\n').length;

describe('sync plan validation', () => {
  it('publishes its JSON Schema, and docs/schemas holds the current one', () => {
    const file = readFileSync(join(projectRoot, 'docs', 'schemas', PLAN_SCHEMA_FILE), 'utf8');
    expect(file, `docs/schemas/${PLAN_SCHEMA_FILE} is stale: run npm run schemas`).toBe(
      planSchemaFileContent(),
    );
    expect(publishedPlanSchema()).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      required: expect.arrayContaining(['version', 'vault', 'applications']) as unknown,
    });
  });

  it('accepts the documented example (HR + Active Directory + a SaaS target) and compiles its expressions', () => {
    const compiled = loadPlan(example, 'sync-plan.yaml');
    expect(compiled.plan.applications.map((a) => a.name)).toEqual([
      'workday',
      'active-directory',
      'salesforce',
    ]);
    expect(compiled.expressions.size).toBe(11);
    const displayName = compiled.expressions.get('applications[0].inbound[4].expression');
    expect(displayName?.({ source: { FirstName: 'Ada', LastName: 'Lovelace' } })).toBe('Ada Lovelace');
  });

  it('refuses a watched folder named by a relative path, or a pattern naming a subdirectory', () => {
    const text = variant(
      '    createsIdentities: true\n',
      "    createsIdentities: true\n    csv: { externalId: WorkerID, watch: { directory: hr/drop, pattern: 'in/*.csv' } }\n",
    );
    const line = lineOf(text, 'hr/drop');
    expect(problemsOf(text)).toEqual([
      `plan.yaml:${String(line)} applications[0].csv.watch.directory: "hr/drop" is not an absolute path: name the directory from the root of the engine's host (e.g. /srv/joinery/hr)`,
      `plan.yaml:${String(line)} applications[0].csv.watch.pattern: "in/*.csv" names a subdirectory: the pattern matches file names in the directory (e.g. *.csv)`,
    ]);
    const absolute = variant(
      '    createsIdentities: true\n',
      '    createsIdentities: true\n    csv: { externalId: WorkerID, watch: { directory: /srv/hr, pollSeconds: 10 } }\n',
    );
    expect(loadPlan(absolute, 'plan.yaml').plan.applications[0]?.csv?.watch).toEqual({
      directory: '/srv/hr',
      pollSeconds: 10,
    });
  });

  it('takes an external connector for a SaaS application, and refuses one it cannot serve', () => {
    const external = variant(
      '    type: scim\n    mode: sandbox\n',
      '    type: scim\n    connector: external\n    mode: sandbox\n',
    );
    expect(loadPlan(external, 'plan.yaml').plan.applications[2]?.connector).toBe('external');
    const directory = variant(
      '    type: active-directory\n',
      '    type: active-directory\n    connector: external\n',
    );
    expect(problemsOf(directory)).toEqual([
      `plan.yaml:${String(lineOf(directory, '    connector: external'))} applications[1].connector: application active-directory (type active-directory) cannot have an external connector (directories are read and written by the on-prem agent); external connectors serve scim and sql applications`,
      `plan.yaml:${String(lineOf(directory, 'passwords: true'))} applications[1].export.passwords: passwords are never published on Kafka, so an external connector cannot write them: remove export.passwords`,
    ]);
    const passwords = variant(
      '    export: { deprovision: delete }\n',
      '    connector: external\n    export: { deprovision: delete, passwords: true }\n',
    );
    expect(problemsOf(passwords)).toEqual([
      `plan.yaml:${String(lineOf(passwords, 'deprovision: delete, passwords: true'))} applications[2].export.passwords: passwords are never published on Kafka, so an external connector cannot write them: remove export.passwords`,
    ]);
  });

  it("takes an external connector's lease between 10 s and 24 h, and refuses it without an external connector", () => {
    const external = (lease: string) =>
      variant(
        '    export: { deprovision: delete }\n',
        `    connector: external\n    export: { leaseSeconds: ${lease} }\n`,
      );
    expect(loadPlan(external('30'), 'plan.yaml').plan.applications[2]?.export?.leaseSeconds).toBe(30);
    for (const lease of ['5', '86401']) {
      const [problem] = problemsOf(external(lease));
      expect(problem).toMatch(
        new RegExp(
          `^plan\\.yaml:${String(lineOf(external(lease), `leaseSeconds: ${lease}`))} applications\\[2\\]\\.export\\.leaseSeconds: must be [<>]= (10|86400)`,
        ),
      );
    }
    const own = variant('    export: { deprovision: delete }\n', '    export: { leaseSeconds: 60 }\n');
    expect(problemsOf(own)).toEqual([
      `plan.yaml:${String(lineOf(own, 'leaseSeconds: 60'))} applications[2].export.leaseSeconds: export.leaseSeconds is how long an external connector has to answer an export, and application salesforce has Joinery's own connector: remove it, or add connector: external`,
    ]);
  });

  it('fails a requested run of an external connector at once, saying it sends its own runs', () => {
    expect(whyRunCannotStart('scim', 'salesforce', 'external')).toMatch(
      /^application salesforce has an external connector: it sends its own import runs to the imports topic/,
    );
    expect(whyRunCannotStart('scim', 'salesforce', null)).toBeUndefined();
  });

  it('names the line of a syntax error', () => {
    const text = variant('    type: csv\n', '    type: [csv\n');
    const [problem] = problemsOf(text);
    expect(problem).toMatch(/^plan\.yaml:\d+ \(document\): syntax error: /);
  });

  it('names the file, line and path of an unknown attribute in a joining rule, and lists the known ones', () => {
    const text = variant(
      'all: [{ source: WorkerID, vault: employeeId }]',
      'all: [{ source: WorkerId, vault: employeeId }]',
    );
    expect(problemsOf(text)).toEqual([
      `plan.yaml:${String(lineOf(text, 'source: WorkerId'))} applications[0].joining[0].all[0].source: unknown attribute "WorkerId" of application workday (known: Department, FirstName, JobTitle, LastName, PayrollID, Status, WorkerID, WorkerType)`,
    ]);
  });

  it('names the expression that does not compile, and where it is', () => {
    const text = variant(
      `expression: 'source.FirstName + " " + source.LastName'`,
      `expression: 'source.FirstName + " " + source.LastNam'`,
    );
    const [problem] = problemsOf(text);
    expect(problem).toBe(
      `plan.yaml:${String(lineOf(text, 'source.LastNam'))} applications[0].inbound[4].expression: expression "source.FirstName + \\" \\" + source.LastNam" does not compile: No such key: LastNam`,
    );
  });

  it('refuses an expression of the wrong type for where it is used', () => {
    const text = variant(`when: 'identity.employeeType == "Employee"'`, `when: 'identity.employeeType'`);
    expect(problemsOf(text)).toEqual([
      `plan.yaml:${String(lineOf(text, "when: 'identity.employeeType'"))} classifications[0].when: expression "identity.employeeType" is string, expected bool`,
    ]);
  });

  it('refuses writing an attribute the application only provides', () => {
    const text = variant(
      '      - { target: externalId, from: employeeId }',
      '      - { target: mail, from: mail }',
    );
    expect(problemsOf(text).join('\n')).toMatch(/unknown attribute "mail" of application salesforce/);
    const ad = variant(
      '      - { target: displayName, from: displayName }',
      '      - { target: mail, from: mail }',
    );
    expect(problemsOf(ad)).toEqual([
      `plan.yaml:${String(lineOf(ad, 'target: mail'))} applications[1].outbound[3].target: attribute "mail" of application active-directory has direction in; this needs out or both`,
    ]);
  });

  it('refuses outbound mappers outside the class identities are written as, and a group class for it', () => {
    const contact = variant(
      '          memberOf: { type: string, multiValued: true }\n',
      '          memberOf: { type: string, multiValued: true }\n' +
        '      contact:\n        kind: contact\n        attributes: { mail: { type: string, direction: both } }\n',
    ).replace('export: { objectClass: user,', 'export: { objectClass: contact,');
    // Written as contacts: the user attributes the mappers target are not there.
    expect(problemsOf(contact)).toContain(
      `plan.yaml:${String(lineOf(contact, '{ target: sn'))} applications[1].outbound[2].target: attribute "sn" is not one of object class contact, the class identities are written to application active-directory as (known: mail)`,
    );
    const group = variant(
      '          memberOf: { type: string, multiValued: true }\n',
      '          memberOf: { type: string, multiValued: true }\n' +
        '      group:\n        kind: group\n        members: member\n        attributes: { member: { multiValued: true } }\n',
    ).replace('export: { objectClass: user,', 'export: { objectClass: group,');
    expect(problemsOf(group).join('\n')).toMatch(
      /applications\[1\]\.export\.objectClass: identities are written to application active-directory as "group", a group class; name a user or contact class/,
    );
  });

  it('reports a typo in a key, a missing key and a duplicate name together, each with its line', () => {
    const text = variant('    createsIdentities: true', '    createIdentities: true')
      .replace('  - name: salesforce\n    type: scim', '  - name: workday\n    type: scim')
      .replace('  - { value: 2, name: contractor,', '  - { value: 2, nam: contractor,');
    const problems = problemsOf(text);
    expect(problems).toContain(
      `plan.yaml:${String(lineOf(text, 'createIdentities'))} applications[0].createIdentities: unknown key`,
    );
    expect(problems.join('\n')).toMatch(/classifications\[1\]\.nam: unknown key/);
    expect(problems.join('\n')).toMatch(/classifications\[1\]\.name: is required/);
  });

  it('finds a duplicate application name once the schema is satisfied', () => {
    const text = variant('  - name: salesforce\n    type: scim', '  - name: workday\n    type: scim');
    expect(problemsOf(text)).toEqual([
      `plan.yaml:${String(lineOf(text, '  - name: workday\n    type: scim') + 0)} applications[2].name: application "workday" is declared twice`,
    ]);
  });

  it('needs exactly one of "from" and "expression" in a mapper', () => {
    const text = variant(
      '      - { vault: title, from: JobTitle, authority: 100 }',
      '      - { vault: title, authority: 100 }',
    );
    expect(problemsOf(text).join('\n')).toMatch(
      /applications\[0\]\.inbound\[5\]: a mapper needs exactly one of "from" and "expression"/,
    );
  });
});
