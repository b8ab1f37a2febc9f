// Connectors (on-prem agents) of a tenant, and the tenant's HPKE key pair that agents seal payloads and
// captured passwords to. A connector is created with a one-time client key (only its hash is kept); the
// agent enrols with it once, giving its public keys, and from then on authenticates with its Ed25519 key.
import { defineEntity, p } from '@mikro-orm/core';
import { Tenant } from './tenant.entity.ts';
import { tenantFilter } from './tenant-filter.ts';

/** awaiting-enrolment (created, client key unused) → enrolled (the agent's public keys are known). */
export const enrolmentStates = ['awaiting-enrolment', 'enrolled'] as const;
export type EnrolmentState = (typeof enrolmentStates)[number];

/** What the agent last reported about itself. */
export interface AgentHealth {
  status: 'ok' | 'degraded' | 'failing';
  /** Short problem descriptions (no attribute values), e.g. "directory unreachable". */
  problems?: string[];
}

const ConnectorSchema = defineEntity({
  name: 'Connector',
  tableName: 'connector',
  properties: {
    id: p.uuid().primary(),
    tenant: () => p.manyToOne(Tenant).deleteRule('cascade'),
    name: p.string().length(200),
    /** The applications the agent reads and writes; its messages may name only these. */
    applicationIds: p.json<string[]>(),
    enrolmentState: p.enum(enrolmentStates).default('awaiting-enrolment'),
    /** SHA-256 of the one-time client key's secret, hex. Kept after use, to say "already used". */
    clientKeyHash: p.string().length(64).hidden(),
    clientKeyUsedAt: p.datetime().nullable(),
    /** The agent's X25519 public key (raw, base64): the gateway seals export instructions to it. */
    agentEncryptionKey: p.string().length(64).nullable(),
    /** The agent's Ed25519 public key (raw, base64): it signs the channel's challenge with it. */
    agentSigningKey: p.string().length(64).nullable(),
    enrolledAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
    lastConnectedAt: p.datetime().nullable(),
    lastHeartbeatAt: p.datetime().nullable(),
    agentVersion: p.string().length(64).nullable(),
    health: p.json<AgentHealth>().nullable(),
    queueDepth: p.integer().nullable(),
    /** The highest agent queue sequence produced to the bus: a redelivered message at or below it is skipped. */
    lastProducedSeq: p.bigint('number').default(0),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  uniques: [{ properties: ['tenant', 'name'] }],
  filters: tenantFilter,
});

export class Connector extends ConnectorSchema.class {}
ConnectorSchema.setClass(Connector);
export { ConnectorSchema };

const TenantKeySchema = defineEntity({
  name: 'TenantKey',
  tableName: 'tenant_key',
  properties: {
    /** The SealedSecret.keyId of everything sealed to this key. */
    keyId: p.uuid().primary(),
    /** One key pair per tenant (rotation would add rows; not yet). */
    tenant: () => p.manyToOne(Tenant).deleteRule('cascade').unique(),
    /** The HPKE suite, e.g. DHKEM(X25519, HKDF-SHA256)/HKDF-SHA256/AES-256-GCM. */
    suite: p.string().length(128),
    /** Raw X25519 public key, base64. */
    publicKey: p.string().length(64),
    /**
     * The private key encrypted with the master key: `<master key id>:<base64 of AES-256-GCM iv, tag,
     * ciphertext>` (without the id and colon when stored before master key rotation).
     */
    sealedPrivateKey: p.text().hidden(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  filters: tenantFilter,
});

export class TenantKey extends TenantKeySchema.class {}
TenantKeySchema.setClass(TenantKey);
export { TenantKeySchema };
