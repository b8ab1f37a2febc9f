// The SCIM 2.0 client connector (type: scim): exports create, update, enable, disable and delete Users and
// Groups (with the enterprise extension) in a SCIM service, and imports read its Users and Groups page by
// page — in full, or what changed since the last run (meta.lastModified) — so a SCIM application is a
// target and a source. Vendors' differences are settings (src/connectors/scim/scim-settings.ts): PATCH or
// PUT, DELETE or deactivate, how group members are changed, how an existing account is matched.
import type { Attributes } from '../../../kernel/contracts/identity-events.ts';
import { describeError } from '../../../kernel/errors.ts';
import type { ExportInstruction, ExportResult } from '../../engine/export-queue.ts';
import type { ApplicationPlan } from '../../plan/plan.schema.ts';
import { connectorCapabilities } from '../connector.ts';
import type {
  ConnectorCheck,
  ConnectorContext,
  ConnectorImport,
  ImportedObject,
  InEngineConnector,
} from '../in-engine-connector.ts';
import { createScimClient, ScimRequestError, type ScimAuth, type ScimClient } from './scim-client.ts';
import {
  fromScimResource,
  groupSchema,
  matchFilter,
  memberIds,
  memberPatches,
  patchOpSchema,
  toPatchOperations,
  toScimResource,
  userSchema,
  type PatchOperation,
  type ScimPath,
  type ScimResource,
} from './scim-mapping.ts';
import { resolveScimSettings, type ResolvedScimSettings } from './scim-settings.ts';

/** One kind of resource as the connector writes it. */
interface ResourceKind {
  endpoint: '/Users' | '/Groups';
  schema: string;
  objectClass: string;
  match: string;
  mapping: Map<string, ScimPath>;
  /** For groups: the application attribute holding the member ids. */
  membersAttribute: string | null;
}

export function createScimConnector(
  application: ApplicationPlan,
  context: ConnectorContext,
): InEngineConnector {
  const settings = resolveScimSettings(application);
  const client = createScimClient({
    baseUrl: settings.baseUrl,
    auth: resolveAuth(settings, context),
    timeoutMs: settings.timeoutMs,
    ...(context.fetch === undefined ? {} : { fetch: context.fetch }),
  });
  const users: ResourceKind = {
    endpoint: '/Users',
    schema: userSchema,
    objectClass: settings.users.objectClass,
    match: settings.users.match,
    mapping: settings.users.mapping,
    membersAttribute: null,
  };
  const groups: ResourceKind | null =
    settings.groups === null
      ? null
      : {
          endpoint: '/Groups',
          schema: groupSchema,
          objectClass: settings.groups.objectClass,
          match: settings.groups.match,
          mapping: settings.groups.mapping,
          membersAttribute: settings.groups.membersAttribute,
        };
  const kinds = groups === null ? [users] : [users, groups];
  const kindOf = (objectClass: string | undefined) =>
    groups !== null && objectClass === groups.objectClass ? groups : users;
  const writer = createWriter(client, settings);

  return {
    capabilities: connectorCapabilities.scim,
    concurrency: settings.concurrency,
    test: () => testConnection(client, settings, kinds),
    import: (request) => readResources(client, settings, kinds, request),
    async export(operation) {
      try {
        return await writer.write(kindOf(operation.objectClass), operation);
      } catch (error) {
        return failure(error);
      }
    },
  };
}

function resolveAuth(settings: ResolvedScimSettings, context: ConnectorContext): ScimAuth {
  const { bearer, oauth2 } = settings.auth;
  if (bearer !== undefined) return { bearer: context.secrets(bearer) };
  if (oauth2 === undefined) throw new Error('scim.auth: name bearer or oauth2');
  return {
    oauth2: {
      tokenUrl: oauth2.tokenUrl,
      clientId: oauth2.clientId,
      clientSecret: context.secrets(oauth2.clientSecret),
      ...(oauth2.scope === undefined ? {} : { scope: oauth2.scope }),
    },
  };
}

/** An operation the service refused, or could not answer, as an export result. */
function failure(error: unknown): ExportResult {
  if (error instanceof ScimRequestError) {
    const code =
      error.status === 429
        ? 'JNY_RATE_LIMITED'
        : error.retriable
          ? 'JNY_UNAVAILABLE'
          : error.status === 404
            ? 'JNY_WRITEBACK_NOT_FOUND'
            : error.status === 409
              ? 'JNY_WRITEBACK_CONFLICT'
              : error.status === 400
                ? 'JNY_WRITEBACK_INVALID'
                : error.status === 401
                  ? 'JNY_UNAUTHENTICATED'
                  : error.status === 403
                    ? 'JNY_FORBIDDEN'
                    : 'JNY_WRITEBACK_FAILED';
    // A refused token may be replaced by an administrator: retried with the queue's backoff meanwhile.
    return {
      status: 'failed',
      code,
      message: error.message,
      retriable: error.retriable || error.status === 401,
    };
  }
  return { status: 'failed', code: 'JNY_WRITEBACK_FAILED', message: describeError(error), retriable: false };
}

