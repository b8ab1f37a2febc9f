// The caller's Vault identities: one identity with its state, attributes and where each came from
// (provenance), its classification, its joined application objects (with how each was joined) and its
// pending timers — deferred tasks an administrator can cancel (the identity's actor decides, through an
// event on its topic).
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import { NotFoundError } from '../../kernel/errors.ts';
import { provenanceOf, type PersistedIdentity } from '../../actors/identity.machine.ts';
import type { MessageData } from '../../kernel/contracts/messages.ts';
import { insertOutbox, outboxMessage } from '../../streams/outbox.ts';
import { topicName } from '../../streams/topics.ts';
import { maskSealed } from '../secrets/sensitive-values.ts';

export const identityRoutes: FastifyPluginAsyncTypebox<{ topicPrefix: string }> = async (app, options) => {
  app.delete(
    '/:id/timers/:timerId',
    {
      config: { scope: 'write' },
      schema: {
        params: Type.Object({
          id: Type.String({ format: 'uuid' }),
          timerId: Type.String({ minLength: 1, maxLength: 256 }),
        }),
      },
    },
    async (request, reply) => {
      const { tenantId, serviceAccountId } = request.principal;
      const { id, timerId } = request.params;
      const at = new Date().toISOString();
      await request.em.transactional(async (tx) => {
        const { rows } = await sql<{ kind: string }>`
          select kind from identity_timer
          where tenant_id = ${tenantId} and identity_id = ${id} and timer_id = ${timerId}`.execute(
          tx.getKysely(),
        );
        if (rows[0] === undefined) {
          throw new NotFoundError(`identity ${id} has no pending timer ${timerId}`, {
            details: { identityId: id, timerId },
          });
        }
        const data: MessageData<'joinery.identity.event.v1'> = {
          tenantId,
          identityId: id,
          event: { type: 'timer.cancelled', at, timerId, by: `service-account:${serviceAccountId}` },
        };
        await insertOutbox(tx, [
          outboxMessage(topicName(options, 'identity'), {
            id: `timer-cancel/${id}/${timerId}/${at}`,
            type: 'joinery.identity.event.v1',
            source: '/joinery/api',
            time: at,
            tenantId,
            data,
          }),
        ]);
      });
      // Accepted: the identity's actor cancels it in order with its other events (a timer that fires
      // first wins, and the cancellation is then ignored).
      return reply.status(202).send({ identityId: id, timerId, status: 'cancelling' });
    },
  );

  app.get(
    '/:id',
    { config: { scope: 'read' }, schema: { params: Type.Object({ id: Type.String({ format: 'uuid' }) }) } },
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
        join_provenance: string | null;
        joined_at: Date | null;
      }>`
        select r.application_id, r.external_id, r.join_state, s.provenance as join_provenance, s.created_at as joined_at
        from repository_object r
        left join identity_source s on s.tenant_id = r.tenant_id and s.application_id = r.application_id
          and s.external_id = r.external_id and s.identity_id = r.identity_id
        where r.tenant_id = ${tenantId} and r.identity_id = ${request.params.id}
        order by r.application_id, r.external_id`.execute(k);
      const { rows: timers } = await sql<{ timer_id: string; kind: string; due_at: Date }>`
        select timer_id, kind, due_at from identity_timer
        where tenant_id = ${tenantId} and identity_id = ${request.params.id} order by due_at`.execute(k);
      const { context } = row.snapshot;
      return {
        id: request.params.id,
        state: row.state,
        version: row.version,
        attributes: maskSealed(context.attributes),
        provenance: context.provenance === undefined ? {} : provenanceOf(context.provenance),
        classification: context.classification ?? null,
        sources: context.sources,
        repositoryObjects: joins.map((j) => ({
          applicationId: j.application_id,
          externalId: j.external_id,
          joinState: j.join_state,
          // How it came to be joined: projected, provisioned, rule:<rule name> or manual:<service-account id>.
          joinProvenance: j.join_provenance,
          joinedAt: j.joined_at === null ? null : new Date(j.joined_at).toISOString(),
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
