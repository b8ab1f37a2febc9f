import { Migration } from '@mikro-orm/migrations';

// One outbox row per transaction instead of one per message (streams/outbox.ts): the messages waiting in
// the old table are carried over, each as a row of its own, in id order. The outbox_message view lists the
// waiting messages one per line, for operators and tests.
export class Migration20261123154708_outbox_batches extends Migration {

  override name = 'Migration20261123154708_outbox_batches';

  override up(): void | Promise<void> {
    this.addSql(`alter table "outbox" rename to "outbox_single";`);
    this.addSql(`alter sequence "outbox_id_seq" rename to "outbox_single_id_seq";`);
    this.addSql(`alter index "outbox_pkey" rename to "outbox_single_pkey";`);
    this.addSql(`create table "outbox" ("id" bigserial primary key, "messages" json not null, "message_count" int not null, "created_at" timestamptz not null default clock_timestamp());`);
    // A row holds up to a few MB of JSON: lz4 compresses it several times faster than the default pglz
    // (where the server was built without lz4, the default stays).
    this.addSql(`do $$ begin
      alter table "outbox" alter column "messages" set compression lz4;
    exception when feature_not_supported then null;
    end $$;`);
    this.addSql(`insert into "outbox" ("messages", "message_count", "created_at")
      select json_build_array(json_build_object('tenantId', "tenant_id", 'topic', "topic", 'key', "key",
        'value', encode("value", 'base64'), 'headers', "headers")), 1, "created_at"
      from "outbox_single" order by "id";`);
    this.addSql(`drop table "outbox_single";`);
    this.addSql(`create view "outbox_message" as select o.id as outbox_id, m.position - 1 as position, (m.message->>'tenantId')::uuid as tenant_id,
    m.message->>'topic' as topic, m.message->>'key' as key, decode(m.message->>'value', 'base64') as value,
    (m.message->'headers')::jsonb as headers, o.created_at
  from outbox o cross join lateral json_array_elements(o.messages) with ordinality as m(message, position);`);
  }

  override down(): void | Promise<void> {
    this.addSql(`create table "outbox_single" ("id" bigserial primary key, "tenant_id" uuid null, "topic" varchar(255) not null, "key" text null, "value" bytea null, "headers" jsonb not null, "created_at" timestamptz not null default clock_timestamp());`);
    this.addSql(`insert into "outbox_single" ("tenant_id", "topic", "key", "value", "headers", "created_at")
      select "tenant_id", "topic", "key", "value", "headers", "created_at" from "outbox_message" order by "outbox_id", "position";`);
    this.addSql(`drop view "outbox_message";`);
    this.addSql(`drop table "outbox";`);
    this.addSql(`alter table "outbox_single" rename to "outbox";`);
    this.addSql(`alter sequence "outbox_single_id_seq" rename to "outbox_id_seq";`);
    this.addSql(`alter index "outbox_single_pkey" rename to "outbox_pkey";`);
  }

}
