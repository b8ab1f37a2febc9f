// Messages decided inside a transaction, published to Kafka after it commits (the transactional outbox):
// a crash can delay a message but never lose it, and its CloudEvents id stays the same if it is resent.
import { defineEntity, p } from '@mikro-orm/core';

const OutboxMessageSchema = defineEntity({
  name: 'OutboxMessage',
  tableName: 'outbox',
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    /** Absent only for a dead letter whose tenant could not be read. */
    tenantId: p.uuid().nullable(),
    topic: p.string().length(255),
    key: p.text().nullable(),
    value: p.blob().nullable(),
    headers: p.json<Record<string, string>>(),
    createdAt: p.datetime().defaultRaw('clock_timestamp()'),
  },
});

export class OutboxMessage extends OutboxMessageSchema.class {}
OutboxMessageSchema.setClass(OutboxMessage);
export { OutboxMessageSchema };
