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
  const session = (connectorId?: string) => ({
    principal: connectorId === undefined ? undefined : { connectorId },
  });

  it('hands a connector to its newest session and forgets the one it superseded when it closes', () => {
    const counters = emptyCounters();
    const registry = createSessionRegistry<{ principal: { connectorId: string } | undefined }>(counters);
    const older = session();
    const newer = session();
    registry.add(older);
    registry.add(newer);
    expect(registry.all()).toEqual([older, newer]);

    older.principal = { connectorId: 'c-1' };
    expect(registry.authenticated(older, 'c-1')).toBeUndefined();
    newer.principal = { connectorId: 'c-1' };
    expect(registry.authenticated(newer, 'c-1')).toBe(older);
    expect(registry.byConnector('c-1')).toBe(newer);
    expect(counters.sessions).toBe(1);

    expect(registry.remove(older)).toBe(false);
    expect(registry.byConnector('c-1')).toBe(newer);
    expect(registry.remove(newer)).toBe(true);
    expect(registry.all()).toEqual([]);
    expect(counters.sessions).toBe(0);
  });
});
