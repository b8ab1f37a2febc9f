import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../kernel/errors.ts';
import {
  masterKeyId,
  resolveMasterKeyring,
  tryUnwrapPrivateKey,
  unwrapPrivateKey,
  wrapPrivateKey,
} from '../../src/agent-gateway/master-key.ts';

const context = 'tenant 7d1f0c8e-0000-4000-8000-000000000001 key 0b4e7a52-0000-4000-8000-000000000002';
const privateKey = () => new Uint8Array(randomBytes(32));

/** How a tenant key was wrapped before master keys had ids: base64 of iv, tag, ciphertext, no prefix. */
function wrapUnprefixed(masterKey: Buffer, plaintext: Uint8Array, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
  cipher.setAAD(Buffer.from(aad));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64');
}

describe('the master key', () => {
  const a = randomBytes(32);
  const b = randomBytes(32);

  it('wraps under the current key and records its id: the first 8 hex digits of its SHA-256', () => {
    const wrapped = wrapPrivateKey({ current: b, previous: [a] }, privateKey(), context);
    expect(masterKeyId(b)).toMatch(/^[0-9a-f]{8}$/);
    expect(wrapped.startsWith(`${masterKeyId(b)}:`)).toBe(true);
    expect(() => Buffer.from(wrapped.slice(9), 'base64')).not.toThrow();
  });

  it('opens what the current key wrapped, and says so', () => {
    const raw = privateKey();
    const opened = unwrapPrivateKey(
      { current: a, previous: [] },
      wrapPrivateKey({ current: a, previous: [] }, raw, context),
      context,
    );
    expect(opened).toEqual({ privateKey: Buffer.from(raw), current: true });
  });

  it('opens with a previous key what that key wrapped, while wrapping with the new one', () => {
    const raw = privateKey();
    const underA = wrapPrivateKey({ current: a, previous: [] }, raw, context);
    const rotated = { current: b, previous: [a] };
    expect(unwrapPrivateKey(rotated, underA, context)).toEqual({
      privateKey: Buffer.from(raw),
      current: false,
    });
    const underB = wrapPrivateKey(rotated, raw, context);
    expect(underB.startsWith(`${masterKeyId(b)}:`)).toBe(true);
    expect(unwrapPrivateKey({ current: b, previous: [] }, underB, context).current).toBe(true);
    // A process still on A, with B added as a previous key first, opens what B wrapped.
    expect(unwrapPrivateKey({ current: a, previous: [b] }, underB, context).current).toBe(false);
  });

  it('reads the old format without a key id, under the current or a previous key', () => {
    const raw = privateKey();
    const old = wrapUnprefixed(a, raw, context);
    expect(unwrapPrivateKey({ current: a, previous: [] }, old, context)).toEqual({
      privateKey: Buffer.from(raw),
      current: true,
    });
    expect(unwrapPrivateKey({ current: b, previous: [a] }, old, context)).toEqual({
      privateKey: Buffer.from(raw),
      current: false,
    });
  });

  it('opens nothing with a wrong key or another context, and says which settings to fix', () => {
    const wrapped = wrapPrivateKey({ current: a, previous: [] }, privateKey(), context);
    expect(tryUnwrapPrivateKey({ current: b, previous: [] }, wrapped, context)).toBeUndefined();
    expect(tryUnwrapPrivateKey({ current: a, previous: [] }, wrapped, `${context}x`)).toBeUndefined();
    expect(tryUnwrapPrivateKey({ current: a, previous: [] }, 'ffffffff:AAAA', context)).toBeUndefined();
    expect(() => unwrapPrivateKey({ current: b, previous: [randomBytes(32)] }, wrapped, context)).toThrow(
      /security\.masterKey \(JOINERY_MASTER_KEY\) nor any of security\.previousMasterKeys/,
    );
  });

  it('validates the previous keys like the master key, and wants a master key with them', () => {
    expect(resolveMasterKeyring(b, [a.toString('base64'), b.toString('base64')])).toEqual({
      current: b,
      previous: [a],
    });
    expect(resolveMasterKeyring(undefined, undefined)).toBeUndefined();
    expect(() => resolveMasterKeyring(b, ['c2hvcnQ='])).toThrow(ConfigError);
    expect(() => resolveMasterKeyring(b, ['c2hvcnQ='])).toThrow(
      /^security\.previousMasterKeys\[0\]: the master key must be the base64 of 32 bytes/,
    );
    expect(() => resolveMasterKeyring(undefined, [a.toString('base64')])).toThrow(
      /security\.previousMasterKeys \(JOINERY_PREVIOUS_MASTER_KEYS\) is set without security\.masterKey/,
    );
  });
});
