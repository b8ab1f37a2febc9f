// A real SCIM 2.0 service that is not Joinery's code, for the SCIM client's tests and benchmark: SCIMMY
// (the `scimmy` library: schemas, filters, PATCH, list responses, SCIM errors) behind a small node:http
// listener on loopback, its Users (with the enterprise extension) and Groups in memory. A test can make
// the next requests answer 429 with Retry-After, or 503, add latency to every request, and issue OAuth2
// client-credentials tokens.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import SCIMMY from 'scimmy';

type Stored = Record<string, unknown> & { id: string; meta: { created: string; lastModified: string } };

interface Store {
  users: Map<string, Stored>;
  groups: Map<string, Stored>;
  /** userName / displayName → id: the uniqueness check without a scan. */
  names: { users: Map<string, string>; groups: Map<string, string> };
}

type Kind = 'users' | 'groups';

interface Context {
  store: Store;
}

/** A planned answer for the next matching request(s). */
export interface Fault {
  status: 429 | 503 | 500;
  retryAfter?: string;
  /** Only requests of this method (default any). */
  method?: string;
  /** Only requests whose path has this in it, e.g. `/Groups` (default any). */
  path?: string;
}

export interface ScimTestServer {
  url: string;
  /** The bearer token it accepts (also what its token endpoint issues). */
  token: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  users(): Stored[];
  groups(): Stored[];
  userByName(userName: string): Stored | undefined;
  /** Makes the next requests answer with these faults, one each, in order. */
  fail(...faults: Fault[]): void;
  /** Added to every request's answer time. */
  latencyMs: number;
  /** Requests answered, by method, faults included. */
  counts: Record<string, number>;
  faultsAnswered: number;
  tokensIssued: number;
  /** Adds a user directly, as if created in the application by someone else. */
  seedUser(data: Record<string, unknown>): Stored;
  close(): Promise<void>;
}

const now = () => new Date().toISOString();

let declared = false;
/** SCIMMY's resources are process-wide: declared once, their handlers read the store of the request. */
function declareResources(): void {
  if (declared) return;
  declared = true;
  SCIMMY.Config.set({ patch: true, filter: { supported: true, maxResults: 1000 }, sort: true });
  const egress =
    (kind: Kind) =>
    (resource: { id?: string; filter?: { match(values: unknown[]): unknown[] } }, ctx: Context) => {
      const map = ctx.store[kind];
      if (resource.id !== undefined) {
        const found = map.get(resource.id);
        if (found === undefined) throw new SCIMMY.Types.Error(404, '', `Resource ${resource.id} not found`);
        return found;
      }
      const all = [...map.values()];
      return resource.filter === undefined ? all : resource.filter.match(all);
    };
  const ingress =
    (kind: Kind, unique: string) =>
    (resource: { id?: string }, instance: Record<string, unknown>, ctx: Context) => {
      const map = ctx.store[kind];
      const data = JSON.parse(JSON.stringify(instance)) as Record<string, unknown>;
      const name = data[unique];
      const names = ctx.store.names[kind];
      const holder = typeof name === 'string' ? names.get(name) : undefined;
      if (holder !== undefined && holder !== resource.id)
        throw new SCIMMY.Types.Error(409, 'uniqueness', `${unique} ${String(name)} is taken`);
      const existing = resource.id === undefined ? undefined : map.get(resource.id);
      if (resource.id !== undefined && existing === undefined)
        throw new SCIMMY.Types.Error(404, '', `Resource ${resource.id} not found`);
      const id = resource.id ?? randomUUID();
      const stored: Stored = {
        ...data,
        id,
        meta: { created: existing?.meta.created ?? now(), lastModified: now() },
      };
      const previous = existing?.[unique];
      if (typeof previous === 'string') names.delete(previous);
      if (typeof name === 'string') names.set(name, id);
      map.set(id, stored);
      return stored;
    };
  const degress = (kind: Kind) => (resource: { id?: string }, ctx: Context) => {
    const gone = resource.id === undefined ? undefined : ctx.store[kind].get(resource.id);
    const name = gone?.[kind === 'users' ? 'userName' : 'displayName'];
    if (typeof name === 'string') ctx.store.names[kind].delete(name);
    if (resource.id === undefined || !ctx.store[kind].delete(resource.id))
      throw new SCIMMY.Types.Error(404, '', `Resource ${String(resource.id)} not found`);
  };
  SCIMMY.Resources.declare(
    SCIMMY.Resources.User.extend(SCIMMY.Schemas.EnterpriseUser, false)
      .ingress(ingress('users', 'userName') as never)
      .egress(egress('users') as never)
      .degress(degress('users') as never),
  );
  SCIMMY.Resources.declare(
    SCIMMY.Resources.Group.ingress(ingress('groups', 'displayName') as never)
      .egress(egress('groups') as never)
      .degress(degress('groups') as never),
  );
}

