// Every record batch kafkajs produces carries a CRC-32C of its body, which kafkajs computes in JavaScript a
// byte at a time: ~5% of the engine's CPU under a bulk load, in the outbox relay. installNativeCrc32c()
// puts the native (SSE 4.2) implementation of @node-rs/crc32 in its place, the same way
// kafka-record-encoder.ts replaces the record encoder: by replacing the export of kafkajs's module
// (`recordBatch/crc32C`) before the record batch encoder first requires it. It checks on sample buffers
// that both give the same checksums; if they ever differed, or the native module is missing for this
// platform, kafkajs keeps its own.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

const crcModule = 'kafkajs/src/protocol/recordBatch/crc32C/index.js';
const batchModule = 'kafkajs/src/protocol/recordBatch/v0/index.js';

type Checksum = (buffer: Buffer) => number;

const samples = [
  Buffer.from('123456789'),
  Buffer.alloc(0),
  Buffer.from(Array.from({ length: 4099 }, (_, index) => (index * 31 + 7) & 0xff)),
];

/** Idempotent. Returns whether kafkajs now computes its checksums natively. */
export function installNativeCrc32c(): boolean {
  const path = require.resolve(crcModule);
  const kafkajs = require(path) as Checksum & { native?: true };
  if (kafkajs.native === true) return true;
  // Too late once the record batch encoder holds kafkajs's function (it is required at its first use).
  if (require.cache[require.resolve(batchModule)] !== undefined) return false;
  let crc32c: (input: Buffer) => number;
  try {
    ({ crc32c } = require('@node-rs/crc32') as { crc32c: (input: Buffer) => number });
  } catch {
    return false; // no prebuilt binary for this platform
  }
  const native = Object.assign((buffer: Buffer) => crc32c(buffer) >>> 0, { native: true as const });
  if (!samples.every((sample) => native(sample) === kafkajs(sample))) return false;
  const cached = require.cache[path];
  if (cached === undefined) return false;
  cached.exports = native;
  return true;
}
