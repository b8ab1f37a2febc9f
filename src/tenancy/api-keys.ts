// API keys of service accounts: `jny_<account id>_<secret>`. The account id finds the row; only the
// SHA-256 of the 256-bit secret is stored, and it is compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const KEY_PATTERN = /^jny_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

export interface ApiKey {
  serviceAccountId: string;
  secret: string;
}

export function generateApiKey(serviceAccountId: string): { key: string; secretHash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { key: `jny_${serviceAccountId.replaceAll('-', '')}_${secret}`, secretHash: hashSecret(secret) };
}

/** Undefined when the text is not shaped like a Joinery API key. */
export function parseApiKey(text: string): ApiKey | undefined {
  const match = KEY_PATTERN.exec(text);
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  const hex = match[1];
  const serviceAccountId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { serviceAccountId, secret: match[2] };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const actual = Buffer.from(hashSecret(secret), 'hex');
  const expected = Buffer.from(storedHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
