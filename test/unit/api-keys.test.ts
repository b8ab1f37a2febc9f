import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateApiKey, parseApiKey, secretMatches } from '../../src/tenancy/api-keys.ts';

describe('API keys', () => {
  it('carry the service account id and a secret whose hash is all that is stored', () => {
    const id = randomUUID();
    const { key, secretHash } = generateApiKey(id);
    const parsed = parseApiKey(key);
    expect(parsed?.serviceAccountId).toBe(id);
    expect(secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(secretHash).not.toContain(parsed?.secret);
    expect(secretMatches(parsed?.secret ?? '', secretHash)).toBe(true);
  });

  it('are different every time', () => {
    const id = randomUUID();
    expect(generateApiKey(id).key).not.toBe(generateApiKey(id).key);
  });

  it('do not match another key of the same account', () => {
    const id = randomUUID();
    const first = generateApiKey(id);
    const second = parseApiKey(generateApiKey(id).key);
    expect(secretMatches(second?.secret ?? '', first.secretHash)).toBe(false);
  });

  it('reject text that is not shaped like a key', () => {
    for (const text of [
      '',
      'Bearer x',
      'jny_abc_def',
      `jny_${'0'.repeat(32)}_short`,
      `xyz_${'0'.repeat(32)}_${'a'.repeat(43)}`,
    ]) {
      expect(parseApiKey(text)).toBeUndefined();
    }
  });
});
