// SIEM destinations of the caller's tenant (docs/siem.md): syslog (TCP/TLS), a Kafka topic, or signed
// HTTPS webhooks. Admin scope: a destination receives the tenant's whole audit trail. Secrets are
// write-only (stored wrapped by the master key) and never answered nor logged.
import { type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { MasterKeyring } from '../agent-gateway/master-key.ts';
import { DestinationBodySchema } from '../siem/destination.schema.ts';
import {
  deleteDestination,
  getDestination,
  listDestinations,
  newDestinationId,
  putDestination,
} from '../siem/destinations.ts';
import { IdParams } from './common.schemas.ts';

export const siemRoutes: FastifyPluginAsyncTypebox<{ keyring: MasterKeyring | undefined }> = async (
  app,
  options,
) => {
  app.get('/destinations', { config: { scope: 'admin' } }, async (request) => ({
    items: await listDestinations(request.em, request.principal.tenantId),
  }));

  app.post(
    '/destinations',
    { config: { scope: 'admin' }, schema: { body: DestinationBodySchema } },
    async (request, reply) => {
      const { tenantId } = request.principal;
      const { destination } = await putDestination(
        request.em,
        options.keyring,
        tenantId,
        newDestinationId(),
        request.body,
      );
      request.log.info({ destinationId: destination.id, kind: destination.kind }, 'SIEM destination created');
      return reply.status(201).send(destination);
    },
  );

  app.get(
    '/destinations/:id',
    { config: { scope: 'admin' }, schema: { params: IdParams } },
    async (request) => getDestination(request.em, request.principal.tenantId, request.params.id),
  );

  app.put(
    '/destinations/:id',
    { config: { scope: 'admin' }, schema: { params: IdParams, body: DestinationBodySchema } },
    async (request, reply) => {
      const { tenantId } = request.principal;
      const { created, destination } = await putDestination(
        request.em,
        options.keyring,
        tenantId,
        request.params.id,
        request.body,
      );
      request.log.info(
        { destinationId: destination.id, kind: destination.kind },
        created ? 'SIEM destination created' : 'SIEM destination replaced',
      );
      return reply.status(created ? 201 : 200).send(destination);
    },
  );

  app.delete(
    '/destinations/:id',
    { config: { scope: 'admin' }, schema: { params: IdParams } },
    async (request, reply) => {
      await deleteDestination(request.em, request.principal.tenantId, request.params.id);
      request.log.info({ destinationId: request.params.id }, 'SIEM destination deleted');
      return reply.status(204).send(null);
    },
  );
};
