// Joinery's own SCIM 2.0 server for its integration tests: the real engine, Kafka and PostgreSQL, the API
// listening on loopback (an identity provider talks HTTP to it), a plan applied and SCIM tokens issued; and
// a small SCIM client over fetch. (test/support/scim-server.ts is the other side: a SCIM service that is not
// Joinery's, for the SCIM client's tests.)
import { buildApp, type App } from '../../src/api/app.ts';
import { createReadiness } from '../../src/health/readiness.ts';
import { applyPlan } from '../../src/plan/plan-versions.ts';
import type { Engine } from '../../src/runtime/engine-runtime.ts';
import { createLogger } from '../../kernel/logger.ts';
import { silentLogger } from './factories.ts';
import { createStreamsFixture, startTestEngine, type StreamsFixture } from './streams.ts';

export const SCIM = {
  user: 'urn:ietf:params:scim:schemas:core:2.0:User',
  enterprise: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
  group: 'urn:ietf:params:scim:schemas:core:2.0:Group',
  patchOp: 'urn:ietf:params:scim:api:messages:2.0:PatchOp',
  listResponse: 'urn:ietf:params:scim:api:messages:2.0:ListResponse',
  error: 'urn:ietf:params:scim:api:messages:2.0:Error',
} as const;

export interface ScimAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & {
    id?: string;
    Resources?: Record<string, unknown>[];
    totalResults?: number;
    meta?: { version: string };
  };
}

export type ScimClient = (
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<ScimAnswer>;

/**
 * A SCIM client over HTTP with a bearer token: application/scim+json both ways by default; `defaults` are
 * headers sent with every request (lower-case names, so a request's own headers replace them).
 */
export function scimClient(
  baseUrl: string,
  token: string,
  defaults: Record<string, string> = {},
): ScimClient {
  return async (method, path, body, headers = {}) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/scim+json',
        ...(body === undefined ? {} : { 'content-type': 'application/scim+json' }),
        ...defaults,
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: text === '' ? {} : (JSON.parse(text) as ScimAnswer['body']),
    };
  };
}

export interface ScimService {
  fixture: StreamsFixture;
  engine: Engine;
  app: App;
  /** http://127.0.0.1:<port>/scim/v2 */
  baseUrl: string;
  /** The plan's applications by name → id. */
  applications: Map<string, string>;
  /** An admin API request (the tenant's API key unless another is given). */
  admin(
    method: string,
    url: string,
    apiKey?: string,
    payload?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Issues a SCIM token for the named application (POST /v1/applications/:id/scim-tokens). */
  issueToken(application: string, name?: string): Promise<{ token: string; baseUrl: unknown }>;
  /** The Vault identity whose userName attribute is this, if any. */
  identity(
    userName: string,
  ): Promise<{ id: string; state: string; attributes: Record<string, unknown> } | undefined>;
  close(): Promise<void>;
}

/** Starts the engine and the API on loopback for a new tenant, and applies the plan. */
export async function startScimService(planSource: string): Promise<ScimService> {
  const fixture = await createStreamsFixture();
  const engine = await startTestEngine(fixture);
  const app = await buildApp({
    orm: fixture.orm,
    readiness: createReadiness({}),
    logger: process.env.SCIM_DEBUG === undefined ? silentLogger : createLogger({ level: 'error' }),
    topicPrefix: fixture.topics.topicPrefix,
    bus: fixture.bus,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const baseUrl = `http://127.0.0.1:${String(typeof address === 'object' && address !== null ? address.port : 0)}/scim/v2`;
  const applied = await applyPlan(fixture.orm.em, {
    tenantId: fixture.tenantId,
    sourceName: 'plan.yaml',
    appliedBy: 'test',
    source: planSource,
  });
  const applications = new Map(applied.applications.map((application) => [application.name, application.id]));

  const admin: ScimService['admin'] = async (method, url, apiKey = fixture.apiKey, payload) => {
    const response = await app.inject({
      method: method as 'POST',
      url,
      headers: { authorization: `Bearer ${apiKey}` },
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
    return {
      status: response.statusCode,
      body: response.body === '' ? {} : response.json<Record<string, unknown>>(),
    };
  };
  return {
    fixture,
    engine,
    app,
    baseUrl,
    applications,
    admin,
    async issueToken(application, name) {
      const id = applications.get(application);
      if (id === undefined) throw new Error(`no application ${application} in the test plan`);
      const issued = await admin(
        'POST',
        `/v1/applications/${id}/scim-tokens`,
        fixture.apiKey,
        name === undefined ? undefined : { name },
      );
      if (issued.status !== 201 || typeof issued.body.token !== 'string')
        throw new Error(
          `no SCIM token for ${application}: ${String(issued.status)} ${JSON.stringify(issued.body)}`,
        );
      return { token: issued.body.token, baseUrl: issued.body.baseUrl };
    },
    async identity(userName) {
      const response = await app.inject({
        method: 'GET',
        url: `/v1/identities?attribute=userName&value=${encodeURIComponent(userName)}`,
        headers: { authorization: `Bearer ${fixture.apiKey}` },
      });
      return response.json<{ items: { id: string; state: string; attributes: Record<string, unknown> }[] }>()
        .items[0];
    },
    async close() {
      await app.close();
      await engine.stop();
      await fixture.close();
    },
  };
}
