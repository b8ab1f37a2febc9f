// Connectors (on-prem agents) of the caller's tenant: create (the one-time client key is returned once),
// list with their enrolment and connection status, revoke.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Connector } from '../storage/entities/connector.entity.ts';
import { createConnector, presentConnector, revokeConnector } from '../agent-gateway/connectors.ts';
import { ErrorBody, IdParams } from './common.schemas.ts';

const CreateConnector = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    applications: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
      minItems: 1,
      maxItems: 100,
      description: "Names or ids of the tenant's applications the agent serves.",
    }),
  },
  { additionalProperties: false },
);

const Health = Type.Object({
  status: Type.String(),
  problems: Type.Optional(Type.Array(Type.String())),
});

const ConnectorBody = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  applicationIds: Type.Array(Type.String()),
  status: Type.String({ description: 'awaiting-enrolment, enrolled or revoked.' }),
  enrolled: Type.Boolean(),
  connected: Type.Boolean(),
  enrolledAt: Type.Union([Type.String(), Type.Null()]),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
  lastConnectedAt: Type.Union([Type.String(), Type.Null()]),
  lastHeartbeat: Type.Union([
    Type.Object({
      at: Type.String(),
      agentVersion: Type.Union([Type.String(), Type.Null()]),
      health: Type.Union([Health, Type.Null()]),
      queueDepth: Type.Union([Type.Integer(), Type.Null()]),
    }),
    Type.Null(),
  ]),
  createdAt: Type.String(),
});

export const connectorRoutes: FastifyPluginAsyncTypebox<{
  heartbeatMs: number;
  /** Closes a revoked connector's live channel in this process. */
  onRevoked?: (connectorId: string) => void;
}> = async (app, options) => {
  app.post(
    '/',
    {
      config: { scope: 'admin' },
      schema: {
        body: CreateConnector,
        response: {
          201: Type.Object({
            tenantId: Type.String(),
            connectorId: Type.String(),
            name: Type.String(),
            applicationIds: Type.Array(Type.String()),
            clientKey: Type.String({ description: 'Shown once: give it to the agent for its enrolment.' }),
          }),
          400: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const issued = await createConnector(request.em, request.principal.tenantId, request.body);
      request.log.info({ connectorId: issued.connectorId }, 'connector created');
      return reply.status(201).send(issued);
    },
  );

  app.get(
    '/',
    {
      config: { scope: 'read' },
      schema: { response: { 200: Type.Object({ items: Type.Array(ConnectorBody) }) } },
    },
    async (request) => {
      const connectors = await request.em.find(Connector, {}, { orderBy: { name: 'asc' } });
      const now = new Date();
      return { items: connectors.map((connector) => presentConnector(connector, now, options.heartbeatMs)) };
    },
  );

  app.get(
    '/:id',
    {
      config: { scope: 'read' },
      schema: { params: IdParams, response: { 200: ConnectorBody, 404: ErrorBody } },
    },
    async (request, reply) => {
      const connector = await request.em.findOne(Connector, { id: request.params.id });
      if (connector === null) {
        return reply.status(404).send({
          error: { code: 'JNY_NOT_FOUND', message: `connector ${request.params.id} not found` },
        });
      }
      return presentConnector(connector, new Date(), options.heartbeatMs);
    },
  );

  app.post(
    '/:id/revoke',
    {
      config: { scope: 'admin' },
      schema: { params: IdParams, response: { 200: ConnectorBody, 404: ErrorBody } },
    },
    async (request) => {
      const connector = await revokeConnector(request.em, request.params.id);
      options.onRevoked?.(connector.id);
      request.log.info({ connectorId: connector.id }, 'connector revoked');
      return presentConnector(connector, new Date(), options.heartbeatMs);
    },
  );
};
