// /scim/v2: the SCIM 2.0 service provider identity providers (Okta, Entra ID) provision into (RFC 7644).
// Its own authentication — a SCIM token scoped to one scim application of one tenant — and its own error
// shape (scim-errors.ts); Users and Groups kept by scim-store.ts, which sends every change to the Import stage.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { MikroORM } from '@mikro-orm/postgresql';
import { topicName } from '../../streams/topics.ts';
import { refusalOf } from '../api/http-errors.ts';
import type { Limits } from '../config/config.schema.ts';
import { asScimError, ScimError, scimErrorBody } from './scim-errors.ts';
import { filterSql, parseFilter, sortSql } from './scim-filter.ts';
import {
  answerResource,
  etagOf,
  normaliseResource,
  patchOperations,
  type StoredResource,
} from './scim-resources.ts';
import {
  defaultScimLimits,
  resourceTypeResource,
  resourceTypes,
  SCHEMA,
  schemaDefinitions,
  schemaResource,
  serviceProviderConfig,
  type ResourceType,
  type ScimLimits,
} from './scim-schemas.ts';
import {
  createResource,
  deleteResource,
  listResources,
  patchResource,
  readResource,
  replaceResource,
  type StoreContext,
} from './scim-store.ts';
import { authenticateScimToken, type ScimPrincipal } from './scim-tokens.ts';
import {
  abandonTenantTransaction,
  beginTenantTransaction,
  endTenantTransaction,
  tenantEntityManager,
} from '../api/tenant-transaction.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set on /scim/v2 requests by the SCIM token's check. */
    scimPrincipal: ScimPrincipal;
  }
}

export interface ScimRoutesOptions {
  orm: MikroORM;
  /** The role a request's transaction runs as under row-level security (database.tenantRole). */
  tenantRole: string;
  topicPrefix: string;
  failedAuthentication: Limits['failedAuthentication'];
  now: () => Date;
  limits?: Partial<ScimLimits>;
}

const CONTENT_TYPE = 'application/scim+json; charset=utf-8';

/** The most characters of `attributes`, `excludedAttributes` and `sortBy`. */
const MAX_LIST_PARAMETER = 4096;

interface ListParameters {
  filter?: string;
  startIndex?: string;
  count?: string;
  sortBy?: string;
  sortOrder?: string;
  attributes?: string;
  excludedAttributes?: string;
}

function integer(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^-?\d{1,15}$/.test(value)) throw new ScimError(400, `${name}: must be an integer`, 'invalidValue');
  return Number(value);
}

