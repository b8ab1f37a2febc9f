// The engine runtime in this process, on the real Kafka broker and on the embedded bus, with a real
// PostgreSQL database: the same behaviour on both.
import { randomUUID } from 'node:crypto';
import type { Message } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage } from '../../streams/cloudevents.ts';
import { startEngine, type Engine } from '../../src/runtime/engine-runtime.ts';
import { silentLogger } from '../support/factories.ts';
import {
  applicationId,
  createStreamsFixture,
  header,
  identityMessage,
  inbound,
  query,
  readTopic,
  waitFor,
  type StreamsFixture,
} from '../support/streams.ts';

describe.each(['kafka', 'embedded'] as const)('engine runtime on %s (real PostgreSQL)', (busKind) => {
  let fixture: StreamsFixture;
  let engine: Engine;
  let clockOffsetMs = 0;

  beforeAll(async () => {
    fixture = await createStreamsFixture({ bus: busKind });
    engine = await startEngine({
      bus: fixture.bus,
      orm: fixture.orm,
      logger: silentLogger,
      settings: {
        groupId: fixture.groupId,
        actorCacheSize: 1000,
        maxBatchSize: 500,
        sessionTimeoutMs: 6000,
        topics: fixture.topics,
      },
      now: () => new Date(Date.now() + clockOffsetMs),
      timerIntervalMs: 100,
    });
  });
  afterAll(async () => {
    await engine.stop();
    await fixture.close();
  });

  const state = async (identityId: string): Promise<string | undefined> =>
    (
      await query<{ state: string }>(fixture.database.url, 'select state from identity where id = $1', [
        identityId,
      ])
    )[0]?.state;
  const waitForState = (identityId: string, expected: string) =>
    waitFor(`identity ${identityId} to be ${expected}`, async () =>
      (await state(identityId)) === expected ? true : undefined,
    );
  const send = (topic: 'identity' | 'pulses', messages: Message[]) => fixture.send(topic, messages);

  it("runs each identity's events in order, persists its snapshot and publishes only real changes", async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    await send(
      'identity',
      ids.flatMap((id, index) => [
        identityMessage(
          fixture.tenantId,
          id,
          inbound({ mail: `p${String(index)}@example.com`, seq: 1 }, { externalId: id }),
        ),
        identityMessage(
          fixture.tenantId,
          id,
          inbound({ mail: `p${String(index)}@example.com`, seq: 2 }, { externalId: id }),
        ),
        identityMessage(fixture.tenantId, id, inbound({ seq: 2 }, { externalId: id })),
        identityMessage(fixture.tenantId, id, inbound({}, { externalId: id, lifecycle: 'disabled' })),
      ]),
    );
    for (const id of ids) await waitForState(id, 'disabled');

    const outbound = await readTopic(fixture.bus, fixture.topic('outbound'), (messages) =>
      ids.every((id) => messages.filter((m) => m.key?.toString() === id).length >= 3),
    );
    for (const id of ids) {
      const changes = outbound
        .filter((message) => message.key?.toString() === id)
        .filter(
          (message, index, all) =>
            all.findIndex((m) => header(m, 'ce_id') === header(message, 'ce_id')) === index,
        )
        .map(
          (message) =>
            JSON.parse(message.value?.toString() ?? '{}') as { change: string; attributes?: object },
        );
      // The third event repeated seq 2: no change, so no effect.
      expect(changes.map((c) => c.change)).toEqual(['create', 'update', 'disable']);
      expect(changes[1]?.attributes).toEqual({ seq: 2 });
    }
    const [row] = await query<{ version: number; snapshot: { context: { attributes: object } } }>(
      fixture.database.url,
      'select version, snapshot from identity where id = $1',
      [ids[0]],
    );
    expect(row?.snapshot.context.attributes).toEqual({ mail: 'p0@example.com', seq: 2 });
  });

  it('sends malformed messages to deadletter with their reason and original bytes, and processes their neighbours', async () => {
    const identityId = randomUUID();
    const good = (seq: number) =>
      identityMessage(fixture.tenantId, identityId, inbound({ seq }, { externalId: identityId }));
    const valid = good(2);
    const notJson = { ...valid, value: Buffer.from('{"tenantId": oops') };
    const noHeaders = { key: identityId, value: valid.value };
    const badSchema = {
      ...valid,
      value: Buffer.from(
        JSON.stringify({ tenantId: fixture.tenantId, identityId, event: { type: 'inbound.changed' } }),
      ),
    };
    const otherTenant = { ...valid, headers: { ...valid.headers, ce_tenantid: randomUUID() } };
    await send('identity', [good(1), notJson, noHeaders, badSchema, otherTenant, good(3)]);

    const dead = await readTopic(
      fixture.bus,
      fixture.topic('deadletter'),
      (messages) => messages.filter((m) => m.key?.toString() === identityId).length >= 4,
    );
    const mine = dead.filter((m) => m.key?.toString() === identityId);
    expect(mine.map((m) => header(m, 'joinery_dlq_reason'))).toEqual([
      expect.stringMatching(/^value is not JSON/),
      'missing CloudEvents header ce_specversion',
      expect.stringMatching(/^data does not match joinery\.identity\.event\.v1: \/event/),
      expect.stringMatching(/^ce_tenantid ".*" differs from data\.tenantId/),
    ]);
    expect(mine[0]?.value?.toString()).toBe('{"tenantId": oops');
    expect(header(mine[0] ?? ({} as never), 'joinery_dlq_topic')).toBe(fixture.topic('identity'));
    expect(header(mine[0] ?? ({} as never), 'joinery_dlq_offset')).toMatch(/^\d+$/);

    await waitFor('the neighbour after the bad messages', async () => {
      const [row] = await query<{ seq: number }>(
        fixture.database.url,
        `select (snapshot->'context'->'attributes'->>'seq')::int as seq from identity where id = $1`,
        [identityId],
      );
      return row?.seq === 3 ? true : undefined;
    });
  });

  it('finds the identity of a pulse through its hard join, and dead-letters a pulse for an unjoined object', async () => {
    const identityId = randomUUID();
    const externalId = `uid=${identityId}`;
    await send('identity', [
      identityMessage(fixture.tenantId, identityId, inbound({ seq: 1 }, { externalId })),
    ]);
    await waitForState(identityId, 'active');

    const pulse = (objectId: string) =>
      encodeMessage({
        id: randomUUID(),
        type: 'joinery.pulse.v1',
        source: '/agents/test',
        time: new Date().toISOString(),
        tenantId: fixture.tenantId,
        data: {
          tenantId: fixture.tenantId,
          event: {
            type: 'pulse.disable',
            at: new Date().toISOString(),
            source: { applicationId, externalId: objectId },
          },
        },
      });
    await send('pulses', [pulse(externalId), pulse('uid=nobody')]);
    await waitForState(identityId, 'disabled');
    const dead = await readTopic(fixture.bus, fixture.topic('deadletter'), (messages) =>
      messages.some((m) => header(m, 'joinery_dlq_code') === 'JNY_NOT_JOINED'),
    );
    expect(dead.map((m) => header(m, 'joinery_dlq_reason'))).toContain(
      `no identity is joined to object uid=nobody of application ${applicationId}`,
    );
  });

  it('deletes a leaver when its durable timer fires, and cancels the deletion of one who returns', async () => {
    const leaver = randomUUID();
    const returner = randomUUID();
    const now = new Date().toISOString();
    const withDelay = (id: string, event: ReturnType<typeof inbound>) => {
      const message = identityMessage(fixture.tenantId, id, event);
      const data = JSON.parse(message.value?.toString() ?? '{}') as Record<string, unknown>;
      return { ...message, value: Buffer.from(JSON.stringify({ ...data, deletionDelayDays: 1 })) };
    };
    await send('identity', [
      withDelay(leaver, inbound({ seq: 1 }, { externalId: leaver, at: now })),
      identityMessage(
        fixture.tenantId,
        leaver,
        inbound({}, { externalId: leaver, lifecycle: 'left', at: now }),
      ),
      withDelay(returner, inbound({ seq: 1 }, { externalId: returner, at: now })),
      identityMessage(
        fixture.tenantId,
        returner,
        inbound({}, { externalId: returner, lifecycle: 'left', at: now }),
      ),
      identityMessage(
        fixture.tenantId,
        returner,
        inbound({}, { externalId: returner, lifecycle: 'active', at: now }),
      ),
    ]);
    await waitForState(leaver, 'leaver');
    await waitForState(returner, 'active');
    const timers = await query<{ identity_id: string }>(
      fixture.database.url,
      'select identity_id from identity_timer',
    );
    expect(timers.map((t) => t.identity_id)).toContain(leaver);
    expect(timers.map((t) => t.identity_id)).not.toContain(returner);

    // Nothing fires before the delay has passed; two days later the leaver is deleted.
    expect(await engine.timers.fireDue()).toBe(0);
    clockOffsetMs = 2 * 24 * 60 * 60 * 1000;
    await waitForState(leaver, 'deleted');
    expect(await state(returner)).toBe('active');
    const outbound = await readTopic(
      fixture.bus,
      fixture.topic('outbound'),
      (messages) =>
        messages.some((m) => m.key?.toString() === leaver && m.value?.toString().includes('"delete"')) &&
        messages.filter((m) => m.key?.toString() === returner).length >= 3,
    );
    expect(
      outbound
        .filter((m) => m.key?.toString() === returner)
        .map((m) => (JSON.parse(m.value?.toString() ?? '{}') as { change: string }).change),
    ).toEqual(['create', 'disable', 'enable']);
  });

  it('dead-letters a message for a tenant that does not exist', async () => {
    const identityId = randomUUID();
    const stranger = randomUUID();
    await send('identity', [
      identityMessage(stranger, identityId, inbound({ seq: 1 }, { externalId: identityId })),
    ]);
    const dead = await readTopic(fixture.bus, fixture.topic('deadletter'), (messages) =>
      messages.some((m) => header(m, 'joinery_dlq_code') === 'JNY_UNKNOWN_TENANT'),
    );
    expect(dead.map((m) => header(m, 'joinery_dlq_reason'))).toContain(`unknown tenant ${stranger}`);
    expect(await state(identityId)).toBeUndefined();
  });

  it("never lets a tenant's message change another tenant's identity", async () => {
    const identityId = randomUUID();
    await send('identity', [
      identityMessage(fixture.tenantId, identityId, inbound({ seq: 1 }, { externalId: identityId })),
    ]);
    await waitForState(identityId, 'active');
    const { createTenant } = await import('../../src/tenancy/tenants.ts');
    const other = await createTenant(fixture.orm.em, { tenant: `other-${randomUUID()}` });
    await send('identity', [
      identityMessage(other.tenantId, identityId, inbound({ seq: 99 }, { externalId: identityId })),
    ]);
    const dead = await readTopic(fixture.bus, fixture.topic('deadletter'), (messages) =>
      messages.some((m) => header(m, 'joinery_dlq_code') === 'JNY_TENANT_MISMATCH'),
    );
    expect(dead.some((m) => m.key?.toString() === identityId)).toBe(true);
    const [row] = await query<{ seq: number }>(
      fixture.database.url,
      `select (snapshot->'context'->'attributes'->>'seq')::int as seq from identity where id = $1`,
      [identityId],
    );
    expect(row?.seq).toBe(1);
  });
});
