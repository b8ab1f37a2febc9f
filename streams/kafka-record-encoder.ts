// kafkajs encodes each record of a produce request with one Encoder for the record and one per header,
// each starting as a zero-filled 512-byte Buffer, and writes every varint through a throwaway Buffer:
// a CloudEvents message with its eight ce_* headers took ~35 µs to encode here, most of the outbox
// relay's time. This encoder writes the same bytes (Kafka's record format, v2 batches) into one buffer
// sized in advance, ~5x faster.
//
// kafkajs takes its record encoder from one module (`recordBatch/record/v0`), required lazily by the
// produce request on first use; installRecordEncoder() replaces that module's export before then. kafkajs
// 2.2.4 is pinned (package.json), and the install checks, on sample records, that both encoders give the
// same bytes: if a kafkajs release ever changed them, kafkajs keeps its own.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

type Bytes = Buffer | string | null | undefined;

export interface RecordInput {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: Bytes;
  value?: Bytes;
  headers?: Record<string, Bytes | Bytes[]>;
}

/** What kafkajs's record encoder returns: an Encoder whose `buffer` is the record's bytes. */
interface EncodedRecord {
  buf: Buffer;
  offset: number;
  readonly buffer: Buffer;
}

type RecordEncoder = (record: RecordInput) => EncodedRecord;

const recordModule = 'kafkajs/src/protocol/recordBatch/record/v0/index.js';
const encoderModule = 'kafkajs/src/protocol/encoder.js';

const isInt32 = (value: number) => Number.isInteger(value) && value >= -0x80000000 && value <= 0x7fffffff;
const zigZag = (value: number) => ((value << 1) ^ (value >> 31)) >>> 0;

function sizeOfUVarInt(value: number): number {
  let bytes = 1;
  while (value > 0x7f) {
    bytes++;
    value >>>= 7;
  }
  return bytes;
}

function writeUVarInt(buffer: Buffer, offset: number, value: number): number {
  while (value > 0x7f) {
    buffer[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buffer[offset++] = value;
  return offset;
}

/** A record's key, value or header value: its byte length (-1 for null) once, and how to write it. */
class Field {
  readonly bytes: Buffer | string | null;
  readonly length: number;
  constructor(bytes: Buffer | string | null) {
    this.bytes = bytes;
    this.length = bytes === null ? -1 : typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length;
  }
  get size(): number {
    return sizeOfUVarInt(zigZag(this.length)) + Math.max(this.length, 0);
  }
  write(buffer: Buffer, offset: number): number {
    offset = writeUVarInt(buffer, offset, zigZag(this.length));
    if (this.bytes === null) return offset;
    if (typeof this.bytes === 'string') buffer.write(this.bytes, offset, this.length, 'utf8');
    else this.bytes.copy(buffer, offset);
    return offset + this.length;
  }
}

const fieldOf = (bytes: Bytes): Field | undefined =>
  bytes === undefined || bytes === null
    ? new Field(null)
    : typeof bytes === 'string' || Buffer.isBuffer(bytes)
      ? new Field(bytes)
      : undefined;

/**
 * The record in one buffer, or undefined when it is not the plain shape this encoder knows (a timestamp
 * delta beyond 32 bits, a value that is neither string nor Buffer, a null header value): those go
 * to kafkajs's own encoder, which handles them (or throws) as it always did.
 */
export function encodeRecord(
  record: RecordInput,
  newEncoder: (buffer: Buffer) => EncodedRecord,
): EncodedRecord | undefined {
  const { offsetDelta = 0, timestampDelta = 0, headers = {} } = record;
  if (!isInt32(offsetDelta) || !isInt32(timestampDelta)) return undefined;
  const key = fieldOf(record.key);
  const value = fieldOf(record.value);
  if (key === undefined || value === undefined) return undefined;
  const headerFields: [Field, Field][] = [];
  for (const name of Object.keys(headers)) {
    const values = headers[name];
    for (const headerValue of Array.isArray(values) ? values : [values]) {
      // kafkajs fails on a null or undefined header value: left to it, so it still does.
      if (typeof headerValue !== 'string' && !Buffer.isBuffer(headerValue)) return undefined;
      headerFields.push([new Field(name), new Field(headerValue)]);
    }
  }
  let headersSize = sizeOfUVarInt(zigZag(headerFields.length));
  for (const [name, field] of headerFields) headersSize += name.size + field.size;
  const bodySize =
    1 + // attributes, always 0
    sizeOfUVarInt(zigZag(timestampDelta)) +
    sizeOfUVarInt(zigZag(offsetDelta)) +
    key.size +
    value.size +
    headersSize;
  const buffer = Buffer.allocUnsafe(sizeOfUVarInt(zigZag(bodySize)) + bodySize);
  let offset = writeUVarInt(buffer, 0, zigZag(bodySize));
  buffer[offset++] = 0;
  offset = writeUVarInt(buffer, offset, zigZag(timestampDelta));
  offset = writeUVarInt(buffer, offset, zigZag(offsetDelta));
  offset = key.write(buffer, offset);
  offset = value.write(buffer, offset);
  offset = writeUVarInt(buffer, offset, zigZag(headerFields.length));
  for (const [name, field] of headerFields) offset = field.write(buffer, name.write(buffer, offset));
  return newEncoder(buffer);
}

type InstalledEncoder = RecordEncoder & { original?: RecordEncoder };

/** kafkajs's own record encoder, installed over or not. */
export function kafkajsRecordEncoder(): RecordEncoder {
  const loaded = require(recordModule) as InstalledEncoder;
  return loaded.original ?? loaded;
}

const samples: RecordInput[] = [
  {
    offsetDelta: 0,
    timestampDelta: 0,
    key: 'identity-1',
    value: '{"a":1}',
    headers: { ce_id: 'x', ce_type: 'é' },
  },
  { offsetDelta: 300, timestampDelta: 70_000, key: null, value: Buffer.from([0, 1, 2]), headers: {} },
  {
    offsetDelta: 5,
    key: Buffer.alloc(200, 7),
    value: null,
    headers: { many: ['1', Buffer.from('2')], empty: '' },
  },
];

/**
 * Makes kafkajs encode records with encodeRecord (falling back to its own encoder for what that leaves
 * out). Idempotent. Returns false, leaving kafkajs as it is, when the sample records' bytes differ.
 */
export function installRecordEncoder(): boolean {
  const path = require.resolve(recordModule);
  const loaded = require(path) as InstalledEncoder;
  const cached = require.cache[path];
  if (loaded.original !== undefined) return true;
  if (cached === undefined) return false;
  const Encoder = require(encoderModule) as { prototype: object };
  const newEncoder = (buffer: Buffer): EncodedRecord =>
    Object.assign(Object.create(Encoder.prototype) as EncodedRecord, { buf: buffer, offset: buffer.length });
  const fast: InstalledEncoder = Object.assign(
    (record: RecordInput): EncodedRecord => encodeRecord(record, newEncoder) ?? loaded(record),
    { original: loaded },
  );
  const same = samples.every((sample) => fast(sample).buffer.equals(loaded(sample).buffer));
  if (same) cached.exports = fast;
  return same;
}
