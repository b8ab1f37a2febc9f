// Which partitions each member of a consumer group reads: round robin, as kafkajs's own assigner, but only
// among the members subscribed to a topic. kafkajs's RoundRobinAssigner deals the group leader's own topics
// to every member in turn, whoever subscribed to them (a member drops the topics it did not ask for), and
// the other members' topics to no one: two deployments sharing a broker and an engine group id
// (`joinery-engine`) under different topic prefixes would leave partitions unread, for good. Kafka's own
// Java assignors look at the subscriptions; so does this one. A group whose members all subscribe to the
// same topics gets exactly the assignment kafkajs's would give.
import { AssignerProtocol, type GroupMemberAssignment, type PartitionAssigner } from 'kafkajs';

export const SUBSCRIBED_ROUND_ROBIN = 'JoinerySubscribedRoundRobin';
const VERSION = 0;

/** Round robin over a group's partitions, each topic's shared only among the members subscribed to it. */
export function assignSubscribed(
  members: readonly { memberId: string; topics: readonly string[] }[],
  topics: readonly string[],
  partitionsOf: (topic: string) => number[],
): Map<string, Record<string, number[]>> {
  const sorted = [...members].sort((a, b) =>
    a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0,
  );
  const assignment = new Map<string, Record<string, number[]>>(sorted.map(({ memberId }) => [memberId, {}]));
  // One counter across topics, as kafkajs's: the partitions of several topics spread over the members.
  let turn = 0;
  for (const topic of topics) {
    const subscribers = sorted.filter((member) => member.topics.includes(topic));
    if (subscribers.length === 0) continue;
    for (const partition of partitionsOf(topic)) {
      const member = subscribers[turn % subscribers.length];
      turn++;
      if (member === undefined) continue;
      const owned = assignment.get(member.memberId);
      if (owned !== undefined) (owned[topic] ??= []).push(partition);
    }
  }
  return assignment;
}

/** What a member announces when it joins: its topics, and how many partitions each has as it sees them. */
function announce(topics: string[], partitionsOf: (topic: string) => number): Buffer {
  return Buffer.from(JSON.stringify(Object.fromEntries(topics.map((topic) => [topic, partitionsOf(topic)]))));
}

/** Kafka's own bound on a topic's partitions is far below this; a member announcing more is not believed. */
const MAX_PARTITIONS = 100_000;

function announced(userData: Buffer | undefined): Record<string, number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(userData?.toString('utf8') ?? '{}');
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null) return {};
  return Object.fromEntries(
    Object.entries(parsed).filter(
      (entry): entry is [string, number] =>
        Number.isSafeInteger(entry[1]) && (entry[1] as number) >= 0 && (entry[1] as number) <= MAX_PARTITIONS,
    ),
  );
}

/** The partitions this member's metadata knows for a topic (none before it is loaded). */
function knownPartitions(
  cluster: { findTopicPartitionMetadata(topic: string): { partitionId: number }[] },
  topic: string,
): number[] {
  try {
    return cluster.findTopicPartitionMetadata(topic).map(({ partitionId }) => partitionId);
  } catch {
    return [];
  }
}

export const SubscribedRoundRobinAssigner: PartitionAssigner = ({ cluster }) => ({
  name: SUBSCRIBED_ROUND_ROBIN,
  version: VERSION,
  async assign({ members, topics }): Promise<GroupMemberAssignment[]> {
    const joined = members.map(({ memberId, memberMetadata }) => {
      const metadata = AssignerProtocol.MemberMetadata.decode(memberMetadata);
      return { memberId, topics: metadata?.topics ?? [], partitions: announced(metadata?.userData) };
    });
    // kafkajs gives the leader its own topics only, with their metadata. The others' partitions are what
    // their subscribers announced: the leader never asks the broker about topics it does not read (a topic
    // deleted later would break its metadata refreshes, one it may not see would stall the group).
    const others = [...new Set(joined.flatMap((member) => member.topics))]
      .filter((topic) => !topics.includes(topic))
      .sort();
    const partitionsOf = (topic: string): number[] => {
      if (topics.includes(topic)) return knownPartitions(cluster, topic);
      const count = Math.max(0, ...joined.map((member) => member.partitions[topic] ?? 0));
      return Array.from({ length: count }, (_, partition) => partition);
    };
    const assignment = assignSubscribed(joined, [...topics, ...others], partitionsOf);
    return [...assignment].map(([memberId, owned]) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({
        version: VERSION,
        assignment: owned,
        userData: Buffer.alloc(0),
      }),
    }));
  },
  protocol({ topics }) {
    return {
      name: SUBSCRIBED_ROUND_ROBIN,
      metadata: AssignerProtocol.MemberMetadata.encode({
        version: VERSION,
        topics,
        userData: announce(topics, (topic) => knownPartitions(cluster, topic).length),
      }),
    };
  },
});
