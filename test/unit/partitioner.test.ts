// Joinery's partitioner must put every key where kafkajs's default (Java-compatible) partitioner does:
// agents and other producers use that one, and a key's messages keep their order only on one partition.
import { createRequire } from 'node:module';
import { randomBytes, randomUUID } from 'node:crypto';
import { Partitioners, type PartitionerArgs } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { JavaCompatiblePartitioner, murmur2 } from '../../streams/partitioner.ts';

const require = createRequire(import.meta.url);
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (
  key: Buffer,
) => number;

const metadata = (count: number): PartitionerArgs['partitionMetadata'] =>
  Array.from({ length: count }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    partitionErrorCode: 0,
    replicas: [0],
    isr: [0],
  }));

describe('the Java-compatible partitioner', () => {
  it('hashes every key as kafkajs does: uuids, object keys, non-ASCII and every length of tail', () => {
    const keys = [
      ...Array.from({ length: 2000 }, () => randomUUID()),
      ...Array.from({ length: 64 }, (_, length) => randomBytes(length).toString('latin1')),
      'a1b2c3d4-e5f6-4789-8abc-def012345678:uid=zoë,ou=people,dc=example,dc=com',
      '',
    ];
    for (const key of keys) expect(murmur2(Buffer.from(key))).toBe(kafkajsMurmur2(Buffer.from(key)));
  });

  it('chooses the same partition as kafkajs for keyed messages, and the named partition when given', () => {
    const ours = JavaCompatiblePartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    for (const partitions of [1, 6, 12]) {
      const partitionMetadata = metadata(partitions);
      for (let i = 0; i < 500; i++) {
        const message = { key: `${randomUUID()}:W${String(i)}`, value: null };
        expect(ours({ topic: 't', partitionMetadata, message })).toBe(
          theirs({ topic: 't', partitionMetadata, message }),
        );
      }
    }
    expect(
      ours({ topic: 't', partitionMetadata: metadata(12), message: { value: null, partition: 7 } }),
    ).toBe(7);
  });

  it('spreads messages without a key over the partitions', () => {
    const partition = JavaCompatiblePartitioner();
    const seen = new Set(
      Array.from({ length: 24 }, () =>
        partition({ topic: 't', partitionMetadata: metadata(6), message: { value: null } }),
      ),
    );
    expect(seen).toEqual(new Set([0, 1, 2, 3, 4, 5]));
  });
});
