// The gateway's sessions in this process: those still waiting for hello, and one per authenticated
// connector — a newer connection of a connector takes over from the older one, and a revocation finds it
// by connector id. It keeps the sessions counter.
import type { GatewayCounters } from './gateway-context.ts';

/** What the registry needs of a session. */
export interface RegisteredSession {
  /** Set once hello is answered. */
  readonly principal: { connectorId: string; tenantId: string } | undefined;
}

export interface SessionRegistry<S extends RegisteredSession> {
  /** A session that has not said hello yet. */
  add(session: S): void;
  /** The session now speaks for its connector; returns the connector's previous session, to be closed. */
  authenticated(session: S, connectorId: string): S | undefined;
  /** Forgets an ended session; true when it was its connector's session (not one superseded). */
  remove(session: S): boolean;
  byConnector(connectorId: string): S | undefined;
  /** The tenant's authenticated sessions, but the connector's own (a newer connection replaces it). */
  tenantSessions(tenantId: string, exceptConnectorId: string): number;
  /** Every session, authenticated or not. */
  all(): S[];
}

export function createSessionRegistry<S extends RegisteredSession>(
  counters: Pick<GatewayCounters, 'sessions'>,
): SessionRegistry<S> {
  const sessions = new Map<string, S>();
  const pending = new Set<S>();
  return {
    add(session) {
      pending.add(session);
    },
    authenticated(session, connectorId) {
      const previous = sessions.get(connectorId);
      pending.delete(session);
      sessions.set(connectorId, session);
      counters.sessions = sessions.size;
      return previous;
    },
    remove(session) {
      pending.delete(session);
      const connectorId = session.principal?.connectorId;
      if (connectorId === undefined || sessions.get(connectorId) !== session) return false;
      sessions.delete(connectorId);
      counters.sessions = sessions.size;
      return true;
    },
    byConnector: (connectorId) => sessions.get(connectorId),
    tenantSessions(tenantId, exceptConnectorId) {
      let count = 0;
      for (const [connectorId, session] of sessions)
        if (connectorId !== exceptConnectorId && session.principal?.tenantId === tenantId) count++;
      return count;
    },
    all: () => [...sessions.values(), ...pending],
  };
}
