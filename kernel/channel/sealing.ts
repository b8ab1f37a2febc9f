// End-to-end sealing of the agent channel, shared by the agent and the API's gateway: HPKE (RFC 9180,
// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM) so that a TLS terminator, a proxy or a log sees
// only ciphertext; Ed25519 for the agent's proof of possession when it opens the channel.
// Every ciphertext is bound (AEAD associated data) to the tenant, the connector and the message it
// belongs to, so it cannot be replayed elsewhere: a tampered or moved payload fails to open.
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
  type webcrypto,
} from 'node:crypto';
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import type { SealedSecret } from '../contracts/identity-events.ts';
import { SealedPayloadError } from '../errors.ts';

export const HPKE_SUITE = 'DHKEM(X25519, HKDF-SHA256)/HKDF-SHA256/AES-256-GCM';
export const CHANNEL_PROTOCOL = 'joinery-agent/1';

/** A WebCrypto key as @hpke/core uses it (its typings name the DOM's CryptoKey, which this build has not). */
export type HpkePrivateKey = webcrypto.CryptoKey;
type HpkeKey = webcrypto.CryptoKey;
type Bytes = ArrayBuffer | ArrayBufferView;

/** The part of @hpke/core's CipherSuite used here, typed with Node's WebCrypto types. */
interface HpkeSuite {
  kem: {
    generateKeyPair(): Promise<{ publicKey: HpkeKey; privateKey: HpkeKey }>;
    serializePublicKey(key: HpkeKey): Promise<ArrayBuffer>;
    serializePrivateKey(key: HpkeKey): Promise<ArrayBuffer>;
    deserializePublicKey(key: Bytes): Promise<HpkeKey>;
    deserializePrivateKey(key: Bytes): Promise<HpkeKey>;
  };
  createSenderContext(params: { recipientPublicKey: HpkeKey; info: Bytes }): Promise<{
    enc: ArrayBuffer;
    seal(plaintext: Bytes, aad: Bytes): Promise<ArrayBuffer>;
  }>;
  createRecipientContext(params: { recipientKey: HpkeKey; enc: Bytes; info: Bytes }): Promise<{
    open(ciphertext: Bytes, aad: Bytes): Promise<ArrayBuffer>;
  }>;
  seal(
    params: { recipientPublicKey: HpkeKey; info: Bytes },
    plaintext: Bytes,
    aad: Bytes,
  ): Promise<{ ct: ArrayBuffer; enc: ArrayBuffer }>;
  open(
    params: { recipientKey: HpkeKey; enc: Bytes; info: Bytes },
    ciphertext: Bytes,
    aad: Bytes,
  ): Promise<ArrayBuffer>;
}

// Stateless algorithm parameters (no keys): one instance serves every seal and open.
const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm(),
}) as unknown as HpkeSuite;
const ENC_BYTES = 32;
const text = new TextEncoder();
const channelInfo = text.encode('joinery-agent-channel/v1');
const secretInfo = text.encode('joinery-secret/v1');

/** Raw X25519 keys, base64. */
export interface EncryptionKeyPair {
  publicKey: string;
  privateKey: string;
}

export async function generateEncryptionKeyPair(): Promise<EncryptionKeyPair> {
  const pair = await suite.kem.generateKeyPair();
  return {
    publicKey: toBase64(await suite.kem.serializePublicKey(pair.publicKey)),
    privateKey: toBase64(await suite.kem.serializePrivateKey(pair.privateKey)),
  };
}

export async function importPrivateKey(privateKey: string): Promise<HpkePrivateKey> {
  try {
    return await suite.kem.deserializePrivateKey(fromBase64(privateKey));
  } catch (error) {
    throw new SealedPayloadError('the X25519 private key is malformed', { cause: error });
  }
}

async function importPublicKey(publicKey: string): Promise<HpkeKey> {
  const raw = fromBase64(publicKey);
  if (raw.length !== 32) throw new SealedPayloadError('an X25519 public key is 32 bytes (base64)');
  return suite.kem.deserializePublicKey(raw);
}

/** What one channel ciphertext is bound to. */
export interface ChannelBinding {
  /** up: agent → API message; result: agent → API export result; down: API → agent export. */
  direction: 'up' | 'result' | 'down';
  tenantId: string;
  connectorId: string;
  /** The message id (up), or the export id (result, down). */
  id: string;
  /** The agent's queue sequence (up only): a changed sequence fails to open too. */
  seq?: number;
}

export function channelAad(binding: ChannelBinding): Uint8Array {
  return text.encode(
    [
      CHANNEL_PROTOCOL,
      binding.direction,
      binding.tenantId,
      binding.connectorId,
      binding.id,
      binding.seq === undefined ? '' : String(binding.seq),
    ].join('|'),
  );
}

/**
 * Seals several payloads to one recipient with a single HPKE encapsulation (one X25519 agreement per
 * batch); each payload is its own AEAD ciphertext with its own associated data, opened in order.
 */
