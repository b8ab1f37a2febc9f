// Joinery encodes the records it produces itself (streams/kafka-record-encoder.ts): every byte must be
// what kafkajs's own encoder writes, or the broker would refuse the batch (CRC) or consumers misread it.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import '../../streams/kafka-client.ts';
import { encodeRecord, kafkajsRecordEncoder, type RecordInput } from '../../streams/kafka-record-encoder.ts';

const require = createRequire(import.meta.url);
const Encoder = require('kafkajs/src/protocol/encoder.js') as { prototype: object };
const asEncoder = (buffer: Buffer) =>
  Object.assign(Object.create(Encoder.prototype) as { buf: Buffer; offset: number; buffer: Buffer }, {
    buf: buffer,
    offset: buffer.length,
  });
const kafkajs = kafkajsRecordEncoder();

const pick = <T>(choices: T[]): T => choices[Math.floor(Math.random() * choices.length)] as T;
const text = (length: number) =>
  Array.from({ length }, () => pick(['a', 'Z', '0', ' ', 'é', '€', '𝄞', '"', '\n'])).join('');
const bytes = () =>
  pick([
    () => null,
    () => undefined,
    () => '',
    () => text(Math.floor(Math.random() * 40)),
    () => text(200), // a length over 63: a two-byte zig-zag varint
    () => text(9000), // a length over 8191: three bytes
    () => randomBytes(Math.floor(Math.random() * 300)),
  ])();

function randomRecord(): RecordInput {
  const headers: NonNullable<RecordInput['headers']> = {};
  for (let h = Math.floor(Math.random() * 10); h > 0; h--) {
    const name = `ce_${text(1 + Math.floor(Math.random() * 12))}`;
    headers[name] = Math.random() < 0.2 ? [text(3), randomBytes(4)] : pick([text(60), randomBytes(10), '']);
  }
  return {
    offsetDelta: pick([0, 1, 63, 64, 2000, 70_000, 2 ** 31 - 1]),
    timestampDelta: pick([0, 5, -5, 1_000_000, -(2 ** 31)]),
    key: bytes(),
    value: bytes(),
    headers,
  };
}

describe('the record encoder', () => {
  it('writes the bytes kafkajs writes, for a thousand random records', () => {
    for (let i = 0; i < 1000; i++) {
      const record = randomRecord();
      const ours = encodeRecord(record, asEncoder);
      expect(ours, JSON.stringify(record)).toBeDefined();
      expect(ours?.buffer.equals(kafkajs(record).buffer), JSON.stringify(record)).toBe(true);
    }
  });

  it('leaves to kafkajs what it does not encode itself: a 64-bit timestamp delta, a null header value', () => {
    expect(encodeRecord({ timestampDelta: 2 ** 40, value: 'v' }, asEncoder)).toBeUndefined();
    expect(encodeRecord({ value: 'v', headers: { ce_id: null } }, asEncoder)).toBeUndefined();
    expect(encodeRecord({ value: 7 as unknown as string }, asEncoder)).toBeUndefined();
  });

  it('is the one kafkajs produces with once the Kafka client is loaded', () => {
    const installed = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as ((
      record: RecordInput,
    ) => { buffer: Buffer }) & { original?: unknown };
    expect(installed.original).toBe(kafkajs);
    const record = { key: 'k', value: 'v', headers: { ce_id: '1' }, timestampDelta: 2 ** 40 };
    // Its fallback is kafkajs's encoder: the same bytes there too.
    expect(installed(record).buffer.equals(kafkajs(record).buffer)).toBe(true);
  });
});
