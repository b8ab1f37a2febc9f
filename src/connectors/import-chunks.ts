// Bulk sources (files) send their objects many to a message (`joinery.import.objects.v1`) instead of one
// message each: a message costs the bus and the engine far more than the object in it. An object's messages
// must still stay in order, so each message holds only objects whose own key (`applicationId:externalId`)
// lands on one partition, and is keyed by the first of them: it is read on that partition, in sequence with
// any single-object message of the same objects.
import {
  MAX_OBJECTS_PER_IMPORT_CHUNK,
  messageContracts,
  type MessageData,
} from '../../kernel/contracts/messages.ts';
import type { Bus } from '../../streams/bus.ts';
import type { Envelope } from '../../streams/cloudevents.ts';
import { partitionOfKey } from '../../streams/partitioner.ts';

type ImportObjects = MessageData<'joinery.import.objects.v1'>;
export type ChunkObject = ImportObjects['objects'][number];

/** Objects gathered per partition before a send: few messages, bounded memory. */
export const OBJECTS_PER_CHUNK = 500;
/**
 * The most a chunk's JSON may weigh: a larger one is split. Half of Kafka's default max.message.bytes
 * (1 MiB), as the outbox keeps its requests, so a chunk with its headers always fits.
 */
export const MAX_CHUNK_BYTES = 512 * 1024;

/** How many partitions a topic has, from the bus (Kafka's metadata, or the embedded bus's table). */
export async function topicPartitions(bus: Pick<Bus, 'admin'>, topic: string): Promise<number> {
  const admin = bus.admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    const count = topics.find((candidate) => candidate.name === topic)?.partitions.length ?? 0;
    if (count === 0) throw new Error(`topic ${topic} has no partitions: is the engine's topic set created?`);
    return count;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Gathers one run's objects by the partition of their key. `add` says when a send is due (every partition's
 * share of OBJECTS_PER_CHUNK objects, on average, is waiting); `take` then empties it, as chunk messages'
 * data, each under MAX_CHUNK_BYTES.
 */
export function createObjectChunker(options: {
  partitions: number;
  common: Omit<ImportObjects, 'objects' | 'observedAt'>;
}) {
  const { partitions, common } = options;
  const waiting = new Map<number, ChunkObject[]>();
  let count = 0;
  return {
    /** Adds an object; true when enough wait to be sent. */
    add(object: ChunkObject): boolean {
      const partition = partitionOfKey(`${common.applicationId}:${object.externalId}`, partitions);
      let objects = waiting.get(partition);
      if (objects === undefined) waiting.set(partition, (objects = []));
      objects.push(object);
      count++;
      return count >= partitions * OBJECTS_PER_CHUNK || objects.length >= 2 * OBJECTS_PER_CHUNK;
    },
    /** Objects added and not yet taken. */
    get waiting(): number {
      return count;
    },
    /** Every waiting object, as chunks (one or more per partition), each with its JSON. */
    take(): { data: ImportObjects; json: string }[] {
      const observedAt = new Date().toISOString();
      const chunks = [...waiting.values()].flatMap((objects) => sized({ ...common, observedAt, objects }));
      waiting.clear();
      count = 0;
      return chunks;
    },
  };
}

/** The chunk with its JSON, or its halves' until each is under MAX_CHUNK_BYTES. */
function sized(data: ImportObjects): { data: ImportObjects; json: string }[] {
  const json = JSON.stringify(data);
  if (data.objects.length <= 1 || Buffer.byteLength(json) <= MAX_CHUNK_BYTES) return [{ data, json }];
  const half = Math.ceil(data.objects.length / 2);
  return [
    ...sized({ ...data, objects: data.objects.slice(0, half) }),
    ...sized({ ...data, objects: data.objects.slice(half) }),
  ];
}

type ImportObject = MessageData<'joinery.import.object.v1'>;

/** A message to produce, with its data's JSON when chunking serialised it already. */
export interface ChunkedEnvelope {
  envelope: Envelope;
  json?: string;
}

/**
 * A sequence of single-object messages (e.g. an agent's batch) as chunk messages where it can be: the
 * consecutive `joinery.import.object.v1` objects of one partition, application, run and read time become one
 * `joinery.import.objects.v1` (or several, each under MAX_CHUNK_BYTES), keyed and placed like its objects. A
 * lone object stays as it came. Order is kept where it matters: a partition's open chunk is closed before an
 * object of another run or read time joins that partition, and every open chunk before any other message of
 * the `imports` topic (a run marker); messages of other topics (pulses) pass through. A chunk's id is its first
 * object's with the count: the same messages chunk the same way again.
 */
export function chunkObjectMessages(envelopes: readonly Envelope[], partitions: number): ChunkedEnvelope[] {
  const out: ChunkedEnvelope[] = [];
  const open = new Map<number, { group: string; envelopes: Envelope<'joinery.import.object.v1'>[] }>();
  const close = (partition: number): void => {
    const chunk = open.get(partition);
    open.delete(partition);
    if (chunk === undefined) return;
    const [first] = chunk.envelopes;
    if (first === undefined) return;
    if (chunk.envelopes.length === 1) {
      out.push({ envelope: first });
      return;
    }
    const { tenantId, applicationId, runId, observedAt } = first.data;
    const common = { tenantId, applicationId, ...(runId === undefined ? {} : { runId }), observedAt };
    const objects = chunk.envelopes.map(chunkObject);
    const pieces: ImportObjects[] = [];
    for (let start = 0; start < objects.length; start += MAX_OBJECTS_PER_IMPORT_CHUNK)
      pieces.push({ ...common, objects: objects.slice(start, start + MAX_OBJECTS_PER_IMPORT_CHUNK) });
    let offset = 0;
    for (const { data, json } of pieces.flatMap(sized)) {
      out.push({
        envelope: {
          id: `${chunk.envelopes[offset]?.id ?? first.id}+${String(data.objects.length)}`,
          type: 'joinery.import.objects.v1',
          source: first.source,
          time: first.time,
          tenantId,
          data,
        },
        json,
      });
      offset += data.objects.length;
    }
  };
  const closeAll = (): void => {
    for (const partition of [...open.keys()]) close(partition);
  };
  for (const envelope of envelopes) {
    if (isImportObject(envelope) && envelope.data.refeed === undefined) {
      const { data } = envelope;
      const partition = partitionOfKey(`${data.applicationId}:${data.externalId}`, partitions);
      const group = `${data.tenantId}|${data.applicationId}|${data.runId ?? ''}|${data.observedAt}`;
      if (open.get(partition)?.group !== group) close(partition);
      const chunk = open.get(partition) ?? { group, envelopes: [] };
      chunk.envelopes.push(envelope);
      open.set(partition, chunk);
    } else {
      if (messageContracts[envelope.type].topic === 'imports') closeAll();
      out.push({ envelope });
    }
  }
  closeAll();
  return out;
}

function isImportObject(envelope: Envelope): envelope is Envelope<'joinery.import.object.v1'> {
  return envelope.type === 'joinery.import.object.v1';
}

/** An object of a chunk: what its single message said, less what the chunk says once for all, and its id. */
function chunkObject({ id, data }: { id: string; data: ImportObject }): ChunkObject {
  return {
    objectClass: data.objectClass,
    externalId: data.externalId,
    operation: data.operation,
    ...(data.attributes === undefined ? {} : { attributes: data.attributes }),
    id,
  };
}
