// The master key: 32 bytes that encrypt every tenant's private HPKE key at rest (AES-256-GCM). It comes
// from the configuration (security.masterKey / JOINERY_MASTER_KEY); with the embedded database and no
// setting, one is generated once into <dataDir>/master.key (mode 0600), like the embedded PostgreSQL's
// password. With an external database and no setting there is none, and the agent channel is disabled:
// processes sharing a database must share the key, so Joinery does not invent one per process.
// Rotation: security.previousMasterKeys still open what they wrapped; wrapping always uses the current key,
// and each wrapped value starts with the id of the key that wrapped it (`<key id>:<base64>`).
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../../kernel/errors.ts';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The key that wraps, and the keys a rotation has not yet retired, which still unwrap. */
export interface MasterKeyring {
  current: Buffer;
  previous: readonly Buffer[];
}

export function resolveMasterKey(options: {
  configured: string | undefined;
  embeddedDatabase: boolean;
  dataDir: string;
  logger: Logger;
  /** Generate dataDir/master.key when there is none (the service); a command that only reads keys does not. */
  generate?: boolean;
}): Buffer | undefined {
  if (options.configured !== undefined) return decodeMasterKey(options.configured, 'security.masterKey');
  if (!options.embeddedDatabase) return undefined;
  const file = join(options.dataDir, 'master.key');
  try {
    return decodeMasterKey(readFileSync(file, 'utf8').trim(), file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (options.generate === false) return undefined;
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(KEY_BYTES);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  options.logger.warn(
    { file },
    'generated a master key for tenant keys (security.masterKey was not set); back it up with the data directory',
  );
  return key;
}

/** The keyring of the configuration: the master key and security.previousMasterKeys; none without a master key. */
export function resolveMasterKeyring(
  current: Buffer | undefined,
  configuredPrevious: readonly string[] | undefined,
): MasterKeyring | undefined {
  const previous = (configuredPrevious ?? []).map((text, index) =>
    decodeMasterKey(text, `security.previousMasterKeys[${String(index)}]`),
  );
  if (current === undefined) {
    if (previous.length > 0) {
      throw new ConfigError(
        'security.previousMasterKeys (JOINERY_PREVIOUS_MASTER_KEYS) is set without security.masterKey (JOINERY_MASTER_KEY): set the master key the previous ones are rotated to',
      );
    }
    return undefined;
  }
  const currentId = masterKeyId(current);
  return { current, previous: previous.filter((key) => masterKeyId(key) !== currentId) };
}

/** A master key's id, recorded with everything it wraps: the first 8 hex digits of its SHA-256. */
export function masterKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

function decodeMasterKey(text: string, where: string): Buffer {
  const key = Buffer.from(text, 'base64');
  if (key.length !== KEY_BYTES || key.toString('base64') !== text) {
    throw new ConfigError(
      `${where}: the master key must be the base64 of 32 bytes (openssl rand -base64 32)`,
    );
  }
  return key;
}

/**
 * Encrypts a private key under the current master key; `context` (tenant and key id) is bound as AAD. The
 * result is `<key id>:<base64 of iv, tag, ciphertext>`.
 */
export function wrapPrivateKey(keyring: MasterKeyring, privateKey: Uint8Array, context: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyring.current, iv);
  cipher.setAAD(Buffer.from(context));
  const ciphertext = Buffer.concat([cipher.update(privateKey), cipher.final()]);
  const sealed = Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64');
  return `${masterKeyId(keyring.current)}:${sealed}`;
}

export interface UnwrappedKey {
  privateKey: Uint8Array;
  /** Whether the current master key opened it; false: a previous one did (`joinery keys rewrap` re-wraps it). */
  current: boolean;
}

/**
 * Opens a wrapped private key with whichever configured master key wrapped it: the one its key id names
 * first, then every other (values stored before key ids were recorded have none); the GCM tag tells which
 * key fits. Undefined when none does.
 */
export function tryUnwrapPrivateKey(
  keyring: MasterKeyring,
  wrapped: string,
  context: string,
): UnwrappedKey | undefined {
  const separator = wrapped.indexOf(':');
  const keyId = separator === -1 ? undefined : wrapped.slice(0, separator);
  const bytes = Buffer.from(wrapped.slice(separator + 1), 'base64');
  const candidates = [keyring.current, ...keyring.previous];
  const named = candidates.filter((key) => masterKeyId(key) === keyId);
  for (const key of [...named, ...candidates.filter((candidate) => !named.includes(candidate))]) {
    const privateKey = decrypt(key, bytes, context);
    if (privateKey !== undefined) return { privateKey, current: key === keyring.current };
  }
  return undefined;
}

/** Opens a wrapped private key, or says which settings to fix. */
export function unwrapPrivateKey(keyring: MasterKeyring, wrapped: string, context: string): UnwrappedKey {
  const unwrapped = tryUnwrapPrivateKey(keyring, wrapped, context);
  if (unwrapped === undefined) {
    throw new ConfigError(`the ${context} does not decrypt: ${notOpenedAdvice}`);
  }
  return unwrapped;
}

/** What to do about a stored tenant key none of the configured master keys opens. */
export const notOpenedAdvice =
  'neither security.masterKey (JOINERY_MASTER_KEY) nor any of security.previousMasterKeys (JOINERY_PREVIOUS_MASTER_KEYS) is the key it was stored with — set security.masterKey to that key, or add it to security.previousMasterKeys';

function decrypt(key: Buffer, bytes: Buffer, context: string): Uint8Array | undefined {
  if (bytes.length < IV_BYTES + TAG_BYTES) return undefined;
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(context));
  decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    // The tag does not match: another key (or another context) — the caller tries the next key.
    return undefined;
  }
}
