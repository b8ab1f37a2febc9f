// Waiting until the engine has done everything that follows from what was sent so far: the honest way to
// assert that something did *not* happen. A fixed sleep passes whenever the engine is merely slow; this
// waits for the engine's own committed positions instead.
//
// Why it is enough: every consumer group commits its next offset (stream_offset) in the transaction that
// writes the batch's effects, outbox rows included; the relay deletes an outbox row only after Kafka has
// acknowledged its messages. So once every partition the engine consumes is committed up to the end it
// had when we looked, the outbox is empty, and the ends have not moved meanwhile, nothing sent before is
// still on its way: its effects, and the effects of what it caused in turn, are committed.
import type { TopicId } from '../../kernel/contracts/messages.ts';
import { query, type StreamsFixture } from './streams.ts';
import { topicOffsets } from './topic-ends.ts';

// The topics the engine consumes (src/runtime/engine-runtime.ts). Each of its consumer groups keeps its
// offsets in PostgreSQL under the engine's group id, per topic (streams/partition-consumer.ts).
const consumedTopics: TopicId[] = ['imports', 'identity', 'pulses', 'schedules', 'export-results'];

/** topic/partition → one past the last message written there. */
type Ends = Map<string, bigint>;

const at = (topic: string, partition: number) => `${topic}/${String(partition)}`;

async function topicEnds(fixture: StreamsFixture, topics: string[]): Promise<Ends> {
  const ends: Ends = new Map();
  if (fixture.busKind === 'embedded') {
    const rows = await query<{ topic: string; partition: number; next_offset: string }>(
      fixture.database.url,
      'select topic, partition, next_offset from bus_partition where topic = any($1)',
      [topics],
    );
    for (const row of rows) ends.set(at(row.topic, row.partition), BigInt(row.next_offset));
    return ends;
  }
  const admin = fixture.kafka.admin();
  await admin.connect();
  try {
    for (const topic of topics)
      for (const { partition, high } of await topicOffsets(admin, topic))
        ends.set(at(topic, partition), BigInt(high));
  } finally {
    await admin.disconnect();
  }
  return ends;
}

/** What is still to do: the partitions behind their end, and the outbox rows not yet relayed. */
async function backlog(fixture: StreamsFixture, ends: Ends): Promise<string[]> {
  const committed = await query<{ topic: string; partition: number; next_offset: string }>(
    fixture.database.url,
    'select topic, partition, next_offset from stream_offset where group_id = $1',
    [fixture.groupId],
  );
  const position = new Map(committed.map((row) => [at(row.topic, row.partition), BigInt(row.next_offset)]));
  const behind = [...ends]
    .filter(([key, end]) => (position.get(key) ?? 0n) < end)
    .map(([key, end]) => `${key} at ${String(position.get(key) ?? 0n)} of ${String(end)}`);
  const [outbox] = await query<{ rows: string }>(fixture.database.url, 'select count(*) as rows from outbox');
  if (Number(outbox?.rows) > 0) behind.push(`${String(outbox?.rows)} outbox rows`);
  return behind;
}

function sameEnds(a: Ends, b: Ends): boolean {
  return a.size === b.size && [...a].every(([key, end]) => b.get(key) === end);
}

/**
 * Waits until the engine of `fixture` has consumed everything written to the topics it reads (imports,
 * identity, pulses, schedules) up to now, and everything that caused, with nothing left in the outbox.
 * On a timeout the error says what was still behind.
 */
export async function waitUntilSettled(fixture: StreamsFixture, timeoutMs = 30_000): Promise<void> {
  const topics = consumedTopics.map((id) => fixture.topic(id));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const before = await topicEnds(fixture, topics);
    const behind = await backlog(fixture, before);
    // The ends read again after the outbox was seen empty: anything relayed meanwhile moved them.
    if (behind.length === 0 && sameEnds(before, await topicEnds(fixture, topics))) return;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${String(timeoutMs)} ms waiting for the engine to settle (behind: ${behind.join(', ') || 'the topics kept growing'})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
