// The agent gateway's sessions, pure: how a failed frame ends a session, and which session speaks for a
// connector.
import { describe, expect, it } from 'vitest';
import { closeCodes } from '../../kernel/channel/protocol.ts';
import { SealedPayloadError, UnauthenticatedError, UnavailableError } from '../../kernel/errors.ts';
import { emptyCounters } from '../../src/agent-gateway/gateway-context.ts';
import { sessionEndFor } from '../../src/agent-gateway/session-errors.ts';
import { createSessionRegistry } from '../../src/agent-gateway/session-registry.ts';

describe('how a failed frame ends its session', () => {
  it('refuses an agent that is not authenticated with the unauthenticated close code', () => {
    expect(sessionEndFor(new UnauthenticatedError('the first frame must be hello'))).toEqual({
      kind: 'unauthenticated',
      closeCode: closeCodes.unauthenticated,
      code: 'JNY_UNAUTHENTICATED',
      message: 'the first frame must be hello',
    });
  });

  it("refuses the agent's own mistakes as protocol errors, with their codes", () => {
    expect(sessionEndFor(new SealedPayloadError('message m-1 opened but is not JSON'))).toMatchObject({
      kind: 'refused',
      closeCode: closeCodes.protocol,
      code: 'JNY_SEAL_INVALID',
    });
  });

  it("tells the agent the gateway's own trouble is worth a reconnect, with the cause", () => {
    const database = new Error('Connection terminated');
    expect(sessionEndFor(new UnavailableError('no database', { cause: database }))).toEqual({
      kind: 'failed',
      closeCode: closeCodes.unavailable,
      code: 'JNY_UNAVAILABLE',
      message: 'the gateway could not handle the frame: no database: Connection terminated',
    });
  });
});

describe('the sessions of a gateway', () => {
  type Principal = { connectorId: string; tenantId: string };
  const session = (connectorId?: string) => ({
    principal: connectorId === undefined ? undefined : { connectorId, tenantId: 't-1' },
  });

  it('hands a connector to its newest session and forgets the one it superseded when it closes', () => {
    const counters = emptyCounters();
    const registry = createSessionRegistry<{ principal: Principal | undefined }>(counters);
    const older = session();
    const newer = session();
    registry.add(older);
    registry.add(newer);
    expect(registry.all()).toEqual([older, newer]);

    older.principal = { connectorId: 'c-1', tenantId: 't-1' };
    expect(registry.authenticated(older, 'c-1')).toBeUndefined();
    newer.principal = { connectorId: 'c-1', tenantId: 't-1' };
    expect(registry.authenticated(newer, 'c-1')).toBe(older);
    expect(registry.byConnector('c-1')).toBe(newer);
    expect(counters.sessions).toBe(1);

    expect(registry.remove(older)).toBe(false);
    expect(registry.byConnector('c-1')).toBe(newer);
    expect(registry.remove(newer)).toBe(true);
    expect(registry.all()).toEqual([]);
    expect(counters.sessions).toBe(0);
  });

  it("counts a tenant's sessions without the connector's own, which a newer connection replaces", () => {
    const registry = createSessionRegistry<{ principal: Principal | undefined }>(emptyCounters());
    const sessions = [
      { principal: { connectorId: 'c-1', tenantId: 't-1' } },
      { principal: { connectorId: 'c-2', tenantId: 't-1' } },
      { principal: { connectorId: 'c-3', tenantId: 't-2' } },
    ];
    for (const each of sessions) {
      registry.add(each);
      registry.authenticated(each, each.principal.connectorId);
    }
    expect(registry.tenantSessions('t-1', 'c-9')).toBe(2);
    expect(registry.tenantSessions('t-1', 'c-1')).toBe(1);
    expect(registry.tenantSessions('t-2', 'c-1')).toBe(1);
  });
});
