import { Migration } from '@mikro-orm/migrations';

// The SCIM 2.0 server (docs/scim-server.md): bearer tokens scoped to one scim application, and the Users and
// Groups identity providers provision into it, kept so reads are consistent right after writes. The
// indexes serve the filters Okta and Entra ID send: userName eq, externalId eq, displayName eq.
export class Migration20261206130000_scim_server extends Migration {
  override name = 'Migration20261206130000_scim_server';

  override up(): void | Promise<void> {
    this.addSql(`create table "scim_token" (
      "id" uuid not null primary key,
      "tenant_id" uuid not null references "tenant" ("id") on delete cascade,
      "application_id" uuid not null references "application" ("id") on delete cascade,
      "name" varchar(256) not null,
      "secret_hash" varchar(64) not null,
      "created_at" timestamptz not null default now(),
      "last_used_at" timestamptz null,
      "revoked_at" timestamptz null);`);
    this.addSql(`create index "scim_token_application" on "scim_token" ("tenant_id", "application_id");`);
    this.addSql(`create table "scim_resource" (
      "tenant_id" uuid not null,
      "application_id" uuid not null references "application" ("id") on delete cascade,
      "id" uuid not null,
      "resource_type" varchar(16) not null check ("resource_type" in ('User', 'Group')),
      "external_id" varchar(1024) null,
      "user_name" varchar(1024) null,
      "display_name" varchar(1024) null,
      "data" jsonb not null,
      "version" integer not null,
      "created_at" timestamptz not null,
      "updated_at" timestamptz not null,
      primary key ("tenant_id", "application_id", "id"));`);
    // userName is unique per application, case-insensitively (RFC 7643 §4.1.1: caseExact false, uniqueness server).
    this.addSql(
      `create unique index "scim_resource_user_name" on "scim_resource" ("tenant_id", "application_id", lower("user_name")) where "resource_type" = 'User';`,
    );
    this.addSql(
      `create index "scim_resource_external_id" on "scim_resource" ("tenant_id", "application_id", "resource_type", "external_id");`,
    );
    this.addSql(
      `create index "scim_resource_display_name" on "scim_resource" ("tenant_id", "application_id", "resource_type", lower("display_name"));`,
    );
    this.addSql(
      `create index "scim_resource_created" on "scim_resource" ("tenant_id", "application_id", "resource_type", "created_at", "id");`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "scim_resource";`);
    this.addSql(`drop table if exists "scim_token";`);
  }
}
