// Shapes shared by every route group.
import { Type } from '@fastify/type-provider-typebox';

export const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }),
});