class PermanentFailure extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

function createWriter(client: ScimClient, settings: ResolvedScimSettings) {
  const patch = (kind: ResourceKind, id: string, operations: PatchOperation[]) =>
    operations.length === 0
      ? Promise.resolve()
      : client
          .request('PATCH', `${kind.endpoint}/${encodeURIComponent(id)}`, {
            body: { schemas: [patchOpSchema], Operations: operations },
          })
          .then(() => undefined);

  /** Writes attributes onto an existing resource: PATCH the changes, or read it and PUT it whole. */
  const writeAttributes = async (kind: ResourceKind, id: string, attributes: Attributes) => {
    const operations = toPatchOperations(kind.mapping, attributes);
    if (operations.length === 0) return;
    if (settings.update === 'patch')
      return patch(kind, id, operations).catch((error: unknown) => {
        // An element a filtered path names is not there (e.g. no work email yet): add it instead.
        if (!(error instanceof ScimRequestError && error.status === 400 && error.scimType === 'noTarget'))
          throw error;
        return patch(kind, id, toPatchOperations(kind.mapping, attributes, { missingElements: true }));
      });
    const path = `${kind.endpoint}/${encodeURIComponent(id)}`;
    const current = (await client.request('GET', path)).body as ScimResource;
    // meta is the service's to write.
    const base: ScimResource = { ...current };
    Reflect.deleteProperty(base, 'meta');
    await client.request('PUT', path, { body: toScimResource(kind.schema, kind.mapping, attributes, base) });
  };

  const changeMembers = async (
    kind: ResourceKind,
    id: string,
    change: { add: string[]; remove: string[] },
  ) => {
    if (change.add.length === 0 && change.remove.length === 0) return;
    const current =
      settings.groupMembers === 'replace'
        ? memberIds(
            (await client.request('GET', `${kind.endpoint}/${encodeURIComponent(id)}`)).body as ScimResource,
          )
        : null;
    await patch(kind, id, memberPatches(settings.groupMembers, change, current));
  };

  /** The id of the one resource the match filter finds; null when none (or no filter); a conflict when several. */
  const findExisting = async (kind: ResourceKind, attributes: Attributes): Promise<string | null> => {
    if (kind.match === '') return null;
    const filter = matchFilter(kind.match, attributes);
    if (filter === null) return null;
    const { body } = await client.request('GET', kind.endpoint, { query: { filter, count: '2' } });
    const found = listed(body);
    if (found.length > 1)
      throw new PermanentFailure(
        'JNY_WRITEBACK_CONFLICT',
        `${String(found.length)} resources match ${filter}: cannot choose which one to adopt`,
      );
    const id = found[0]?.id;
    return typeof id === 'string' ? id : null;
  };

  const create = async (kind: ResourceKind, operation: ExportInstruction): Promise<ExportResult> => {
    const attributes = operation.attributes ?? {};
    const members = operation.members ?? { add: [], remove: [] };
    const adopt = async (id: string): Promise<ExportResult> => {
      await writeAttributes(kind, id, attributes);
      if (kind.membersAttribute !== null) await changeMembers(kind, id, members);
      return { status: 'succeeded', externalId: id };
    };
    const existing = await findExisting(kind, attributes);
    if (existing !== null) return adopt(existing);
    const resource = toScimResource(kind.schema, kind.mapping, attributes);
    if (kind.membersAttribute !== null && members.add.length > 0)
      resource.members = members.add.map((value) => ({ value }));
    try {
      const { body } = await client.request('POST', kind.endpoint, { body: resource });
      const id = (body as ScimResource | null)?.id;
      if (typeof id !== 'string')
        throw new PermanentFailure('JNY_WRITEBACK_FAILED', `POST ${kind.endpoint} answered without an id`);
      return { status: 'succeeded', externalId: id };
    } catch (error) {
      // Created meanwhile, or the match filter missed it: adopt what the service says is there.
      if (error instanceof ScimRequestError && error.status === 409) {
        const found = await findExisting(kind, attributes);
        if (found !== null) return adopt(found);
      }
      throw error;
    }
  };

  const write = async (kind: ResourceKind, operation: ExportInstruction): Promise<ExportResult> => {
    try {
      if (operation.operation === 'create') return await create(kind, operation);
      if (operation.operation === 'password')
        return {
          status: 'failed',
          code: 'JNY_WRITEBACK_UNSUPPORTED',
          message: 'the SCIM connector does not write passwords (export.passwords)',
          retriable: false,
        };
      const id = operation.externalId;
      if (id === undefined)
        return {
          status: 'failed',
          code: 'JNY_WRITEBACK_INVALID',
          message: `a ${operation.operation} without the object's external id`,
          retriable: false,
        };
      const path = `${kind.endpoint}/${encodeURIComponent(id)}`;
      switch (operation.operation) {
        case 'update':
          await writeAttributes(kind, id, operation.attributes ?? {});
          if (kind.membersAttribute !== null && operation.members !== undefined)
            await changeMembers(kind, id, operation.members);
          break;
        case 'enable':
        case 'disable':
          await patch(kind, id, [{ op: 'replace', path: 'active', value: operation.operation === 'enable' }]);
          break;
        case 'delete':
          if (kind.endpoint === '/Users' && settings.delete === 'deactivate')
            await patch(kind, id, [{ op: 'replace', path: 'active', value: false }]);
          else
            await client.request('DELETE', path).catch((error: unknown) => {
              // Already gone: what the delete wanted.
              if (!(error instanceof ScimRequestError && error.status === 404)) throw error;
            });
          break;
      }
      return { status: 'succeeded', externalId: id };
    } catch (error) {
      if (error instanceof PermanentFailure)
        return { status: 'failed', code: error.code, message: error.message, retriable: false };
      throw error;
    }
  };
  return { write };
}

