import { Migration } from '@mikro-orm/migrations';

// Outbox messages are stored more compactly (streams/outbox.ts): a CloudEvent's data as JSON inside its
// outbox row, not as an escaped string, and its headers as `ce` (id, type, source, time). The
// outbox_message view reads every form; the down migration turns waiting messages back into the forms
// the version before reads.

// The headers `recordHeaders` gives a CloudEvent (streams/cloudevents.ts; ce_dataschema as `schemaUrl`).
const HEADERS = `create function "outbox_message_headers"(message json) returns jsonb language sql immutable as $$
  select case when message->'ce' is null then (message->'headers')::jsonb
    else jsonb_build_object('ce_specversion', '1.0', 'ce_id', message->'ce'->>0, 'ce_type', message->'ce'->>1,
      'ce_source', message->'ce'->>2, 'ce_time', message->'ce'->>3, 'ce_tenantid', message->>'tenantId',
      'ce_dataschema', 'https://joinery.dev/schemas/' || (message->'ce'->>1) || '.json',
      'content-type', 'application/json') end $$;`;

export class Migration20261204212000_outbox_compact extends Migration {

  override name = 'Migration20261204212000_outbox_compact';

  override up(): void | Promise<void> {
    this.addSql(`drop view if exists "outbox_message" cascade;`);
    this.addSql(HEADERS);
    this.addSql(`create view "outbox_message" as select o.id as outbox_id, m.position - 1 as position, (m.message->>'tenantId')::uuid as tenant_id,
    m.message->>'topic' as topic, m.message->>'key' as key,
    coalesce(convert_to((m.message->'json')::text, 'UTF8'), convert_to(m.message->>'text', 'UTF8'),
      decode(m.message->>'value', 'base64')) as value,
    outbox_message_headers(m.message) as headers, o.created_at
  from outbox o cross join lateral json_array_elements(o.messages) with ordinality as m(message, position);`);
  }

  override down(): void | Promise<void> {
    // A json column keeps its text as written, so `->` gives the very bytes the relay would have published.
    this.addSql(`drop view if exists "outbox_message" cascade;`);
    this.addSql(`update "outbox" set "messages" = (
      select json_agg(case when m.message->'json' is null and m.message->'ce' is null then m.message
        else ((m.message::jsonb - 'json' - 'ce')
          || case when m.message->'json' is null then '{}'::jsonb
               else jsonb_build_object('text', (m.message->'json')::text) end
          || jsonb_build_object('headers', outbox_message_headers(m.message)))::json end
        order by m.position)
      from json_array_elements("messages") with ordinality as m(message, position));`);
    this.addSql(`drop function "outbox_message_headers"(json);`);
    this.addSql(`create view "outbox_message" as select o.id as outbox_id, m.position - 1 as position, (m.message->>'tenantId')::uuid as tenant_id,
    m.message->>'topic' as topic, m.message->>'key' as key,
    coalesce(convert_to(m.message->>'text', 'UTF8'), decode(m.message->>'value', 'base64')) as value,
    (m.message->'headers')::jsonb as headers, o.created_at
  from outbox o cross join lateral json_array_elements(o.messages) with ordinality as m(message, position);`);
  }

}
