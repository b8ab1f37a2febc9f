import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../kernel/logger.ts';

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, stream };
}

describe('logs', () => {
  it('are JSON events that never contain credentials', () => {
    const { lines, stream } = capture();
    const logger = createLogger({ level: 'info' }, stream);
    logger.info(
      {
        req: { headers: { authorization: 'Bearer jny_secret-key' } },
        account: { password: 'hunter2', apiKey: 'jny_abc', secretHash: 'deadbeef', name: 'ci' },
        tenantId: 't1',
      },
      'request',
    );
    const line = lines.join('');
    for (const secret of ['jny_secret-key', 'hunter2', 'jny_abc', 'deadbeef'])
      expect(line).not.toContain(secret);
    expect(JSON.parse(line)).toMatchObject({
      msg: 'request',
      tenantId: 't1',
      account: { name: 'ci', password: '[redacted]' },
    });
  });
});