export async function sealBatch(
  recipientPublicKey: string,
  items: { aad: Uint8Array; plaintext: Uint8Array }[],
): Promise<{ enc: string; ciphertexts: string[] }> {
  const sender = await suite.createSenderContext({
    recipientPublicKey: await importPublicKey(recipientPublicKey),
    info: channelInfo,
  });
  const ciphertexts: string[] = [];
  for (const item of items) ciphertexts.push(toBase64(await sender.seal(item.plaintext, item.aad)));
  return { enc: toBase64(sender.enc), ciphertexts };
}

/** Opens a sealed batch in order; any payload that does not open fails the whole batch. */
export async function openBatch(
  recipientKey: HpkePrivateKey,
  enc: string,
  items: { aad: Uint8Array; ciphertext: string }[],
): Promise<Uint8Array[]> {
  let recipient;
  try {
    recipient = await suite.createRecipientContext({ recipientKey, enc: fromBase64(enc), info: channelInfo });
  } catch (error) {
    throw new SealedPayloadError('the sealed batch does not open: bad encapsulated key', { cause: error });
  }
  const opened: Uint8Array[] = [];
  for (const [index, item] of items.entries()) {
    try {
      opened.push(new Uint8Array(await recipient.open(fromBase64(item.ciphertext), item.aad)));
    } catch (error) {
      throw new SealedPayloadError(
        `sealed payload ${String(index)} of the batch does not open: tampered, or not bound to this tenant, connector and id`,
        { cause: error, details: { index } },
      );
    }
  }
  return opened;
}

/** Seals a secret (a captured password) to the tenant's key: `ciphertext` is base64(enc || ct). */
export async function sealSecret(
  tenantKey: { keyId: string; publicKey: string },
  tenantId: string,
  secret: string,
): Promise<SealedSecret> {
  const sealed = await suite.seal(
    { recipientPublicKey: await importPublicKey(tenantKey.publicKey), info: secretInfo },
    text.encode(secret),
    text.encode(tenantId),
  );
  return { keyId: tenantKey.keyId, ciphertext: toBase64(concat(sealed.enc, sealed.ct)) };
}

export async function openSecret(
  privateKey: HpkePrivateKey,
  tenantId: string,
  sealed: SealedSecret,
): Promise<string> {
  const bytes = fromBase64(sealed.ciphertext);
  if (bytes.length <= ENC_BYTES)
    throw new SealedPayloadError(`sealed secret of key ${sealed.keyId} is too short`);
  try {
    const plaintext = await suite.open(
      { recipientKey: privateKey, enc: bytes.subarray(0, ENC_BYTES), info: secretInfo },
      bytes.subarray(ENC_BYTES),
      text.encode(tenantId),
    );
    return new TextDecoder().decode(plaintext);
  } catch (error) {
    throw new SealedPayloadError(
      `sealed secret of key ${sealed.keyId} does not open: tampered, or sealed for another tenant or key`,
      { cause: error },
    );
  }
}

/** An Ed25519 key pair: public key raw (base64), private key PKCS#8 DER (base64). */
export interface SigningKeyPair {
  publicKey: string;
  privateKey: string;
}

export function generateSigningKeyPair(): SigningKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicKey: rawEd25519PublicKey(publicKey),
    privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
  };
}

function rawEd25519PublicKey(key: KeyObject): string {
  const { x } = key.export({ format: 'jwk' });
  if (x === undefined) throw new Error('an Ed25519 public key without x');
  return Buffer.from(x, 'base64url').toString('base64');
}

/** What the agent signs to open the channel: a fresh server nonce bound to its tenant and connector. */
export interface ChallengeBinding {
  tenantId: string;
  connectorId: string;
  nonce: string;
}

function challengeBytes(binding: ChallengeBinding): Buffer {
  return Buffer.from(
    [CHANNEL_PROTOCOL, 'hello', binding.tenantId, binding.connectorId, binding.nonce].join('|'),
  );
}

export function signChallenge(privateKey: string, binding: ChallengeBinding): string {
  const key = createPrivateKey({ key: Buffer.from(privateKey, 'base64'), format: 'der', type: 'pkcs8' });
  return sign(null, challengeBytes(binding), key).toString('base64');
}

export function verifyChallenge(publicKey: string, binding: ChallengeBinding, signature: string): boolean {
  const raw = fromBase64(publicKey);
  if (raw.length !== 32) return false;
  const key = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') },
    format: 'jwk',
  });
  return verify(null, challengeBytes(binding), key, fromBase64(signature));
}

export function toBase64(bytes: ArrayBuffer | Uint8Array): string {
  return Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString('base64');
}

export function fromBase64(value: string): Uint8Array<ArrayBuffer> {
  const buffer = Buffer.from(value, 'base64');
  const copy = new Uint8Array(new ArrayBuffer(buffer.length));
  copy.set(buffer);
  return copy;
}

function concat(a: ArrayBuffer, b: ArrayBuffer): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(new Uint8Array(a), 0);
  out.set(new Uint8Array(b), a.byteLength);
  return out;
}
