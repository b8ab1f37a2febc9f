// The caller's Vault identities: one identity with its state, attributes and where each came from
// (provenance), its classification, its joined application objects and its pending timers.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import { NotFoundError } from '../errors.ts';
import type { PersistedIdentity } from '../../actors/identity.machine.ts';

export const identityRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/:id',
    { schema: { params: Type.Object({ id: Type.String({ format: 'uuid' }) }) } },
    async (request) => {
      const { tenantId } = request.principal;
      const k = request.em.getKysely();
      const { rows } = await sql<{
        state: string;
        version: number;
        snapshot: PersistedIdentity;
        updated_at: Date;
      }>`
        select state, version, snapshot, updated_at from identity
        where id = ${request.params.id} and tenant_id = ${tenantId}`.execute(k);
      const row = rows[0];
      // Another tenant's identity is simply not found.
      if (row === undefined) throw new NotFoundError(`no identity ${request.params.id}`);
      const { rows: joins } = await sql<{
        application_id: string;
        external_id: string;
        join_state: string | null;
      }>`
        select application_id, external_id, join_state from repository_object
        where tenant_id = ${tenantId} and identity_id = ${request.params.id} order by application_id, external_id`.execute(
        k,
      );
      const { rows: timers } = await sql<{ timer_id: string; kind: string; due_at: Date }>`
        select timer_id, kind, due_at from identity_timer
        where tenant_id = ${tenantId} and identity_id = ${request.params.id} order by due_at`.execute(k);
      const { context } = row.snapshot;
      return {
        id: request.params.id,
        state: row.state,
        version: row.version,
        attributes: context.attributes,
        provenance: context.provenance ?? {},
        classification: context.classification ?? null,
        sources: context.sources,
        repositoryObjects: joins.map((j) => ({
          applicationId: j.application_id,
          externalId: j.external_id,
          joinState: j.join_state,
        })),
        timers: timers.map((t) => ({
          timerId: t.timer_id,
          kind: t.kind,
          dueAt: new Date(t.due_at).toISOString(),
        })),
        updatedAt: new Date(row.updated_at).toISOString(),
      };
    },
  );
};