function attributeList(value: string | undefined, name: string): string[] | undefined {
  if (value === undefined || value === '') return undefined;
  if (value.length > MAX_LIST_PARAMETER)
    throw new ScimError(400, `${name}: longer than ${String(MAX_LIST_PARAMETER)} characters`, 'invalidValue');
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

export const scimRoutes: FastifyPluginAsync<ScimRoutesOptions> = async (app, options) => {
  const limits: ScimLimits = { ...defaultScimLimits, ...options.limits };
  const importsTopic = topicName({ topicPrefix: options.topicPrefix }, 'imports');
  app.decorateRequest('scimPrincipal');
  app.decorateRequest('em');

  // SCIM clients send application/scim+json (RFC 7644 §3.1); application/json is taken as well.
  app.addContentTypeParser(
    'application/scim+json',
    { parseAs: 'string' },
    app.getDefaultJsonParser('error', 'error'),
  );

  app.setErrorHandler(handleScimError);
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .type(CONTENT_TYPE)
      .send(
        scimErrorBody(
          new ScimError(404, `no SCIM endpoint ${request.method} ${request.url.split('?')[0] ?? ''}`),
        ),
      ),
  );

  const countFailure = app.createRateLimit({
    max: options.failedAuthentication.max,
    timeWindow: options.failedAuthentication.windowSeconds * 1000,
    keyGenerator: (request) => `scim:${request.ip}`,
  });

  app.addHook('onRequest', async (request, reply) => {
    void reply.type(CONTENT_TYPE);
    const header = request.headers.authorization;
    const token = /^bearer /i.test(header ?? '') ? (header ?? '').slice('bearer '.length).trim() : '';
    const principal =
      token === '' ? undefined : await authenticateScimToken(options.orm.em.fork(), token, options.now());
    if (principal === undefined) {
      const count = await countFailure(request);
      request.log.warn({ remoteAddress: request.ip }, 'SCIM authentication failed');
      if (!count.isAllowed && count.isExceeded) {
        void reply.header('retry-after', String(count.ttlInSeconds));
        throw new ScimError(429, `too many failed authentications: retry in ${String(count.ttlInSeconds)} s`);
      }
      throw new ScimError(
        401,
        token === ''
          ? 'missing bearer token: send "Authorization: Bearer <SCIM token>" (issued with POST /v1/applications/:id/scim-tokens)'
          : 'invalid or revoked SCIM token',
      );
    }
    request.scimPrincipal = principal;
    // As every API request: one transaction as the tenant role, the token's tenant set (row-level security).
    request.em = tenantEntityManager(options.orm, principal.tenantId, options.tenantRole);
    request.log = request.log.child({
      tenantId: principal.tenantId,
      applicationId: principal.applicationId,
      scimTokenId: principal.tokenId,
    });
  });

  app.addHook('preHandler', beginTenantTransaction);
  app.addHook('onSend', endTenantTransaction);
  app.addHook('onResponse', abandonTenantTransaction);

  const baseUrl = (request: FastifyRequest) => `${request.protocol}://${request.host}/scim/v2`;
  const context = (request: FastifyRequest): StoreContext => ({
    em: request.em,
    principal: request.scimPrincipal,
    importsTopic,
  });
  const ifMatch = (request: FastifyRequest) => {
    const value = request.headers['if-match'];
    return Array.isArray(value) ? value.join(',') : value;
  };
  const answer = (request: FastifyRequest, reply: FastifyReply, resource: StoredResource, status = 200) => {
    const query = request.query as ListParameters;
    void reply.header('etag', etagOf(resource.version));
    return reply.status(status).send(
      answerResource(resource, {
        baseUrl: baseUrl(request),
        ...optionalList('attributes', attributeList(query.attributes, 'attributes')),
        ...optionalList('excludedAttributes', attributeList(query.excludedAttributes, 'excludedAttributes')),
      }),
    );
  };
  const listResponse = (resources: unknown[], totalResults: number, startIndex: number) => ({
    schemas: [SCHEMA.listResponse],
    totalResults,
    startIndex,
    itemsPerPage: resources.length,
    Resources: resources,
  });

  app.get('/ServiceProviderConfig', async (request) => serviceProviderConfig(baseUrl(request), limits));
  app.get('/Schemas', async (request) => {
    const resources = schemaDefinitions.map((definition) => schemaResource(definition, baseUrl(request)));
    return listResponse(resources, resources.length, 1);
  });
  app.get<{ Params: { id: string } }>('/Schemas/:id', async (request) => {
    const definition = schemaDefinitions.find(
      (candidate) => candidate.id.toLowerCase() === request.params.id.toLowerCase(),
    );
    if (definition === undefined) throw new ScimError(404, `schema ${request.params.id} not found`);
    return schemaResource(definition, baseUrl(request));
  });
  app.get('/ResourceTypes', async (request) => {
    const resources = Object.values(resourceTypes).map((definition) =>
      resourceTypeResource(definition, baseUrl(request)),
    );
    return listResponse(resources, resources.length, 1);
  });
  app.get<{ Params: { id: string } }>('/ResourceTypes/:id', async (request) => {
    const definition = Object.values(resourceTypes).find(
      (candidate) => candidate.name.toLowerCase() === request.params.id.toLowerCase(),
    );
    if (definition === undefined) throw new ScimError(404, `resource type ${request.params.id} not found`);
    return resourceTypeResource(definition, baseUrl(request));
  });

  for (const type of ['User', 'Group'] as ResourceType[]) {
    const endpoint = resourceTypes[type].endpoint;
    const bodyLimit = limits.maxBodyBytes;

    app.get<{ Querystring: ListParameters }>(endpoint, async (request) => {
      const query = request.query;
      const filter =
        query.filter === undefined || query.filter === ''
          ? undefined
          : parseFilter(query.filter, limits.maxFilterLength);
      // RFC 7644 §3.4.2.4: a startIndex below 1 is 1, a negative count is 0; the count is capped at maxResults.
      const startIndex = Math.max(1, integer(query.startIndex, 'startIndex') ?? 1);
      const count = Math.min(limits.maxResults, Math.max(0, integer(query.count, 'count') ?? 100));
      if (query.sortOrder !== undefined && !['ascending', 'descending'].includes(query.sortOrder))
        throw new ScimError(400, 'sortOrder: must be ascending or descending', 'invalidValue');
      if ((query.sortBy?.length ?? 0) > MAX_LIST_PARAMETER)
        throw new ScimError(400, 'sortBy: too long', 'invalidValue');
      const { totalResults, resources } = await listResources(context(request), type, {
        where: filter === undefined ? undefined : filterSql(type, filter),
        orderBy: query.sortBy === undefined || query.sortBy === '' ? undefined : sortSql(type, query.sortBy),
        descending: query.sortOrder === 'descending',
        startIndex,
        count,
      });
      const attributes = attributeList(query.attributes, 'attributes');
      const excludedAttributes = attributeList(query.excludedAttributes, 'excludedAttributes');
      return listResponse(
        resources.map((resource) =>
          answerResource(resource, {
            baseUrl: baseUrl(request),
            ...optionalList('attributes', attributes),
            ...optionalList('excludedAttributes', excludedAttributes),
          }),
        ),
        totalResults,
        startIndex,
      );
    });

    app.post(endpoint, { bodyLimit }, async (request, reply) => {
      const created = await createResource(context(request), type, normaliseResource(type, request.body));
      void reply.header('location', `${baseUrl(request)}${endpoint}/${created.id}`);
      request.log.info({ resourceType: type, id: created.id }, 'SCIM resource created');
      return answer(request, reply, created, 201);
    });

    app.get<{ Params: { id: string } }>(`${endpoint}/:id`, async (request, reply) => {
      const resource = await readResource(context(request), type, request.params.id);
      const ifNoneMatch = request.headers['if-none-match'];
      if (
        ifNoneMatch !== undefined &&
        ifNoneMatch
          .split(',')
          .map((tag) => tag.trim())
          .includes(etagOf(resource.version))
      )
        return reply.status(304).send();
      return answer(request, reply, resource);
    });

    app.put<{ Params: { id: string } }>(`${endpoint}/:id`, { bodyLimit }, async (request, reply) => {
      const replaced = await replaceResource(
        context(request),
        type,
        request.params.id,
        normaliseResource(type, request.body),
        ifMatch(request),
      );
      return answer(request, reply, replaced);
    });

    app.patch<{ Params: { id: string } }>(`${endpoint}/:id`, { bodyLimit }, async (request, reply) => {
      const patched = await patchResource(
        context(request),
        type,
        request.params.id,
        patchOperations(request.body, limits.maxOperations),
        ifMatch(request),
      );
      return answer(request, reply, patched);
    });

    app.delete<{ Params: { id: string } }>(`${endpoint}/:id`, async (request, reply) => {
      await deleteResource(context(request), type, request.params.id, ifMatch(request));
      request.log.info({ resourceType: type, id: request.params.id }, 'SCIM resource deleted');
      return reply.status(204).send();
    });
  }
};

/**
 * Answers any error of a /scim/v2 request in SCIM's shape: the plugin's error handler, and the app's
 * frameworkErrors for refusals made while routing (a path that is not UTF-8), before the plugin is reached.
 */
export function handleScimError(error: Error, request: FastifyRequest, reply: FastifyReply) {
  const scim = asScimError(error) ?? asScimError(refusalOf(error, request));
  if (scim === undefined) {
    request.log.error({ err: error }, 'unhandled error on the SCIM server');
    return reply
      .status(500)
      .type(CONTENT_TYPE)
      .send(scimErrorBody(new ScimError(500, 'internal error; see the service log')));
  }
  if (scim.status === 401) void reply.header('www-authenticate', 'Bearer realm="joinery-scim"');
  return reply.status(scim.status).type(CONTENT_TYPE).send(scimErrorBody(scim));
}

function optionalList<K extends string>(key: K, value: string[] | undefined): Partial<Record<K, string[]>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string[]>);
}
