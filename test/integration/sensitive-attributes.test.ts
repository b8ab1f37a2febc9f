// Sensitive attributes end to end on the real Kafka broker and PostgreSQL: a value a plan marks sensitive is
// sealed by the Import stage with the tenant's data key, and stays ciphertext in the Application Repository,
// the Vault, the outbox and the export queue; the API shows it as ***; no log line holds it; the export
// opens to the value the source sent; and a master key rotation (`rewrap`) keeps everything readable.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.ts';
import { rewrapTenantKeys } from '../../src/agent-gateway/master-key-rotation.ts';
import { masterKeyId } from '../../src/agent-gateway/master-key.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { createSensitiveValues, isSealed } from '../../src/secrets/sensitive-values.ts';
import type { Attributes } from '../../kernel/contracts/identity-events.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { recordingLogger, uniqueName } from '../support/factories.ts';
import {
  createStreamsFixture,
  exportQueue,
  importObjectMessage,
  query,
  startTestEngine,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';

const SSN = '078-05-1120';

describe('sensitive attributes (real Kafka and PostgreSQL, engine and API)', () => {
  const keyA = randomBytes(32);
  const keyB = randomBytes(32);
  let fixture: StreamsFixture;
  let engine: Engine;
  let app: App;
  const logs = recordingLogger('debug');
  const apps = { hr: '', directory: '' };
  let identityId = '';

  const planSource = [
    'version: 1',
    'vault:',
    '  attributes: { employeeId: {}, givenName: {}, ssn: { sensitive: true } }',
    'applications:',
    '  - name: hr',
    '    type: csv',
    '    createsIdentities: true',
    '    objectClasses:',
    '      worker: { attributes: { WorkerID: {}, FirstName: {}, SSN: { sensitive: true } } }',
    '    inbound:',
    '      - { vault: employeeId, from: WorkerID, authority: 100 }',
    '      - { vault: givenName, from: FirstName, authority: 100 }',
    '      - { vault: ssn, from: SSN, authority: 100 }',
    '    joining: [{ name: worker id, all: [{ source: WorkerID, vault: employeeId }] }]',
    '  - name: directory',
    '    type: ldap',
    '    mode: live',
    '    objectClasses:',
    '      user: { attributes: { uid: { direction: both }, employeeNumber: { direction: out, sensitive: true } } }',
    '    joining: [{ name: uid, all: [{ source: uid, vault: employeeId }] }]',
    '    outbound:',
    '      - { target: uid, from: employeeId }',
    '      - { target: employeeNumber, from: ssn }',
    '    classifications: [1]',
    'classifications:',
    `  - { value: 1, name: employee, when: 'identity.employeeId != ""' }`,
  ].join('\n');

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    engine = await startTestEngine(fixture, {
      masterKeys: { current: keyA, previous: [] },
      logger: logs.logger,
    });
    app = await buildApp({
      orm: fixture.orm,
      readiness: createReadiness({}),
      logger: logs.logger,
      topicPrefix: fixture.topics.topicPrefix,
    });
    const applied = await applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
      source: planSource,
    });
    const ids = new Map(applied.applications.map((a) => [a.name, a.id]));
    apps.hr = ids.get('hr') ?? '';
    apps.directory = ids.get('directory') ?? '';

    await fixture.send('imports', [
      importObjectMessage({
        tenantId: fixture.tenantId,
        applicationId: apps.hr,
        objectClass: 'worker',
        externalId: 'w-1',
        attributes: { WorkerID: 'w-1', FirstName: 'Ada', SSN },
      }),
    ]);
    const queued = await waitFor('the export to the directory', async () => {
      const [row] = await exportQueue(fixture, apps.directory);
      return row;
    });
    identityId = queued.identity_id;
  });
  afterAll(async () => {
    await app.close();
    await engine.stop();
    await fixture.close();
  });

  it('stores the value sealed in the repository, the Vault and the export queue, and nowhere in clear', async () => {
    const [object] = await query<{ attributes: Record<string, unknown> }>(
      fixture.database.url,
      'select attributes from repository_object where application_id = $1',
      [apps.hr],
    );
    expect(object?.attributes.FirstName).toBe('Ada');
    expect(isSealed(object?.attributes.SSN)).toBe(true);
    const [identity] = await query<{ attributes: Record<string, unknown> }>(
      fixture.database.url,
      `select snapshot->'context'->'attributes' as attributes from identity where id = $1`,
      [identityId],
    );
    expect(isSealed(identity?.attributes.ssn)).toBe(true);
    // Sealing is deterministic: the Vault holds the repository's ciphertext, as the export queue does.
    expect(identity?.attributes.ssn).toBe(object?.attributes.SSN);
    const [queued] = await exportQueue(fixture, apps.directory);
    expect(queued?.attributes?.employeeNumber).toBe(object?.attributes.SSN);

    // The value appears in clear in no table of the tenant's data (the outbox included).
    const [found] = await query<{ count: string }>(
      fixture.database.url,
      `select (select count(*) from repository_object where attributes::text like $1)
        + (select count(*) from identity where snapshot::text like $1)
        + (select count(*) from export_item where attributes::text like $1)
        + (select count(*) from outbox where messages::text like $1) as count`,
      [`%${SSN}%`],
    );
    expect(Number(found?.count)).toBe(0);
  });

  it('shows *** through the API and writes no log line with the value', async () => {
    const response = await app.inject({
      method: 'GET',
      url: `/v1/identities/${identityId}`,
      headers: { authorization: `Bearer ${fixture.apiKey}` },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json<{ attributes: Record<string, unknown> }>().attributes).toMatchObject({
      employeeId: 'w-1',
      ssn: '***',
    });
    const exports = await app.inject({
      method: 'GET',
      url: `/v1/exports?applicationId=${apps.directory}`,
      headers: { authorization: `Bearer ${fixture.apiKey}` },
    });
    expect(exports.body).not.toContain(SSN);
    expect(exports.body).not.toContain('jny:sealed:');
    expect(logs.lines().length).toBeGreaterThan(0);
    expect(logs.lines().join('\n')).not.toContain(SSN);
  });

  it('opens the export to the value the source sent, for the connector alone', async () => {
    const [queued] = await exportQueue(fixture, apps.directory);
    const sealer = await createSensitiveValues({
      keyring: { current: keyA, previous: [] },
      em: fixture.orm.em,
    }).forTenant(fixture.tenantId);
    expect(sealer.openAttributes((queued?.attributes ?? {}) as Attributes)).toMatchObject({
      uid: 'w-1',
      employeeNumber: SSN,
    });
    // Another tenant's data key does not open it.
    const other = await createSensitiveValues({
      keyring: { current: keyA, previous: [] },
      em: fixture.orm.em,
    }).forTenant(await anotherTenant(fixture));
    expect(() => other.openAttributes((queued?.attributes ?? {}) as Attributes)).toThrow(
      /does not open|names no data key/,
    );
  });

  it('keeps every value readable through a master key rotation, and B alone opens them after rewrap', async () => {
    const [queued] = await exportQueue(fixture, apps.directory);
    const rewrapped = await rewrapTenantKeys(fixture.orm.em.fork(), { current: keyB, previous: [keyA] });
    expect(rewrapped.rewrapped).toBeGreaterThanOrEqual(1);
    expect(rewrapped.stillUnderOldKey).toBe(0);
    const [dataKey] = await query<{ wrapped_key: string }>(
      fixture.database.url,
      'select wrapped_key from tenant_data_key where tenant_id = $1',
      [fixture.tenantId],
    );
    expect(dataKey?.wrapped_key.startsWith(`${masterKeyId(keyB)}:`)).toBe(true);
    const underB = await createSensitiveValues({
      keyring: { current: keyB, previous: [] },
      em: fixture.orm.em,
    }).forTenant(fixture.tenantId);
    expect(underB.openAttributes((queued?.attributes ?? {}) as Attributes).employeeNumber).toBe(SSN);
    await expect(
      createSensitiveValues({ keyring: { current: keyA, previous: [] }, em: fixture.orm.em }).forTenant(
        fixture.tenantId,
      ),
    ).rejects.toThrow(/does not decrypt/);
  });
});

/** A second tenant, which gets a data key of its own. */
async function anotherTenant(fixture: StreamsFixture): Promise<string> {
  return (await createTenant(fixture.orm.em, { tenant: uniqueName('other') })).tenantId;
}
