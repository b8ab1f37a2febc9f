// A hostile tenant's plan (issue 18 item 1), through the real API, engine, Kafka and PostgreSQL: a plan
// whose expression cannot fit the budget is refused in milliseconds while /healthz answers; a plan that
// passes the static checks but blows the budget on one imported object fails that object (dead-lettered
// with JNY_EXPRESSION_BUDGET) while its neighbours go through.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttributeValue } from '../../kernel/contracts/identity-events.ts';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { buildApp, type App } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { encodeMessage } from '../../streams/cloudevents.ts';
import { silentLogger } from '../support/factories.ts';
import {
  createStreamsFixture,
  header,
  readTopic,
  startTestEngine,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';

/** A plan whose directory maps `note` to a bool through the given expression over `source`. */
const planWith = (options: { mapper: string; classification?: string }): string =>
  [
    'version: 1',
    'vault:',
    '  attributes:',
    '    mail: { type: string }',
    '    noted: { type: bool }',
    'applications:',
    '  - name: directory',
    '    type: ldap',
    '    createsIdentities: true',
    '    objectClasses:',
    '      user:',
    '        attributes:',
    '          mail: {}',
    '          note: {}',
    '    inbound:',
    '      - { vault: mail, from: mail }',
    `      - { vault: noted, expression: '${options.mapper}' }`,
    ...(options.classification === undefined
      ? []
      : ['classifications:', `  - { value: 1, name: everyone, when: '${options.classification}' }`]),
  ].join('\n');

/** Twelve nested comprehensions over ten digits: 10^12 steps. */
function nestedComprehensions(): string {
  let when = 'true';
  for (let level = 12; level >= 1; level--) when = `[0,1,2,3,4,5,6,7,8,9].all(v${String(level)}, ${when})`;
  return when;
}

describe('a hostile plan (real Kafka and PostgreSQL, engine and API)', () => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let app: App;

  const put = (payload: string) =>
    app.inject({
      method: 'PUT',
      url: '/v1/plan',
      headers: { authorization: `Bearer ${fixture.apiKey}`, 'content-type': 'application/yaml' },
      payload,
    });

  beforeAll(async () => {
    fixture = await createStreamsFixture();
    engine = await startTestEngine(fixture);
    app = await buildApp({
      orm: fixture.orm,
      readiness: createReadiness({}),
      logger: silentLogger,
      topicPrefix: fixture.topics.topicPrefix,
    });
  });
  afterAll(async () => {
    await app.close();
    await engine.stop();
    await fixture.close();
  });

  it('refuses twelve nested comprehensions with 400 naming the expression, in seconds, while /healthz answers', async () => {
    const started = Date.now();
    const [refused, health] = await Promise.all([
      put(planWith({ mapper: 'true', classification: nestedComprehensions() })),
      app.inject({ method: 'GET', url: '/healthz' }),
    ]);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(health.statusCode).toBe(200);
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({
      error: {
        code: 'JNY_PLAN_INVALID',
        details: {
          problems: [
            {
              path: 'classifications[0].when',
              message: 'expression may take up to 10^12 steps, the limit is 10^6',
            },
          ],
        },
      },
    });
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    // Nothing was applied.
    const inForce = await app.inject({
      method: 'GET',
      url: '/v1/plan',
      headers: { authorization: `Bearer ${fixture.apiKey}` },
    });
    expect(inForce.statusCode).toBe(404);
  });

  it('fails the one object whose value blows the budget, with JNY_EXPRESSION_BUDGET, and lets its neighbours through', async () => {
    // Fine statically (a note of one character costs a few steps); a note of 3,000 takes 9·10^6 steps.
    const applied = await put(
      planWith({ mapper: 'source.note.split("").all(a, source.note.split("").all(b, a == b))' }),
    );
    expect(applied.statusCode).toBe(201);
    const directory =
      applied.json<{ applications: { name: string; id: string }[] }>().applications[0]?.id ?? '';

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
    await fixture.send('imports', [
      entry('uid=before', { mail: 'before@x', note: 'aa' }),
      entry('uid=hostile', { mail: 'hostile@x', note: 'a'.repeat(3_000) }),
      entry('uid=after', { mail: 'after@x', note: 'ab' }),
    ]);

    const search = async (mail: string) => {
      const reply = await app.inject({
        method: 'GET',
        url: `/v1/identities?attribute=mail&value=${encodeURIComponent(mail)}`,
        headers: { authorization: `Bearer ${fixture.apiKey}` },
      });
      return reply.json<{ items: { attributes: Record<string, unknown> }[] }>().items;
    };
    for (const [mail, noted] of [
      ['before@x', true],
      ['after@x', false],
    ] as const) {
      const [found] = await waitFor(`the identity of ${mail}`, async () => {
        const items = await search(mail);
        return items.length > 0 ? items : undefined;
      });
      expect(found?.attributes).toEqual({ mail, noted });
    }

    const dead = await readTopic(fixture.bus, fixture.topic('deadletter'), (messages) =>
      messages.some((message) => header(message, 'joinery_dlq_code') === 'JNY_EXPRESSION_BUDGET'),
    );
    const budget = dead.find((message) => header(message, 'joinery_dlq_code') === 'JNY_EXPRESSION_BUDGET');
    if (budget === undefined) throw new Error('no budget dead letter');
    expect(header(budget, 'joinery_dlq_reason')).toMatch(
      /applications\[0\]\.inbound\[1\]\.expression: expression exceeded its budget/,
    );
    expect(budget.value?.toString()).toContain('uid=hostile');
    expect(await search('hostile@x')).toEqual([]);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});
