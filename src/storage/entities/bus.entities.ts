// The embedded bus's tables (streams/embedded-bus.ts): Kafka's topics, partitions, offsets and consumer
// groups kept in PostgreSQL, for running Joinery without a Kafka cluster. Infrastructure, not tenant
// data: messages carry their tenant in their CloudEvents headers, as on Kafka.
import { defineEntity, p } from '@mikro-orm/core';

const BusTopicSchema = defineEntity({
  name: 'BusTopic',
  tableName: 'bus_topic',
  properties: {
    name: p.string().length(255).primary(),
    partitions: p.integer(),
    retentionMs: p.bigint('number'),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export class BusTopic extends BusTopicSchema.class {}
BusTopicSchema.setClass(BusTopic);

/** One row per partition: the next offset to give out. Its row lock orders concurrent producers. */
const BusPartitionSchema = defineEntity({
  name: 'BusPartition',
  tableName: 'bus_partition',
  properties: {
    topic: p.string().length(255).primary(),
    partition: p.integer().primary(),
    nextOffset: p.bigint('string'),
  },
});
export class BusPartition extends BusPartitionSchema.class {}
BusPartitionSchema.setClass(BusPartition);

const BusMessageSchema = defineEntity({
  name: 'BusMessage',
  tableName: 'bus_message',
  properties: {
    topic: p.string().length(255).primary(),
    partition: p.integer().primary(),
    offset: p.bigint('string').primary(),
    key: p.text().nullable(),
    value: p.blob().nullable(),
    headers: p.json<Record<string, string>>(),
    createdAt: p.datetime().defaultRaw('now()').index(),
  },
});
export class BusMessage extends BusMessageSchema.class {}
BusMessageSchema.setClass(BusMessage);

/** Live members of a consumer group; one silent for longer than its session timeout is dropped. */
const BusMemberSchema = defineEntity({
  name: 'BusMember',
  tableName: 'bus_member',
  properties: {
    groupId: p.string().length(255).primary(),
    memberId: p.string().length(64).primary(),
    topics: p.array(),
    sessionTimeoutMs: p.integer(),
    heartbeatAt: p.datetime(),
  },
});
export class BusMember extends BusMemberSchema.class {}
BusMemberSchema.setClass(BusMember);

/** A consumer group's committed position in each partition. */
const BusGroupOffsetSchema = defineEntity({
  name: 'BusGroupOffset',
  tableName: 'bus_group_offset',
  properties: {
    groupId: p.string().length(255).primary(),
    topic: p.string().length(255).primary(),
    partition: p.integer().primary(),
    nextOffset: p.bigint('string'),
  },
});
export class BusGroupOffset extends BusGroupOffsetSchema.class {}
BusGroupOffsetSchema.setClass(BusGroupOffset);
