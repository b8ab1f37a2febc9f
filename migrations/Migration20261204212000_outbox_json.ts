import { Migration } from '@mikro-orm/migrations';

// Outbox messages whose value is JSON (every CloudEvent Joinery decides) are stored as JSON inside their
// outbox row, not as an escaped string (streams/outbox.ts): the outbox_message view reads all three forms.

export class Migration20261204212000_outbox_json extends Migration {

  override name = 'Migration20261204212000_outbox_json';

  override up(): void | Promise<void> {
    this.addSql(`drop view if exists "outbox_message" cascade;`);
    this.addSql(`create view "outbox_message" as select o.id as outbox_id, m.position - 1 as position, (m.message->>'tenantId')::uuid as tenant_id,
    m.message->>'topic' as topic, m.message->>'key' as key,
    coalesce(convert_to((m.message->'json')::text, 'UTF8'), convert_to(m.message->>'text', 'UTF8'),
      decode(m.message->>'value', 'base64')) as value,
    (m.message->'headers')::jsonb as headers, o.created_at
  from outbox o cross join lateral json_array_elements(o.messages) with ordinality as m(message, position);`);
  }

  override down(): void | Promise<void> {
    // The version before reads text and bytes only: the messages still waiting get their JSON values as text
    // (a json column keeps its text as written, so `->` gives the very bytes the relay would have published).
    this.addSql(`drop view if exists "outbox_message" cascade;`);
    this.addSql(`update "outbox" set "messages" = (
      select json_agg(case when m.message->'json' is null then m.message
        else ((m.message::jsonb - 'json') || jsonb_build_object('text', (m.message->'json')::text))::json end
        order by m.position)
      from json_array_elements("messages") with ordinality as m(message, position));`);
    this.addSql(`create view "outbox_message" as select o.id as outbox_id, m.position - 1 as position, (m.message->>'tenantId')::uuid as tenant_id,
    m.message->>'topic' as topic, m.message->>'key' as key,
    coalesce(convert_to(m.message->>'text', 'UTF8'), decode(m.message->>'value', 'base64')) as value,
    (m.message->'headers')::jsonb as headers, o.created_at
  from outbox o cross join lateral json_array_elements(o.messages) with ordinality as m(message, position);`);
  }

}
