// The agents' side of the API, not authenticated by API key: enrolment with a connector's one-time client
// key, and the channel (a WebSocket the agent opens; it proves itself by signing the server's nonce).
// @fastify/websocket (registered once, by buildApp) routes the upgrade through Fastify, so hooks, logging
// and close() apply to it too.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { MikroORM } from '@mikro-orm/postgresql';
import {
  EnrolmentRequestSchema,
  EnrolmentResponseSchema,
  closeCodes,
  type ChannelParameters,
} from '../../kernel/channel/protocol.ts';
import { enrolAgent } from '../agent-gateway/connectors.ts';
import type { AgentGateway } from '../agent-gateway/gateway.ts';
import type { TenantKeys } from '../agent-gateway/tenant-keys.ts';
import { ErrorBody } from './common.schemas.ts';

export const agentChannelRoutes: FastifyPluginAsyncTypebox<{
  orm: MikroORM;
  tenantKeys: TenantKeys;
  channel: ChannelParameters;
  /** Absent when the API has no bus to produce to: the channel then answers 503. */
  gateway: AgentGateway | undefined;
}> = async (app, options) => {
  app.post(
    '/enrol',
    {
      schema: {
        body: EnrolmentRequestSchema,
        response: { 200: EnrolmentResponseSchema, 401: ErrorBody, 409: ErrorBody, 503: ErrorBody },
      },
    },
    async (request) => {
      const response = await enrolAgent(options.orm.em, options.tenantKeys, request.body, options.channel);
      request.log.info({ tenantId: response.tenantId, connectorId: response.connectorId }, 'agent enrolled');
      return response;
    },
  );

  app.get('/channel', { websocket: true }, (socket, request) => {
    if (options.gateway === undefined) {
      socket.close(closeCodes.unavailable, 'the agent channel is not available on this API process');
      return;
    }
    options.gateway.accept(socket, request.ip, request.socket);
  });
};
