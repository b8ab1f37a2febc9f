// How the logs look: JSON lines for machines, one readable line per event for a person at a terminal,
// chosen by log.format (auto, json, pretty) — and never a secret in either.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, resolveLogFormat } from '../../kernel/logger.ts';
import { loadConfig } from '../../src/config/load-config.ts';

function capture(): { text: () => string; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { text: () => chunks.join(''), stream };
}

const secrets = {
  req: { headers: { authorization: 'Bearer jny_secret-key' } },
  account: { password: 'hunter2', apiKey: 'jny_abc', secretHash: 'deadbeef', name: 'ci' },
  token: 'tok_123',
  tenantId: 't1',
};

describe('log format', () => {
  it('auto is pretty at a terminal and JSON otherwise; json and pretty are what they say', () => {
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('json', false)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
    expect(resolveLogFormat('pretty', true)).toBe('pretty');
  });

  it('is log.format, auto by default, from the file or JOINERY_LOG_FORMAT', () => {
    expect(loadConfig({ env: {} }).log).toEqual({ level: 'info', format: 'auto' });
    expect(loadConfig({ env: { JOINERY_LOG_FORMAT: 'json' } }).log.format).toBe('json');
    expect(() => loadConfig({ env: { JOINERY_LOG_FORMAT: 'fancy' } })).toThrow(
      'log.format (from JOINERY_LOG_FORMAT): must be one of auto, json, pretty, got "fancy"',
    );
  });

  it('json: one JSON object per line, secrets redacted', () => {
    const { text, stream } = capture();
    createLogger({ level: 'info', format: 'json' }, stream).info(secrets, 'request');
    const line = text();
    for (const secret of ['jny_secret-key', 'hunter2', 'jny_abc', 'deadbeef', 'tok_123'])
      expect(line).not.toContain(secret);
    expect(JSON.parse(line)).toMatchObject({
      msg: 'request',
      tenantId: 't1',
      account: { name: 'ci', password: '[redacted]' },
    });
  });

  it('pretty: a readable line (time, level, message, then the fields), secrets redacted the same', () => {
    const { text, stream } = capture();
    createLogger({ level: 'info', format: 'pretty' }, stream).info(secrets, 'request');
    const line = text();
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: request \{.*"tenantId":"t1".*\}\n$/);
    expect(line).toContain('"password":"[redacted]"');
    expect(line).not.toContain('"service"'); // the same on every line: left out
    for (const secret of ['jny_secret-key', 'hunter2', 'jny_abc', 'deadbeef', 'tok_123'])
      expect(line).not.toContain(secret);
  });

  it('auto with a destination of its own (a file, a test) writes JSON', () => {
    const { text, stream } = capture();
    createLogger({ level: 'info' }, stream).warn('careful');
    expect(JSON.parse(text())).toMatchObject({ level: 40, msg: 'careful' });
  });
});
