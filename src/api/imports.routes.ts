// File imports: the body of `POST /v1/applications/:applicationId/imports` is the application's file (an HR
// export), streamed — read row by row as it arrives and sent to the engine as a full import run
// (src/connectors/file-import.ts). The answer comes once the whole file is read: 202 with the run (the
// engine completes it; GET /v1/runs/:id), or 422 when the import stopped, with why and the rejected rows.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Readable } from 'node:stream';
import { ImportAbortedError, RequestRefusedError, UnavailableError } from '../../kernel/errors.ts';
import type { Bus } from '../../streams/bus.ts';
import { fileApplication, importFile } from '../connectors/file-import.ts';
import { runStreamUrl } from './streams.routes.ts';

/** The largest file accepted (bytes); a larger one is refused as it arrives (413). */
export const MAX_IMPORT_FILE_BYTES = 4 * 1024 ** 3;

/** Counts the bytes of the upload and stops it past the limit. */
async function* limited(body: Readable, limit: number): AsyncGenerator<Buffer> {
  let bytes = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > limit)
      throw new RequestRefusedError(
        'JNY_BODY_TOO_LARGE',
        413,
        `the file is larger than ${String(limit)} bytes, the most a file import accepts`,
      );
    yield chunk;
  }
}

export const importRoutes: FastifyPluginAsyncTypebox<{
  bus: Bus | undefined;
  topicPrefix: string;
  maxFileBytes?: number;
}> = async (app, options) => {
  // The file stays a stream: the route reads it as it arrives, whatever its size.
  app.addContentTypeParser(
    ['text/csv', 'application/csv', 'text/plain', 'application/octet-stream'],
    (_request, payload, done) => {
      done(null, payload);
    },
  );
  app.post(
    '/applications/:applicationId/imports',
    {
      // Short tenant transactions, not one for the whole upload (tenant-transaction.ts).
      config: { scope: 'write', limit: 'syncRequests', tenantTransaction: 'short' },
      schema: { params: Type.Object({ applicationId: Type.String({ format: 'uuid' }) }) },
      bodyLimit: options.maxFileBytes ?? MAX_IMPORT_FILE_BYTES,
    },
    async (request, reply) => {
      const { tenantId } = request.principal;
      const application = await request.em.transactional((tx) =>
        fileApplication(tx, tenantId, { id: request.params.applicationId }),
      );
      if (options.bus === undefined)
        throw new UnavailableError('file imports need the engine bus: this API was built without it');
      const result = await importFile(
        {
          em: request.em,
          bus: options.bus,
          topicPrefix: options.topicPrefix,
          logger: request.log,
          source: '/joinery/api',
        },
        {
          tenantId,
          application,
          file: limited(request.body as Readable, options.maxFileBytes ?? MAX_IMPORT_FILE_BYTES),
        },
      );
      if (result.outcome === 'aborted')
        throw new ImportAbortedError(`the file import stopped: ${result.reason ?? 'unknown reason'}`, {
          details: { ...result },
        });
      return reply.status(202).send({ ...result, streamUrl: runStreamUrl(result.runId) });
    },
  );
};
