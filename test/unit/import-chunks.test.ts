import { describe, expect, it } from 'vitest';
import { messageProblem } from '../../kernel/contracts/message-validators.ts';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { chunkObjectMessages } from '../../src/connectors/import-chunks.ts';
import type { Envelope } from '../../streams/cloudevents.ts';
import { recordKey } from '../../streams/cloudevents.ts';
import { partitionOfKey } from '../../streams/partitioner.ts';

const tenantId = '0b8f6a1e-2c4d-4e5f-8a9b-0c1d2e3f4a5b';
const applicationId = '1b8f6a1e-2c4d-4e5f-8a9b-0c1d2e3f4a5b';
const runId = '3b8f6a1e-2c4d-4e5f-8a9b-0c1d2e3f4a5b';
const PARTITIONS = 4;
const T1 = '2026-12-06T10:00:00.000Z';
const T2 = '2026-12-06T10:00:05.000Z';

let next = 0;
const object = (externalId: string, at = T1, run: string | null = runId): Envelope => ({
  id: `m${String(++next)}`,
  type: 'joinery.import.object.v1',
  source: '/agents/c1',
  time: at,
  tenantId,
  data: {
    tenantId,
    applicationId,
    ...(run === null ? {} : { runId: run }),
    objectClass: 'user',
    externalId,
    operation: 'upsert',
    attributes: { cn: externalId, dn: `cn=${externalId},dc=test` },
    observedAt: at,
  },
});
const marker = (phase: 'started' | 'completed'): Envelope => ({
  id: `m${String(++next)}`,
  type: 'joinery.import.run.v1',
  source: '/agents/c1',
  time: T1,
  tenantId,
  data: { tenantId, applicationId, runId, kind: 'full', phase, at: T1 },
});
const partitionOf = (externalId: string) => partitionOfKey(`${applicationId}:${externalId}`, PARTITIONS);

/** What each partition receives, in order: the external ids of its objects, and markers by phase. */
function perPartition(envelopes: Envelope[]): Map<number, string[]> {
  const seen = new Map<number, string[]>();
  for (const envelope of envelopes) {
    const partition = partitionOfKey(recordKey(envelope), PARTITIONS);
    const list = seen.get(partition) ?? [];
    if (envelope.type === 'joinery.import.objects.v1')
      list.push(
        ...(envelope.data as MessageData<'joinery.import.objects.v1'>).objects.map((o) => o.externalId),
      );
    else if (envelope.type === 'joinery.import.object.v1')
      list.push((envelope.data as MessageData<'joinery.import.object.v1'>).externalId);
    else list.push(`marker:${(envelope.data as MessageData<'joinery.import.run.v1'>).phase}`);
    seen.set(partition, list);
  }
  return seen;
}

describe("an agent's objects, many to a message", () => {
  it('gathers a page of objects into one chunk per partition, each object on its own partition, in order', () => {
    const ids = Array.from({ length: 200 }, (_, index) => `u${String(index)}`);
    const input = [marker('started'), ...ids.map((id) => object(id)), marker('completed')];
    const output = chunkObjectMessages(input, PARTITIONS).map(({ envelope }) => envelope);

    expect(output.length).toBeLessThanOrEqual(2 + PARTITIONS);
    expect(output[0]?.type).toBe('joinery.import.run.v1');
    expect(output.at(-1)?.type).toBe('joinery.import.run.v1');
    const chunks = output.filter((envelope) => envelope.type === 'joinery.import.objects.v1');
    for (const chunk of chunks) {
      const data = chunk.data as MessageData<'joinery.import.objects.v1'>;
      expect(messageProblem('joinery.import.objects.v1', data)).toBeUndefined();
      expect(data).toMatchObject({ tenantId, applicationId, runId, observedAt: T1 });
      // Every object of a chunk is read on the partition its own key goes to.
      const partition = partitionOfKey(recordKey(chunk), PARTITIONS);
      for (const item of data.objects) expect(partitionOf(item.externalId)).toBe(partition);
      // Each object keeps its attributes, and the id of the message it came as.
      const [firstObject] = data.objects;
      expect(firstObject?.attributes?.cn).toBe(firstObject?.externalId);
      expect(input.some((envelope) => envelope.id === firstObject?.id)).toBe(true);
    }
    // Nothing lost, nothing twice, each partition's objects in the order they came.
    const received = perPartition(output);
    const expected = perPartition(input);
    for (const [partition, list] of expected)
      expect(received.get(partition)?.filter((id) => !id.startsWith('marker'))).toEqual(
        list.filter((id) => !id.startsWith('marker')),
      );
    // The same messages chunk the same way again (ids included): a batch sent again is the same batch.
    expect(chunkObjectMessages(input, PARTITIONS)).toEqual(chunkObjectMessages(input, PARTITIONS));
  });

  it('never lets a later read of an object overtake an earlier one, and leaves a lone object as it came', () => {
    // u1 read by a full page (T1), then by a delta (T2, no run), then u2 alone.
    const first = object('u1', T1);
    const input = [first, object('u9', T1), object('u1', T2, null), object('u1', T1)];
    const output = chunkObjectMessages(input, PARTITIONS).map(({ envelope }) => envelope);
    const u1 = output.flatMap((envelope) =>
      envelope.type === 'joinery.import.objects.v1'
        ? (envelope.data as MessageData<'joinery.import.objects.v1'>).objects.some(
            (o) => o.externalId === 'u1',
          )
          ? [(envelope.data as MessageData<'joinery.import.objects.v1'>).observedAt]
          : []
        : (envelope.data as MessageData<'joinery.import.object.v1'>).externalId === 'u1'
          ? [(envelope.data as MessageData<'joinery.import.object.v1'>).observedAt]
          : [],
    );
    expect(u1).toEqual([T1, T2, T1]);
    // Alone in its group, an object stays a single message with its own id.
    expect(output).toContainEqual(first);
  });
});
