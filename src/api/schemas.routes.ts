// The message contracts as JSON Schemas: public, like docs/topics.md, for producers outside Joinery
// (agents, SaaS connectors) and SIEM consumers. No credentials needed: they describe no tenant's data.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { NotFoundError } from '../../kernel/errors.ts';
import {
  isMessageType,
  messageContracts,
  messageTypes,
  publishedSchema,
  schemaUrl,
} from '../../kernel/contracts/messages.ts';

export const schemaRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/', () => ({
    schemas: messageTypes.map((type) => ({
      type,
      topic: messageContracts[type].topic,
      description: messageContracts[type].description,
      url: schemaUrl(type),
    })),
  }));
  app.get('/:type', { schema: { params: Type.Object({ type: Type.String() }) } }, (request) => {
    const type = request.params.type.replace(/\.json$/, '');
    if (!isMessageType(type)) {
      throw new NotFoundError(`no message type "${type}"; GET /v1/schemas lists them`);
    }
    return publishedSchema(type);
  });
};
