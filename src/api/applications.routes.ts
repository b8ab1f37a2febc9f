// Applications of the caller's tenant. Another tenant's application is simply not found (404).
import { randomUUID } from 'node:crypto';
import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { ConflictError, NotFoundError } from '../../kernel/errors.ts';
import { Application, applicationModes, applicationTypes } from '../storage/entities/application.entity.ts';
import { Tenant } from '../storage/entities/tenant.entity.ts';
import { ErrorBody, IdParams } from './common.schemas.ts';

const ApplicationBody = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  type: Type.Enum(applicationTypes),
  mode: Type.Enum(applicationModes),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const CreateApplication = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    type: Type.Enum(applicationTypes),
    mode: Type.Optional(Type.Enum(applicationModes)),
  },
  { additionalProperties: false },
);

const UpdateApplication = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    mode: Type.Optional(Type.Enum(applicationModes)),
  },
  { additionalProperties: false, minProperties: 1 },
);

function present(application: Application): Static<typeof ApplicationBody> {
  return {
    id: application.id,
    name: application.name,
    type: application.type,
    mode: application.mode,
    createdAt: application.createdAt.toISOString(),
    updatedAt: application.updatedAt.toISOString(),
  };
}

/**
 * The version of the plan in force when it names the application: the engine takes such an application's
 * mode from the plan, and finds it by its name there.
 */
async function planNaming(em: EntityManager, tenantId: string, name: string): Promise<number | undefined> {
  const { rows } = await sql<{ version: number }>`
    select p.version from plan_version p
    where p.tenant_id = ${tenantId}
      and p.version = (select max(version) from plan_version where tenant_id = ${tenantId})
      and exists (select 1 from jsonb_array_elements(p.document->'applications') as a(application)
                  where a.application->>'name' = ${name})`.execute(em.getKysely());
  return rows[0]?.version;
}

export const applicationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/',
    { schema: { response: { 200: Type.Object({ items: Type.Array(ApplicationBody) }) } } },
    async (request) => {
      const applications = await request.em.find(Application, {}, { orderBy: { name: 'asc' } });
      return { items: applications.map(present) };
    },
  );

  app.post(
    '/',
    { schema: { body: CreateApplication, response: { 201: ApplicationBody, 409: ErrorBody } } },
    async (request, reply) => {
      const now = new Date();
      const application = request.em.create(Application, {
        id: randomUUID(),
        tenant: request.em.getReference(Tenant, request.principal.tenantId),
        name: request.body.name,
        type: request.body.type,
        mode: request.body.mode ?? 'sandbox',
        createdAt: now,
        updatedAt: now,
      });
      await flushUnique(request.em, `an application named "${request.body.name}" already exists`);
      return reply.status(201).send(present(application));
    },
  );

  app.get(
    '/:id',
    { schema: { params: IdParams, response: { 200: ApplicationBody, 404: ErrorBody } } },
    async (request) => present(await findApplication(request.em, request.params.id)),
  );

  app.patch(
    '/:id',
    {
      schema: {
        params: IdParams,
        body: UpdateApplication,
        response: { 200: ApplicationBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const application = await findApplication(request.em, request.params.id);
      const plan = await planNaming(request.em, request.principal.tenantId, application.name);
      if (plan !== undefined)
        throw new ConflictError(
          `application "${application.name}" is defined by the sync plan (version ${String(plan)}): change its name or mode there and apply it`,
          { details: { planVersion: plan } },
        );
      request.em.assign(application, request.body);
      await flushUnique(request.em, `an application named "${request.body.name ?? ''}" already exists`);
      return present(application);
    },
  );

  app.delete(
    '/:id',
    { schema: { params: IdParams, response: { 204: Type.Null(), 404: ErrorBody } } },
    async (request, reply) => {
      const application = await findApplication(request.em, request.params.id);
      await request.em.remove(application).flush();
      return reply.status(204).send(null);
    },
  );
};

async function findApplication(em: EntityManager, id: string): Promise<Application> {
  // The tenant filter on em makes another tenant's application indistinguishable from a missing one.
  const application = await em.findOne(Application, { id });
  if (application === null)
    throw new NotFoundError(`application ${id} not found`, { details: { applicationId: id } });
  return application;
}

async function flushUnique(em: EntityManager, message: string): Promise<void> {
  try {
    await em.flush();
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException)
      throw new ConflictError(message, { cause: error });
    throw error;
  }
}
