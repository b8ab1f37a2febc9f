// HR files into the Vault, end to end on the real Kafka broker and PostgreSQL (issue 19, CSV): a file
// uploaded to the API is a full import run — its people become identities, the rows missing from the next
// file become leavers — and the CLI does the same from the server's host. A malformed row is reported with
// its line and never makes anyone a leaver; a run a CSV application cannot start fails, saying why.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/api/app.ts';
import { projectRoot } from '../../src/infra/process.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import {
  createStreamsFixture,
  query,
  startTestEngine,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';
import { applyTestPlan, testApp } from '../support/system.ts';

interface Run {
  id: string;
  kind: string;
  status: string;
  reason: string | null;
  objectCount: number | null;
  rejected: number;
  sent: number;
  deletions: number;
}

describe('HR files imported through the API and the CLI (real Kafka and PostgreSQL)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let app: App;
  const apps = { hr: '', payroll: '', directory: '' };
  const directory = mkdtempSync(join(tmpdir(), 'joinery-file-import-'));

  const planSource = [
    'version: 1',
    'vault:',
    '  attributes: { employeeId: {}, givenName: {}, hireDate: {} }',
    'applications:',
    '  - name: hr',
    '    type: csv',
    '    createsIdentities: true',
    '    objectClasses:',
    '      worker: { attributes: { WorkerID: {}, FirstName: {}, HireDate: {} } }',
    '    csv:',
    '      externalId: WorkerID',
    "      columns: { 'Employee Number': WorkerID, 'First Name': FirstName, 'Hire Date': HireDate }",
    "      dates: { HireDate: 'dd/MM/yyyy' }",
    '    inbound:',
    '      - { vault: employeeId, from: WorkerID, authority: 100 }',
    '      - { vault: givenName, from: FirstName, authority: 100 }',
    '      - { vault: hireDate, from: HireDate, authority: 100 }',
    '    joining: [{ name: worker id, all: [{ source: WorkerID, vault: employeeId }] }]',
    '    lifecycle: { leaveOnDelete: true }',
    '  - name: payroll',
    '    type: csv',
    '    objectClasses:',
    '      employee: { attributes: { PayrollID: {}, WorkerID: {} } }',
    '    csv: { externalId: PayrollID, encoding: windows-1252, delimiter: ";", onError: fail }',
    '    joining: [{ name: worker id, all: [{ source: WorkerID, vault: employeeId }] }]',
    '  - name: directory',
    '    type: ldap',
    '    objectClasses:',
    '      user: { attributes: { uid: {} } }',
  ].join('\n');

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    engine = await startTestEngine(fixture);
    app = await testApp(fixture);
    const ids = await applyTestPlan(fixture, planSource);
    apps.hr = ids.hr ?? '';
    apps.payroll = ids.payroll ?? '';
    apps.directory = ids.directory ?? '';
  });
  afterAll(async () => {
    await app.close();
    await engine.stop();
    await fixture.close();
    rmSync(directory, { recursive: true, force: true });
  });

  const upload = (applicationId: string, file: string | Buffer) =>
    app.inject({
      method: 'POST',
      url: `/v1/applications/${applicationId}/imports`,
      headers: { authorization: `Bearer ${fixture.apiKey}`, 'content-type': 'text/csv' },
      payload: file,
    });
  const get = async <T>(url: string) =>
    (
      await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${fixture.apiKey}` } })
    ).json<T>();
  const finished = (runId: string) =>
    waitFor(`run ${runId} to finish`, async () => {
      const run = await get<Run>(`/v1/runs/${runId}`);
      return ['completed', 'aborted', 'held', 'incomplete'].includes(run.status) ? run : undefined;
    });
  const identity = async (employeeId: string) =>
    (
      await get<{ items: { id: string; state: string; attributes: Record<string, unknown> }[] }>(
        `/v1/identities?attribute=employeeId&value=${encodeURIComponent(employeeId)}`,
      )
    ).items[0];

  const header = '\uFEFFEmployee Number,First Name,Hire Date,Cost Centre\r\n';
  const people = [
    '0042,"Zoë ""Zo"" Ångström",01/03/2021,CC-1',
    '0043,"Grace, Admiral",15/12/2019,CC-2',
    '0044,Ada,31/01/2024,CC-1',
  ];

  it('turns an uploaded HR file into identities, values as the file holds them', async () => {
    const response = await upload(apps.hr, header + people.join('\r\n') + '\r\n');
    expect(response.statusCode, response.body).toBe(202);
    const result = response.json<{
      runId: string;
      rows: number;
      objects: number;
      kind: string;
      ignoredColumns: string[];
    }>();
    expect(result).toMatchObject({
      rows: 3,
      objects: 3,
      rejected: 0,
      kind: 'full',
      ignoredColumns: ['Cost Centre'],
    });
    const run = await finished(result.runId);
    expect(run).toMatchObject({ status: 'completed', kind: 'full', objectCount: 3, sent: 3, deletions: 0 });
    const zoe = await waitFor('Zoë in the Vault', () => identity('0042'));
    expect(zoe.attributes).toEqual({
      employeeId: '0042',
      givenName: 'Zoë "Zo" Ångström',
      hireDate: '2021-03-01',
    });
    expect((await waitFor('Grace in the Vault', () => identity('0043'))).attributes.givenName).toBe(
      'Grace, Admiral',
    );
  });

  it('makes the people missing from the next file leavers, and reports a malformed row without making anyone a leaver', async () => {
    // A file with a malformed row for 0043 (a field too many): imported as a delta, nobody leaves.
    const broken = await upload(
      apps.hr,
      header + [people[0], '0043,Grace,15/12/2019,CC-2,oops', people[2]].join('\n'),
    );
    expect(broken.statusCode, broken.body).toBe(202);
    const delta = broken.json<{ runId: string; kind: string; rejected: number; errors: unknown[] }>();
    expect(delta).toMatchObject({ kind: 'delta', rejected: 1 });
    expect(delta.errors).toEqual([{ line: 3, reason: 'the row does not have as many fields as the header' }]);
    expect(await finished(delta.runId)).toMatchObject({
      status: 'completed',
      kind: 'delta',
      rejected: 1,
      deletions: 0,
    });
    expect(await get(`/v1/runs/${delta.runId}/errors`)).toEqual({
      rejected: 1,
      items: [{ line: 3, reason: 'the row does not have as many fields as the header' }],
      nextCursor: null,
    });
    expect((await identity('0043'))?.state).toBe('active');

    // The next clean file without 0043: a full run, and 0043 leaves.
    const response = await upload(apps.hr, header + [people[0], people[2]].join('\n'));
    const full = response.json<{ runId: string }>();
    expect(await finished(full.runId)).toMatchObject({ status: 'completed', kind: 'full', deletions: 1 });
    await waitFor('0043 a leaver', async () =>
      (await identity('0043'))?.state === 'leaver' ? true : undefined,
    );
    expect((await identity('0042'))?.state).toBe('active');
  });

  it('stops an import at the first malformed row when the plan says onError: fail, naming the line', async () => {
    const file = iconv.encode('PayrollID;WorkerID\nP-1;0042\nP-2\nP-3;0044\n', 'windows-1252');
    const response = await upload(apps.payroll, file);
    expect(response.statusCode).toBe(422);
    const body = response.json<{ error: { code: string; message: string; details: { runId: string } } }>();
    expect(body.error.code).toBe('JNY_IMPORT_ABORTED');
    expect(body.error.message).toMatch(/line 3: the row does not have as many fields as the header/);
    const run = await finished(body.error.details.runId);
    expect(run).toMatchObject({ status: 'aborted', deletions: 0 });
    expect(run.reason).toMatch(/line 3/);
  });

  it('refuses a file for an application that is not a csv one, and fails a requested run a csv application cannot start', async () => {
    const wrong = await upload(apps.directory, 'uid\nada\n');
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json<{ error: { message: string } }>().error.message).toMatch(
      /type ldap: only csv applications/,
    );
    const requested = await app.inject({
      method: 'POST',
      url: `/v1/applications/${apps.hr}/runs`,
      headers: { authorization: `Bearer ${fixture.apiKey}` },
      payload: { kind: 'full' },
    });
    expect(requested.statusCode).toBe(201);
    const run = requested.json<Run>();
    expect(run.status).toBe('failed');
    expect(run.reason).toMatch(/imported from a file.*joinery import hr FILE/);
  });

  it('imports a file from the command line with the same result', async () => {
    const file = join(directory, 'hr.csv');
    writeFileSync(file, header + [...people, '0045,Linus,01/02/2022,CC-3'].join('\n'));
    const child = spawn(
      process.execPath,
      [join(projectRoot, 'src/cli/main.ts'), 'import', 'hr', file, '--tenant', fixture.tenantId, '--json'],
      {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/root',
          DATABASE_URL: fixture.database.url,
          KAFKA_BROKERS: fixture.brokers.join(','),
          JOINERY_TOPIC_PREFIX: fixture.topics.topicPrefix,
          JOINERY_LOG_LEVEL: 'warn',
        },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout) as { runId: string; objects: number; outcome: string };
    expect(result).toMatchObject({ objects: 4, outcome: 'sent' });
    expect(await finished(result.runId)).toMatchObject({ status: 'completed', kind: 'full', deletions: 0 });
    expect(await waitFor('Linus in the Vault', () => identity('0045'))).toBeDefined();
    // 0043 came back with this file: no longer a leaver.
    await waitFor('0043 back', async () => ((await identity('0043'))?.state === 'active' ? true : undefined));
    const [row] = await query<{ count: string }>(
      fixture.database.url,
      `select count(*) from repository_object where application_id = $1 and not deleted`,
      [apps.hr],
    );
    expect(Number(row?.count)).toBe(4);
  });
});
