// An agent's connection and its "agent connected" event are one transaction (src/agent-gateway/agent-presence.ts):
// when writing the event fails, the connection is not recorded either, and the agent is not welcomed; once
// the event can be written, both are. The failure is PostgreSQL's own: a trigger refusing outbox rows.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { welcomeAgent } from '../../src/agent-gateway/agent-presence.ts';
import { createConnector, revokeConnector, type AgentPrincipal } from '../../src/agent-gateway/connectors.ts';
import { createStreamsFixture, query, type StreamsFixture } from '../support/streams.ts';

describe("an agent's connection and its logstream event", () => {
  let fixture: StreamsFixture;
  let principal: AgentPrincipal;
  beforeAll(async () => {
    fixture = await createStreamsFixture({ bus: 'embedded', partitions: 1 });
    const em = fixture.orm.em.fork();
    em.setFilterParams('tenant', { tenantId: fixture.tenantId });
    const issued = await createConnector(em, fixture.tenantId, { name: 'paris-dc', applications: [] });
    principal = {
      tenantId: fixture.tenantId,
      connectorId: issued.connectorId,
      name: issued.name,
      applicationIds: [],
      encryptionKey: '',
      lastProducedSeq: 0,
    };
  }, 60_000);
  afterAll(async () => {
    await fixture.close();
  });

  const context = () => ({
    orm: fixture.orm,
    logstreamTopic: fixture.topic('logstream'),
    channel: {
      path: '/v1/agent/channel',
      protocol: 'joinery-agent.v1',
      heartbeatMs: 30_000,
      maxBatchMessages: 500,
      maxFrameBytes: 1024 * 1024,
    },
  });
  const lastConnectedAt = async () =>
    (
      await query<{ at: Date | null }>(
        fixture.database.url,
        'select last_connected_at as at from connector where id = $1',
        [principal.connectorId],
      )
    )[0]?.at ?? null;
  const connectedEvents = async () =>
    (
      await query<{ n: string }>(
        fixture.database.url,
        `select count(*) as n from outbox, json_array_elements(messages) as m where m->'ce'->>0 like 'agent/%/connected'`,
      )
    )[0]?.n;

  it('records neither when the event cannot be written, and both once it can', async () => {
    await query(
      fixture.database.url,
      `create function refuse_outbox() returns trigger language plpgsql as
         $$ begin raise exception 'outbox refused by the test'; end $$;
       create trigger refuse_outbox before insert on outbox for each row execute function refuse_outbox()`,
    );
    const session = randomUUID();
    await expect(welcomeAgent(context(), principal, '1.0.0', session)).rejects.toThrow(
      /outbox refused by the test/,
    );
    expect(await lastConnectedAt()).toBeNull();
    expect(await connectedEvents()).toBe('0');

    await query(fixture.database.url, 'drop trigger refuse_outbox on outbox');
    const welcome = await welcomeAgent(context(), principal, '1.0.0', session);
    expect(welcome).toMatchObject({
      type: 'welcome',
      connectorId: principal.connectorId,
      lastProducedSeq: 0,
    });
    expect(await lastConnectedAt()).toBeInstanceOf(Date);
    expect(await connectedEvents()).toBe('1');
  });

  it('welcomes no agent whose connector was revoked after it authenticated, and tells nothing', async () => {
    const before = await lastConnectedAt();
    const em = fixture.orm.em.fork();
    em.setFilterParams('tenant', { tenantId: fixture.tenantId });
    await revokeConnector(em, principal.connectorId);
    await expect(welcomeAgent(context(), principal, '1.0.0', randomUUID())).rejects.toThrow(
      'the connector was revoked',
    );
    expect(await lastConnectedAt()).toEqual(before);
    expect(await connectedEvents()).toBe('1');
  });
});
