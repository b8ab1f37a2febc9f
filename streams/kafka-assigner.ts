// Which partitions each member of a consumer group reads: round robin, as kafkajs's own assigner, but only
// among the members subscribed to a topic. kafkajs's RoundRobinAssigner deals the group leader's own topics
// to every member in turn, whoever subscribed to them (a member drops the topics it did not ask for), and
// the other members' topics to no one: two deployments sharing a broker and an engine group id
// (`joinery-engine`) under different topic prefixes would leave partitions unread, for good. Kafka's own Java assignors look at the
// subscriptions; so does this one. A group whose members all subscribe to the same topics gets exactly the
// assignment kafkajs's would give.
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

export const SubscribedRoundRobinAssigner: PartitionAssigner = ({ cluster }) => ({
  name: SUBSCRIBED_ROUND_ROBIN,
  version: VERSION,
  async assign({ members, topics }): Promise<GroupMemberAssignment[]> {
    const subscribed = members.map(({ memberId, memberMetadata }) => ({
      memberId,
      topics: AssignerProtocol.MemberMetadata.decode(memberMetadata)?.topics ?? [],
    }));
    // kafkajs gives the leader its own topics only: the others' are added, with their partitions' metadata.
    const others = [...new Set(subscribed.flatMap((member) => member.topics))].filter(
      (topic) => !topics.includes(topic),
    );
    if (others.length > 0) await cluster.addMultipleTargetTopics(others);
    const assignment = assignSubscribed(subscribed, [...topics, ...others.sort()], (topic) =>
      cluster.findTopicPartitionMetadata(topic).map(({ partitionId }) => partitionId),
    );
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
        userData: Buffer.alloc(0),
      }),
    };
  },
});
