import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  channelAad,
  fromBase64,
  generateEncryptionKeyPair,
  generateSigningKeyPair,
  importPrivateKey,
  openBatch,
  openSecret,
  sealBatch,
  sealSecret,
  signChallenge,
  toBase64,
  verifyChallenge,
  type ChannelBinding,
} from '../../kernel/channel/sealing.ts';
import { SealedPayloadError } from '../../kernel/errors.ts';

const tenantId = randomUUID();
const connectorId = randomUUID();
const binding = (id: string, seq: number): ChannelBinding => ({
  direction: 'up',
  tenantId,
  connectorId,
  id,
  seq,
});
const text = (value: string) => new TextEncoder().encode(value);

describe('agent channel sealing', () => {
  it('opens a sealed batch in order, bound to tenant, connector, id and sequence', async () => {
    const pair = await generateEncryptionKeyPair();
    const key = await importPrivateKey(pair.privateKey);
    const sealed = await sealBatch(pair.publicKey, [
      { aad: channelAad(binding('a', 1)), plaintext: text('first') },
      { aad: channelAad(binding('b', 2)), plaintext: text('second') },
    ]);
    const items = (bindings: ChannelBinding[], ciphertexts = sealed.ciphertexts) =>
      bindings.map((item, index) => ({ aad: channelAad(item), ciphertext: ciphertexts[index] ?? '' }));

    const opened = await openBatch(key, sealed.enc, items([binding('a', 1), binding('b', 2)]));
    expect(opened.map((bytes) => new TextDecoder().decode(bytes))).toEqual(['first', 'second']);

    // Another sequence, another id, or another connector: it does not open.
    for (const moved of [
      [binding('a', 1), binding('b', 3)],
      [binding('a', 1), binding('c', 2)],
      [binding('a', 1), { ...binding('b', 2), connectorId: randomUUID() }],
    ]) {
      await expect(openBatch(key, sealed.enc, items(moved))).rejects.toThrow(
        /sealed payload 1 of the batch does not open: tampered/,
      );
    }
    const tampered = fromBase64(sealed.ciphertexts[0] ?? '');
    tampered[0] = (tampered[0] ?? 0) ^ 0xff;
    await expect(
      openBatch(
        key,
        sealed.enc,
        items([binding('a', 1), binding('b', 2)], [toBase64(tampered), sealed.ciphertexts[1] ?? '']),
      ),
    ).rejects.toBeInstanceOf(SealedPayloadError);
  });

  it('seals a password to the tenant key: no clear text in it, opened only for its tenant', async () => {
    const pair = await generateEncryptionKeyPair();
    const key = await importPrivateKey(pair.privateKey);
    const password = 'Correct-Horse-Battery-Staple-1';
    const sealed = await sealSecret({ keyId: 'k1', publicKey: pair.publicKey }, tenantId, password);
    expect(sealed.keyId).toBe('k1');
    expect(Buffer.from(sealed.ciphertext, 'base64').includes(password)).toBe(false);
    expect(await openSecret(key, tenantId, sealed)).toBe(password);
    await expect(openSecret(key, randomUUID(), sealed)).rejects.toThrow(
      /sealed secret of key k1 does not open/,
    );
    const other = await importPrivateKey((await generateEncryptionKeyPair()).privateKey);
    await expect(openSecret(other, tenantId, sealed)).rejects.toBeInstanceOf(SealedPayloadError);
  });

  it("accepts the agent's signature of the nonce only for that nonce, tenant and connector", () => {
    const pair = generateSigningKeyPair();
    const challenge = { tenantId, connectorId, nonce: 'bm9uY2U=' };
    const signature = signChallenge(pair.privateKey, challenge);
    expect(verifyChallenge(pair.publicKey, challenge, signature)).toBe(true);
    expect(verifyChallenge(pair.publicKey, { ...challenge, nonce: 'b3RoZXI=' }, signature)).toBe(false);
    expect(verifyChallenge(pair.publicKey, { ...challenge, connectorId: randomUUID() }, signature)).toBe(
      false,
    );
    expect(verifyChallenge(generateSigningKeyPair().publicKey, challenge, signature)).toBe(false);
  });
});
