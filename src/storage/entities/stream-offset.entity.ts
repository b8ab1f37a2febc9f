// Where each consumer group stands in each partition, committed in the same transaction as the state the
// messages produced: the source of truth for exactly-once processing (Kafka's committed offsets only
// save refetching). Infrastructure, not tenant data: one partition carries many tenants' messages.
import { defineEntity, p } from '@mikro-orm/core';

const StreamOffsetSchema = defineEntity({
  name: 'StreamOffset',
  tableName: 'stream_offset',
  properties: {
    groupId: p.string().length(255).primary(),
    topic: p.string().length(255).primary(),
    partition: p.integer().primary(),
    /** The next offset to process. */
    nextOffset: p.bigint('string'),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
});

export class StreamOffset extends StreamOffsetSchema.class {}
StreamOffsetSchema.setClass(StreamOffset);
export { StreamOffsetSchema };
