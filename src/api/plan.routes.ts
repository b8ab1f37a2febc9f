// The caller's sync plan: apply a new version (YAML or JSON body), read the one in force, list versions,
// read one with its diff, see how far the identities have been reconciled with it. An invalid plan answers
// 400 with every problem (line, path, message) and leaves the version in force unchanged. Plans are checked
// in worker threads (plan-check-pool.ts): a slow one never holds other requests.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { NotFoundError, ValidationError } from '../../kernel/errors.ts';
import { reconciliationStatus } from '../engine/plan-reconciliation.ts';
import { applyPlan, getPlanVersion, listPlanVersions } from '../plan/plan-versions.ts';
import type { PlanCheckPool } from '../plan/plan-check-pool.ts';
import { adminRow, logstreamOf } from './admin-events.ts';

const yamlTypes = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'];
/** A plan's text may be larger than other bodies (1 MiB): the route and its parsers say so alike. */
const planBodyLimit = 4 * 1024 * 1024;

export const planRoutes: FastifyPluginAsyncTypebox<{ checks: PlanCheckPool; topicPrefix?: string }> = async (
  app,
  options,
) => {
  // YAML arrives as text; JSON is kept as the text it was sent as, so versions diff what the author wrote.
  app.addContentTypeParser(
    yamlTypes,
    { parseAs: 'string', bodyLimit: planBodyLimit },
    (_request, body, done) => {
      done(null, body);
    },
  );
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: planBodyLimit },
    (_request, body, done) => {
      done(null, body);
    },
  );

  app.put(
    '/',
    { config: { scope: 'admin', limit: 'planApply' }, bodyLimit: planBodyLimit },
    async (request, reply) => {
      if (typeof request.body !== 'string' || request.body.trim() === '') {
        throw new ValidationError(
          `send the plan as the request body (${yamlTypes.join(', ')} or application/json)`,
        );
      }
      const { principal } = request;
      const applied = await applyPlan(request.em, {
        tenantId: principal.tenantId,
        source: request.body,
        sourceName: 'request body',
        appliedBy: `service-account:${principal.serviceAccountId}`,
        checker: options.checks,
        tell: (version) => [
          adminRow(
            logstreamOf(options.topicPrefix ?? 'joinery.'),
            principal,
            `plan/${principal.tenantId}/${String(version)}`,
            new Date().toISOString(),
            {
              outcome: 'succeeded',
              message: `sync plan version ${String(version)} applied`,
              decidedBy: { kind: 'plan', name: `version ${String(version)}` },
            },
          ),
        ],
      });
      return reply.status(applied.changed ? 201 : 200).send(applied);
    },
  );

  app.get('/', { config: { scope: 'read' } }, async (request) =>
    getPlanVersion(request.em, request.principal.tenantId),
  );

  // How far the identities already in the Vault have been looked at with the newest plan that asked for it.
  app.get('/reconciliation', { config: { scope: 'read' } }, async (request) => {
    const status = await reconciliationStatus(request.em, request.principal.tenantId);
    if (status === undefined) throw new NotFoundError('no plan reconciliation has been requested yet');
    return status;
  });

  app.get('/versions', { config: { scope: 'read' } }, async (request) => ({
    versions: await listPlanVersions(request.em, request.principal.tenantId),
  }));

  app.get(
    '/versions/:version',
    {
      config: { scope: 'read' },
      schema: { params: Type.Object({ version: Type.String({ pattern: '^[1-9][0-9]{0,8}$' }) }) },
    },
    async (request) => getPlanVersion(request.em, request.principal.tenantId, Number(request.params.version)),
  );
};