/** The resources of a ListResponse. */
function listed(body: unknown): ScimResource[] {
  const resources = (body as { Resources?: unknown } | null)?.Resources;
  return Array.isArray(resources)
    ? resources.filter((item): item is ScimResource => typeof item === 'object' && item !== null)
    : [];
}

async function readResources(
  client: ScimClient,
  settings: ResolvedScimSettings,
  kinds: ResourceKind[],
  request: { mode: 'full' | 'delta'; cursor: string | null; signal?: AbortSignal },
): Promise<ConnectorImport> {
  const since = request.mode === 'delta' && settings.delta ? request.cursor : null;
  let latest: { text: string; at: number } | null =
    since === null ? null : { text: since, at: Date.parse(since) };
  const toObject = (kind: ResourceKind, resource: ScimResource): ImportedObject[] => {
    const id = resource.id;
    if (typeof id !== 'string' || id === '') return [];
    const modified = (resource.meta as { lastModified?: unknown } | undefined)?.lastModified;
    if (typeof modified === 'string') {
      const at = Date.parse(modified);
      if (!Number.isNaN(at) && (latest === null || at > latest.at)) latest = { text: modified, at };
    }
    const attributes = fromScimResource(kind.mapping, resource);
    if (kind.membersAttribute !== null) attributes[kind.membersAttribute] = memberIds(resource);
    return [{ objectClass: kind.objectClass, externalId: id, attributes }];
  };
  async function* pages(): AsyncGenerator<ImportedObject[]> {
    for (const kind of kinds) {
      let startIndex = 1;
      for (;;) {
        const { body } = await client.request('GET', kind.endpoint, {
          query: {
            startIndex: String(startIndex),
            count: String(settings.pageSize),
            ...(since === null ? {} : { filter: `meta.lastModified gt "${since}"` }),
          },
          ...(request.signal === undefined ? {} : { signal: request.signal }),
        });
        const resources = listed(body);
        yield resources.flatMap((resource) => toObject(kind, resource));
        const total = (body as { totalResults?: unknown } | null)?.totalResults;
        startIndex += resources.length;
        if (resources.length === 0 || typeof total !== 'number' || startIndex > total) break;
      }
    }
  }
  return { mode: since === null ? 'full' : 'delta', pages: pages(), cursor: () => latest?.text ?? null };
}

async function testConnection(
  client: ScimClient,
  settings: ResolvedScimSettings,
  kinds: ResourceKind[],
): Promise<ConnectorCheck[]> {
  const checks: ConnectorCheck[] = [
    {
      ok: true,
      name: 'scim settings',
      detail: `${settings.baseUrl}, ${'bearer' in settings.auth && settings.auth.bearer !== undefined ? 'bearer token' : 'OAuth2 client credentials'} (secret found), update by ${settings.update.toUpperCase()}, delete by ${settings.delete}, group members by ${settings.groupMembers}`,
    },
  ];
  try {
    const { body } = await client.request('GET', '/ServiceProviderConfig');
    const config = body as { patch?: { supported?: boolean }; filter?: { supported?: boolean } } | null;
    const patch = config?.patch?.supported === true;
    const filter = config?.filter?.supported === true;
    checks.push({
      ok: settings.update !== 'patch' || patch,
      name: 'service provider config',
      detail: `PATCH ${patch ? 'supported' : 'not supported'}${!patch && settings.update === 'patch' ? ' (set scim.update: put)' : ''}, filter ${filter ? 'supported' : 'not supported (matching and delta imports need it)'}`,
    });
  } catch (error) {
    checks.push({ ok: false, name: 'service provider config', detail: describeError(error) });
  }
  for (const kind of kinds) {
    try {
      const { body } = await client.request('GET', kind.endpoint, { query: { startIndex: '1', count: '1' } });
      const total = (body as { totalResults?: unknown } | null)?.totalResults;
      checks.push({
        ok: true,
        name: kind.endpoint.slice(1),
        detail: `readable (${typeof total === 'number' ? String(total) : 'an unknown number of'} ${kind.endpoint.slice(1).toLowerCase()}), written as object class ${kind.objectClass}`,
      });
    } catch (error) {
      checks.push({ ok: false, name: kind.endpoint.slice(1), detail: describeError(error) });
    }
  }
  return checks;
}
