// kafkajs computes each record batch's CRC-32C with the native implementation once the Kafka client is
// loaded (streams/kafka-crc32c.ts): a wrong checksum would make the broker refuse every batch.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import '../../streams/kafka-client.ts';
import { installNativeCrc32c } from '../../streams/kafka-crc32c.ts';

const require = createRequire(import.meta.url);
type Checksum = ((buffer: Buffer) => number) & { native?: true };
const installed = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as Checksum;
const javascript = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as Checksum;

describe('record batch checksums', () => {
  it('are computed natively once the Kafka client is loaded', () => {
    expect(installed.native).toBe(true);
    expect(installNativeCrc32c()).toBe(true);
  });

  it("are kafkajs's own CRC-32C, unsigned, for any bytes", () => {
    expect(installed(Buffer.from('123456789'))).toBe(0xe3069283); // the CRC-32C check value
    for (const length of [0, 1, 7, 8, 63, 64, 1000, 65_537, 1_048_576]) {
      const buffer = randomBytes(length);
      expect(installed(buffer)).toBe(javascript(buffer) >>> 0);
    }
  });
});