async function body(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

function send(
  response: ServerResponse,
  status: number,
  payload?: unknown,
  headers: Record<string, string> = {},
): 'sent' {
  response.writeHead(status, {
    ...(payload === undefined ? {} : { 'content-type': 'application/scim+json' }),
    ...headers,
  });
  response.end(payload === undefined ? undefined : JSON.stringify(payload));
  return 'sent';
}

export async function startScimTestServer(options: { latencyMs?: number } = {}): Promise<ScimTestServer> {
  declareResources();
  const store: Store = {
    users: new Map(),
    groups: new Map(),
    names: { users: new Map(), groups: new Map() },
  };
  const ctx: Context = { store };
  const faults: Fault[] = [];
  const token = randomUUID();
  const clientId = 'joinery-test';
  const clientSecret = randomUUID();
  const server: ScimTestServer = {
    url: '',
    token,
    tokenUrl: '',
    clientId,
    clientSecret,
    users: () => [...store.users.values()],
    groups: () => [...store.groups.values()],
    userByName: (userName) => [...store.users.values()].find((user) => user.userName === userName),
    fail: (...planned) => faults.push(...planned),
    latencyMs: options.latencyMs ?? 0,
    counts: {},
    faultsAnswered: 0,
    tokensIssued: 0,
    seedUser(data) {
      const id = randomUUID();
      const stored: Stored = {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        ...data,
        id,
        meta: { created: now(), lastModified: now() },
      };
      store.users.set(id, stored);
      if (typeof data.userName === 'string') store.names.users.set(data.userName, id);
      return stored;
    },
    close: () => Promise.resolve(),
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const method = request.method ?? 'GET';
    server.counts[method] = (server.counts[method] ?? 0) + 1;
    if (server.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, server.latencyMs));
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname === '/oauth/token' && method === 'POST') {
      const expected = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
      await body(request).catch(() => undefined);
      if (request.headers.authorization !== expected) return send(response, 401, { error: 'invalid_client' });
      server.tokensIssued++;
      return send(response, 200, { access_token: token, token_type: 'Bearer', expires_in: 3600 });
    }
    const fault = faults.findIndex(
      (candidate) =>
        (candidate.method === undefined || candidate.method === method) &&
        (candidate.path === undefined || (request.url ?? '').includes(candidate.path)),
    );
    if (fault >= 0) {
      const [planned] = faults.splice(fault, 1);
      server.faultsAnswered++;
      await body(request).catch(() => undefined);
      return send(
        response,
        planned?.status ?? 503,
        {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
          status: String(planned?.status),
          detail: 'planned fault',
        },
        planned?.retryAfter === undefined ? {} : { 'retry-after': planned.retryAfter },
      );
    }
    if (request.headers.authorization !== `Bearer ${token}`)
      return send(
        response,
        401,
        new SCIMMY.Messages.ErrorResponse(new SCIMMY.Types.Error(401, '', 'bad token')),
      );
    const [, scim, endpoint, id] = /^(\/scim\/v2)\/([A-Za-z]+)(?:\/([^/]+))?$/.exec(url.pathname) ?? [];
    if (scim === undefined) return send(response, 404);
    try {
      if (endpoint === 'ServiceProviderConfig')
        return send(response, 200, await new SCIMMY.Resources.ServiceProviderConfig().read());
      const Resource =
        endpoint === 'Users'
          ? SCIMMY.Resources.User
          : endpoint === 'Groups'
            ? SCIMMY.Resources.Group
            : undefined;
      if (Resource === undefined) return send(response, 404);
      const query: Record<string, string | number> = {};
      for (const [key, value] of url.searchParams)
        query[key] = key === 'startIndex' || key === 'count' ? Number(value) : value;
      const resource = new Resource(id === undefined ? undefined : decodeURIComponent(id), query);
      switch (method) {
        case 'GET':
          return send(response, 200, await resource.read(ctx));
        case 'POST':
          return send(response, 201, await resource.write(await body(request), ctx));
        case 'PUT':
          return send(response, 200, await resource.write(await body(request), ctx));
        case 'PATCH': {
          // SCIMMY answers nothing when the PATCH changed nothing: 204.
          const patched: unknown = await resource.patch((await body(request)) as never, ctx);
          return patched === undefined ? send(response, 204) : send(response, 200, patched);
        }
        case 'DELETE':
          await resource.dispose(ctx);
          return send(response, 204);
        default:
          return send(response, 405);
      }
    } catch (error) {
      const scimError =
        error instanceof SCIMMY.Types.Error ? error : new SCIMMY.Types.Error(500, '', String(error));
      return send(response, scimError.status, new SCIMMY.Messages.ErrorResponse(scimError));
    }
  };
  const http = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      send(response, 500, { detail: String(error) });
    });
  });
  http.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  server.url = `http://127.0.0.1:${String(port)}/scim/v2`;
  server.tokenUrl = `http://127.0.0.1:${String(port)}/oauth/token`;
  server.close = () =>
    new Promise<void>((resolve) => {
      http.closeAllConnections();
      http.close(() => {
        resolve();
      });
    });
  return server;
}
