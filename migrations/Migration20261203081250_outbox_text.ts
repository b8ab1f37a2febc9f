import { Migration } from '@mikro-orm/migrations';

// Outbox messages whose value is text (every CloudEvent Joinery decides) are stored as text, not base64
// (streams/outbox.ts): the outbox_message view reads either.

export class Migration20261203081250_outbox_text extends Migration {

  override name = 'Migration20261203081250_outbox_text';

  override up(): void | Promise<void> {
    this.addSql(`drop view if exists "outbox_message" cascade;`);
    this.addSql(`create view "outbox_message" as select o.id as outbox_id, m.position - 1 as position, (m.message->>'tenantId')::uuid as tenant_id,
    m.message->>'topic' as topic, m.message->>'key' as key,
    coalesce(convert_to(m.message->>'text', 'UTF8'), decode(m.message->>'value', 'base64')) as value,
    (m.message->'headers')::jsonb as headers, o.created_at
  from outbox o cross join lateral json_array_elements(o.messages) with ordinality as m(message, position);`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop view if exists "outbox_message" cascade;`);
    this.addSql(`create view "outbox_message" as SELECT o.id AS outbox_id,
    (m."position" - 1) AS "position",
    ((m.message ->> 'tenantId'::text))::uuid AS tenant_id,
    (m.message ->> 'topic'::text) AS topic,
    (m.message ->> 'key'::text) AS key,
    decode((m.message ->> 'value'::text), 'base64'::text) AS value,
    ((m.message -> 'headers'::text))::jsonb AS headers,
    o.created_at
   FROM (outbox o
     CROSS JOIN LATERAL json_array_elements(o.messages) WITH ORDINALITY m(message, "position"));`);
  }

}
