// Values reach the Vault as the plan declares them (issue 17 item 4), end to end on the real Kafka broker
// and PostgreSQL: a directory sends every attribute its schema calls multi-valued as a list, even with one
// value; a single-valued Vault attribute must still hold one scalar, or searching by it finds nobody.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttributeValue } from '../../kernel/contracts/identity-events.ts';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { buildApp, type App } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { encodeMessage } from '../../streams/cloudevents.ts';
import { silentLogger } from '../support/factories.ts';
import { createStreamsFixture, startTestEngine, waitFor, type StreamsFixture } from '../support/streams.ts';

interface Found {
  id: string;
  attributes: Record<string, unknown>;
}

describe('values reach the Vault as the plan declares them (real Kafka and PostgreSQL, engine and API)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let app: App;
  let directory = '';

  const planSource = [
    'version: 1',
    'vault:',
    '  attributes:',
    '    mail: { type: string }',
    '    employeeId: { type: string }',
    '    employeeNumber: { type: int }',
    '    groups: { type: string, multiValued: true }',
    'applications:',
    '  - name: directory',
    '    type: ldap',
    '    createsIdentities: true',
    '    objectClasses:',
    '      user:',
    '        attributes:',
    // As a plan author writes them: mail declared without multiValued, yet the directory sends a list.
    '          mail: {}',
    '          uid: { multiValued: true }',
    '          employeeNumber: {}',
    '          businessCategory: { multiValued: true }',
    '    inbound:',
    '      - { vault: mail, from: mail }',
    '      - { vault: employeeId, from: uid }',
    '      - { vault: employeeNumber, from: employeeNumber }',
    '      - { vault: groups, from: businessCategory }',
  ].join('\n');

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    engine = await startTestEngine(fixture);
    app = await buildApp({
      orm: fixture.orm,
      readiness: createReadiness({}),
      logger: silentLogger,
      topicPrefix: fixture.topics.topicPrefix,
    });
    const applied = await applyPlan(fixture.orm.em, {
      tenantId: fixture.tenantId,
      sourceName: 'plan.yaml',
      appliedBy: 'test',
      source: planSource,
    });
    directory = applied.applications.find((a) => a.name === 'directory')?.id ?? '';
  });
  afterAll(async () => {
    await app.close();
    await engine.stop();
    await fixture.close();
  });

  /** An LDAP entry as the agent sends it: multi-valued attributes as lists, even with one value. */
  const entry = (externalId: string, attributes: Record<string, AttributeValue>) => {
    const at = new Date().toISOString();
    const data: MessageData<'joinery.import.object.v1'> = {
      tenantId: fixture.tenantId,
      applicationId: directory,
      objectClass: 'user',
      externalId,
      attributes,
      operation: 'upsert',
      observedAt: at,
    };
    return encodeMessage({
      id: randomUUID(),
      type: 'joinery.import.object.v1',
      source: '/tests',
      time: at,
      tenantId: fixture.tenantId,
      data,
    });
  };

  const search = async (attribute: string, value: string) => {
    const reply = await app.inject({
      method: 'GET',
      url: `/v1/identities?attribute=${attribute}&value=${encodeURIComponent(value)}`,
      headers: { authorization: `Bearer ${fixture.apiKey}` },
    });
    expect(reply.statusCode).toBe(200);
    return reply.json<{ items: Found[] }>().items;
  };
  const foundBy = (attribute: string, value: string, what: string) =>
    waitFor(what, async () => {
      const items = await search(attribute, value);
      return items.length > 0 ? items : undefined;
    });

  it('stores a one-value list of a single-valued attribute as its value, so searching by it finds the identity', async () => {
    await fixture.send('imports', [
      entry('uid=ada,ou=people', {
        mail: ['a@x'],
        uid: ['ada'],
        employeeNumber: ['42'],
        businessCategory: ['staff', 'admins'],
      }),
    ]);
    const items = await foundBy('mail', 'a@x', 'the identity found by its mail');
    expect(items).toHaveLength(1);
    expect(items[0]?.attributes).toEqual({
      mail: 'a@x',
      employeeId: 'ada',
      employeeNumber: 42,
      // Declared multi-valued: kept as the list the directory sent.
      groups: ['staff', 'admins'],
    });
    expect((await search('employeeId', 'ada')).map((found) => found.id)).toEqual([items[0]?.id]);
  });

  it('takes the first of several values, in the order the source gave them, and keeps all of them in the repository', async () => {
    await fixture.send('imports', [
      entry('uid=grace,ou=people', { mail: ['g1@x', 'g2@x'], uid: ['grace', 'ghopper'] }),
    ]);
    const [found] = await foundBy('mail', 'g1@x', 'the identity found by its first mail');
    expect(found?.attributes).toMatchObject({ mail: 'g1@x', employeeId: 'grace' });
    expect(await search('mail', 'g2@x')).toEqual([]);
    const object = await app.inject({
      method: 'GET',
      url: `/v1/applications/${directory}/objects/${encodeURIComponent('uid=grace,ou=people')}`,
      headers: { authorization: `Bearer ${fixture.apiKey}` },
    });
    expect(object.json<{ attributes: Record<string, unknown> }>().attributes).toMatchObject({
      mail: ['g1@x', 'g2@x'],
    });
  });

  it('does not write a value that cannot be read as the declared type: the rest of the object still arrives', async () => {
    await fixture.send('imports', [
      entry('uid=linus,ou=people', { mail: 'l@x', uid: ['linus'], employeeNumber: 'E-7' }),
    ]);
    const [found] = await foundBy('mail', 'l@x', 'the identity found by its mail');
    expect(found?.attributes).toEqual({ mail: 'l@x', employeeId: 'linus' });
  });
});
