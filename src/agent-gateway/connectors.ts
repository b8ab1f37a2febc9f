// Connectors (on-prem agents): creation with a one-time client key, enrolment that consumes it and
// records the agent's public keys, the channel's proof of possession, heartbeats and revocation.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type {
  ChannelParameters,
  EnrolmentRequest,
  EnrolmentResponse,
} from '../../kernel/channel/protocol.ts';
import { verifyChallenge } from '../../kernel/channel/sealing.ts';
import { ConflictError, NotFoundError, UnauthenticatedError, ValidationError } from '../../kernel/errors.ts';
import { Application } from '../storage/entities/application.entity.ts';
import { Connector, type AgentHealth } from '../storage/entities/connector.entity.ts';
import { Tenant } from '../storage/entities/tenant.entity.ts';
import type { TenantKeys } from './tenant-keys.ts';
import { insertOutbox, type OutboxRow } from '../../streams/outbox.ts';

const CLIENT_KEY_PATTERN = /^jnyc_([A-Za-z0-9_-]{43})$/;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface IssuedConnector {
  tenantId: string;
  connectorId: string;
  name: string;
  applicationIds: string[];
  /** The only time the client key exists in clear. */
  clientKey: string;
}

function hashClientKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

function clientKeyMatches(key: string, storedHash: string): boolean {
  const actual = Buffer.from(hashClientKey(key), 'hex');
  const expected = Buffer.from(storedHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * Resolves application references (ids or names) of the tenant `em` is scoped to. An unknown one is a
 * ValidationError naming its position in the body, e.g. /applications/1.
 */
export async function resolveApplications(em: EntityManager, references: string[]): Promise<string[]> {
  const ids = references.filter((reference) => UUID_PATTERN.test(reference));
  const applications = await em.find(Application, {
    $or: [{ id: { $in: ids.map((id) => id.toLowerCase()) } }, { name: { $in: references } }],
  });
  const resolved: string[] = [];
  for (const [index, reference] of references.entries()) {
    const match = applications.find(
      (application) => application.id === reference.toLowerCase() || application.name === reference,
    );
    if (match === undefined) {
      throw new ValidationError(
        `body/applications/${String(index)}: no application "${reference}" in this tenant (give its name or id)`,
        { details: { path: `/applications/${String(index)}` } },
      );
    }
    if (!resolved.includes(match.id)) resolved.push(match.id);
  }
  return resolved;
}

/** Creates a connector in the tenant `em` is scoped to; its client key is returned once. */
export async function createConnector(
  em: EntityManager,
  tenantId: string,
  body: { name: string; applications: string[] },
): Promise<IssuedConnector> {
  const applicationIds = await resolveApplications(em, body.applications);
  const clientKey = `jnyc_${randomBytes(32).toString('base64url')}`;
  const connector = em.create(Connector, {
    id: randomUUID(),
    tenant: em.getReference(Tenant, tenantId),
    name: body.name,
    applicationIds,
    enrolmentState: 'awaiting-enrolment',
    clientKeyHash: hashClientKey(clientKey),
    clientKeyUsedAt: null,
    agentEncryptionKey: null,
    agentSigningKey: null,
    enrolledAt: null,
    revokedAt: null,
    lastConnectedAt: null,
    lastHeartbeatAt: null,
    agentVersion: null,
    health: null,
    queueDepth: null,
    lastProducedSeq: 0,
    createdAt: new Date(),
  });
  try {
    await em.flush();
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException) {
      throw new ConflictError(`a connector named "${body.name}" already exists in this tenant`, {
        cause: error,
      });
    }
    throw error;
  }
  return { tenantId, connectorId: connector.id, name: connector.name, applicationIds, clientKey };
}

export type ConnectorStatus = 'awaiting-enrolment' | 'enrolled' | 'revoked';

export interface ConnectorView {
  id: string;
  name: string;
  applicationIds: string[];
  status: ConnectorStatus;
  enrolled: boolean;
  /** A heartbeat arrived within three heartbeat intervals (true whichever API process holds the channel). */
  connected: boolean;
  enrolledAt: string | null;
  revokedAt: string | null;
  lastConnectedAt: string | null;
  lastHeartbeat: {
    at: string;
    agentVersion: string | null;
    health: AgentHealth | null;
    queueDepth: number | null;
  } | null;
  createdAt: string;
}

export function presentConnector(connector: Connector, now: Date, heartbeatMs: number): ConnectorView {
  const status: ConnectorStatus = connector.revokedAt != null ? 'revoked' : connector.enrolmentState;
  const heartbeatAt = connector.lastHeartbeatAt ?? null;
  return {
    id: connector.id,
    name: connector.name,
    applicationIds: connector.applicationIds,
    status,
    enrolled: connector.enrolmentState === 'enrolled',
    connected:
      status === 'enrolled' &&
      heartbeatAt !== null &&
      now.getTime() - heartbeatAt.getTime() < 3 * heartbeatMs,
    enrolledAt: connector.enrolledAt?.toISOString() ?? null,
    revokedAt: connector.revokedAt?.toISOString() ?? null,
    lastConnectedAt: connector.lastConnectedAt?.toISOString() ?? null,
    lastHeartbeat:
      heartbeatAt === null
        ? null
        : {
            at: heartbeatAt.toISOString(),
            agentVersion: connector.agentVersion ?? null,
            health: connector.health ?? null,
            queueDepth: connector.queueDepth ?? null,
          },
    createdAt: connector.createdAt.toISOString(),
  };
}

/** Revokes a connector of the tenant `em` is scoped to: its agent is refused from now on. */
export async function revokeConnector(em: EntityManager, connectorId: string): Promise<Connector> {
  const connector = await em.findOne(Connector, { id: connectorId });
  if (connector === null) {
    throw new NotFoundError(`connector ${connectorId} not found`, { details: { connectorId } });
  }
  connector.revokedAt ??= new Date();
  await em.flush();
  return connector;
}

const refused = (): UnauthenticatedError =>
  new UnauthenticatedError(
    'enrolment refused: unknown tenant or connector, wrong client key, or a revoked connector',
  );

/**
 * Consumes a connector's one-time client key and records the agent's public keys. A retry with the same
 * key and the same public keys (the first answer was lost) gets the same answer; any other second use is
 * refused. `em` is unscoped: the tenant is what the request claims, checked against the connector.
 */
export async function enrolAgent(
  em: EntityManager,
  tenantKeys: TenantKeys,
  request: EnrolmentRequest,
  channel: ChannelParameters,
): Promise<EnrolmentResponse> {
  if (!CLIENT_KEY_PATTERN.test(request.clientKey)) throw refused();
  const connector = await em.fork().transactional(async (tx) => {
    const found = await tx.findOne(
      Connector,
      { id: request.connectorId },
      { filters: false, lockMode: LockMode.PESSIMISTIC_WRITE },
    );
    if (
      found === null ||
      found.tenant.id !== request.tenantId ||
      found.revokedAt != null ||
      !clientKeyMatches(request.clientKey, found.clientKeyHash)
    ) {
      throw refused();
    }
    if (found.clientKeyUsedAt != null) {
      const sameAgent =
        found.agentEncryptionKey === request.publicKeys.x25519 &&
        found.agentSigningKey === request.publicKeys.ed25519;
      if (!sameAgent) {
        throw new ConflictError(
          'this client key was already used to enrol an agent: create a new connector (POST /v1/connectors) for another agent',
        );
      }
      return found;
    }
    const now = new Date();
    found.clientKeyUsedAt = now;
    found.enrolledAt = now;
    found.enrolmentState = 'enrolled';
    found.agentEncryptionKey = request.publicKeys.x25519;
    found.agentSigningKey = request.publicKeys.ed25519;
    found.agentVersion = request.agentVersion ?? null;
    found.lastProducedSeq = 0;
    return found;
  });
  // Only once the connector is proven: a claimed tenant that does not exist must be refused, not get a
  // key row (a retry after a failure here gets the same answer: same agent, same public keys).
  const tenantKey = await tenantKeys.publicKey(request.tenantId);
  return {
    tenantId: request.tenantId,
    connectorId: connector.id,
    applicationIds: connector.applicationIds,
    tenantKey,
    channel,
  };
}

/** The connector an authenticated channel speaks for. */
export interface AgentPrincipal {
  tenantId: string;
  connectorId: string;
  name: string;
  applicationIds: string[];
  /** The agent's X25519 public key: exports are sealed to it. */
  encryptionKey: string;
  lastProducedSeq: number;
}

/** Checks the agent's signature of the channel's nonce against the key it enrolled with. */
export async function authenticateAgent(
  em: EntityManager,
  hello: { tenantId: string; connectorId: string; signature: string },
  nonce: string,
): Promise<AgentPrincipal> {
  const connector = await em.fork().findOne(Connector, { id: hello.connectorId }, { filters: false });
  const unauthenticated = new UnauthenticatedError(
    'channel refused: unknown tenant or connector, not enrolled, or a bad signature',
  );
  if (
    connector === null ||
    connector.tenant.id !== hello.tenantId ||
    connector.agentSigningKey == null ||
    connector.agentEncryptionKey == null
  ) {
    throw unauthenticated;
  }
  const binding = { tenantId: hello.tenantId, connectorId: hello.connectorId, nonce };
  let valid: boolean;
  try {
    valid = verifyChallenge(connector.agentSigningKey, binding, hello.signature);
  } catch {
    valid = false; // a malformed signature is just a wrong one
  }
  if (!valid) throw unauthenticated;
  if (connector.revokedAt != null) {
    throw new UnauthenticatedError(
      `connector ${connector.id} was revoked at ${connector.revokedAt.toISOString()}: enrol a new connector`,
    );
  }
  return {
    tenantId: hello.tenantId,
    connectorId: connector.id,
    name: connector.name,
    applicationIds: connector.applicationIds,
    encryptionKey: connector.agentEncryptionKey,
    lastProducedSeq: Number(connector.lastProducedSeq),
  };
}

/** Stores a heartbeat; answers whether the connector has been revoked meanwhile. */
export async function recordHeartbeat(
  em: EntityManager,
  connectorId: string,
  heartbeat: { version: string; health: AgentHealth; queueDepth: number; connected?: boolean },
  /** Messages that tell of this heartbeat (a connection), written in its transaction. */
  told: readonly OutboxRow[] = [],
): Promise<{ revoked: boolean }> {
  return em.fork().transactional(async (tx) => {
    const connector = await tx.findOne(Connector, { id: connectorId }, { filters: false });
    // Revoked (or deleted) since the agent authenticated: nothing of it is recorded, nothing told.
    if (connector === null || connector.revokedAt != null) return { revoked: true };
    const now = new Date();
    connector.lastHeartbeatAt = now;
    connector.agentVersion = heartbeat.version;
    connector.health = heartbeat.health;
    connector.queueDepth = heartbeat.queueDepth;
    if (heartbeat.connected === true) connector.lastConnectedAt = now;
    await tx.flush();
    await insertOutbox(tx, told);
    return { revoked: false };
  });
}
