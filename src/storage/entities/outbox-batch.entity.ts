// Messages decided inside a transaction, published to Kafka after it commits (the transactional outbox):
// a crash can delay a message but never lose it, and its CloudEvents id stays the same if it is resent.
// One row holds every message one transaction decided, in order (streams/outbox.ts); the outbox_message
// view shows them one per line.
import { defineEntity, p } from '@mikro-orm/core';

const OutboxBatchSchema = defineEntity({
  name: 'OutboxBatch',
  tableName: 'outbox',
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    /**
     * A JSON array of { tenantId, topic, key, json (a JSON value, published as its text), text (a text value)
     * or value (bytes, base64), ce (a CloudEvent's id, type, source and time) or headers }, in the order they
     * were decided.
     */
    messages: p.json<unknown[]>().columnType('json'),
    messageCount: p.integer(),
    createdAt: p.datetime().defaultRaw('clock_timestamp()'),
  },
});

export class OutboxBatch extends OutboxBatchSchema.class {}
OutboxBatchSchema.setClass(OutboxBatch);
export { OutboxBatchSchema };

/** The waiting messages one per line, in publishing order (for operators and tests; read-only). */
const OutboxMessageSchema = defineEntity({
  name: 'OutboxMessage',
  tableName: 'outbox_message',
  view: true,
  expression: `select o.id as outbox_id, m.position - 1 as position, (m.message->>'tenantId')::uuid as tenant_id,
    m.message->>'topic' as topic, m.message->>'key' as key,
    coalesce(convert_to((m.message->'json')::text, 'UTF8'), convert_to(m.message->>'text', 'UTF8'),
      decode(m.message->>'value', 'base64')) as value,
    outbox_message_headers(m.message) as headers, o.created_at
  from outbox o cross join lateral json_array_elements(o.messages) with ordinality as m(message, position)`,
  properties: {
    outboxId: p.bigint('string').primary(),
    position: p.bigint('number').primary(),
    tenantId: p.uuid().nullable(),
    topic: p.string(),
    key: p.text().nullable(),
    value: p.blob().nullable(),
    headers: p.json<Record<string, string>>(),
    createdAt: p.datetime(),
  },
});

export class OutboxMessage extends OutboxMessageSchema.class {}
OutboxMessageSchema.setClass(OutboxMessage);
export { OutboxMessageSchema };
