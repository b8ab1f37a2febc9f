// Short-lived, single-use tokens that open one live stream socket: a browser cannot send an Authorization
// header with a WebSocket, and the API key must never travel in a URL. A token is the tenant, the service
// account, an expiry and a nonce, signed with HMAC-SHA256; a process accepts each nonce once.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';

const PREFIX = 'jst1';
const PURPOSE = 'stream';
/** How long a token may wait before it is used to connect. */
export const STREAM_TOKEN_TTL_MS = 60_000;

export interface StreamTokenClaims {
  tenantId: string;
  serviceAccountId: string;
  expiresAt: number;
}

export type TokenCheck =
  | { ok: true; claims: StreamTokenClaims }
  | { ok: false; reason: 'malformed' | 'signature' | 'expired' | 'used' };

/**
 * The signing key: derived from the master key when there is one, so every process of a deployment
 * accepts the tokens any of them issued; else random for this process.
 */
export function streamTokenKey(masterKey: Buffer | undefined): Buffer {
  if (masterKey === undefined) return randomBytes(32);
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'joinery stream tokens v1', 32));
}

export function createStreamTokens(options: { key: Buffer; now?: () => number }) {
  const now = options.now ?? Date.now;
  // Nonces seen, kept until their token expires anyway: bounded, a flood of tokens evicts the oldest.
  const used = new LRUCache<string, true>({ max: 100_000, ttl: STREAM_TOKEN_TTL_MS * 2 });
  const sign = (payload: string) => createHmac('sha256', options.key).update(payload).digest();

  return {
    issue(subject: Omit<StreamTokenClaims, 'expiresAt'>): { token: string; expiresAt: Date } {
      const expiresAt = now() + STREAM_TOKEN_TTL_MS;
      const payload = Buffer.from(
        JSON.stringify({
          p: PURPOSE,
          t: subject.tenantId,
          a: subject.serviceAccountId,
          e: expiresAt,
          n: randomBytes(16).toString('base64url'),
        }),
      ).toString('base64url');
      return {
        token: `${PREFIX}.${payload}.${sign(payload).toString('base64url')}`,
        expiresAt: new Date(expiresAt),
      };
    },

    /** Checks a token and spends it: the same token opens no second socket. */
    redeem(token: string): TokenCheck {
      const [prefix, payload, signature, extra] = token.split('.');
      if (prefix !== PREFIX || payload === undefined || signature === undefined || extra !== undefined)
        return { ok: false, reason: 'malformed' };
      const expected = sign(payload);
      const given = Buffer.from(signature, 'base64url');
      if (given.length !== expected.length || !timingSafeEqual(given, expected))
        return { ok: false, reason: 'signature' };
      let claims: unknown;
      try {
        claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      } catch {
        return { ok: false, reason: 'malformed' };
      }
      if (!isClaims(claims)) return { ok: false, reason: 'malformed' };
      if (claims.e <= now()) return { ok: false, reason: 'expired' };
      if (used.has(claims.n)) return { ok: false, reason: 'used' };
      used.set(claims.n, true);
      return { ok: true, claims: { tenantId: claims.t, serviceAccountId: claims.a, expiresAt: claims.e } };
    },
  };
}
export type StreamTokens = ReturnType<typeof createStreamTokens>;

function isClaims(value: unknown): value is { p: string; t: string; a: string; e: number; n: string } {
  if (typeof value !== 'object' || value === null) return false;
  const claims = value as Record<string, unknown>;
  return (
    claims.p === PURPOSE &&
    typeof claims.t === 'string' &&
    typeof claims.a === 'string' &&
    typeof claims.e === 'number' &&
    typeof claims.n === 'string'
  );
}
