// The master key: 32 bytes that encrypt every tenant's private HPKE key at rest (AES-256-GCM). It comes
// from the configuration (security.masterKey / JOINERY_MASTER_KEY); with the embedded database and no
// setting, one is generated once into <dataDir>/master.key (mode 0600), like the embedded PostgreSQL's
// password. With an external database and no setting there is none, and the agent channel is disabled:
// processes sharing a database must share the key, so Joinery does not invent one per process.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../../kernel/errors.ts';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function resolveMasterKey(options: {
  configured: string | undefined;
  embeddedDatabase: boolean;
  dataDir: string;
  logger: Logger;
}): Buffer | undefined {
  if (options.configured !== undefined) return decodeMasterKey(options.configured, 'security.masterKey');
  if (!options.embeddedDatabase) return undefined;
  const file = join(options.dataDir, 'master.key');
  try {
    return decodeMasterKey(readFileSync(file, 'utf8').trim(), file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
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

function decodeMasterKey(text: string, where: string): Buffer {
  const key = Buffer.from(text, 'base64');
  if (key.length !== KEY_BYTES || key.toString('base64') !== text) {
    throw new ConfigError(
      `${where}: the master key must be the base64 of 32 bytes (openssl rand -base64 32)`,
    );
  }
  return key;
}

/** Encrypts a private key under the master key; `context` (tenant and key id) is bound as AAD. */
export function wrapPrivateKey(masterKey: Buffer, privateKey: Uint8Array, context: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
  cipher.setAAD(Buffer.from(context));
  const ciphertext = Buffer.concat([cipher.update(privateKey), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64');
}

export function unwrapPrivateKey(masterKey: Buffer, wrapped: string, context: string): Uint8Array {
  const bytes = Buffer.from(wrapped, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', masterKey, bytes.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(context));
  decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch (error) {
    throw new ConfigError(
      `the tenant key for ${context} does not decrypt: security.masterKey is not the key it was stored with`,
      { cause: error },
    );
  }
}
