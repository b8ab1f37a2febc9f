// Live streams of the logstream (docs/live.md): POST /v1/streams/tokens mints a short-lived, single-use
// token with an API key; GET /v1/streams?token=… opens the WebSocket with it (a browser cannot send an
// Authorization header there, and an API key never goes in a URL). The socket is handed to the process's
// logstream hub, which sends the run's snapshot, its live events and its coalesced counters.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { LogstreamHub } from '../live/logstream-hub.ts';
import { StreamQuerySchema, StreamTokenSchema, streamCloseCodes } from '../live/stream-messages.ts';
import type { StreamTokens } from '../live/stream-tokens.ts';

export interface LiveStreams {
  tokens: StreamTokens;
  /** Absent when the API has no bus: sockets are then closed with 4503. */
  hub: LogstreamHub | undefined;
}

/** Where a run's live stream is: add `&token=` (POST /v1/streams/tokens). */
export function runStreamUrl(runId: string): string {
  return `/v1/streams?run=${runId}`;
}

const tokenReasons = {
  malformed: 'the stream token is not one Joinery issued',
  signature: 'the stream token is not one Joinery issued',
  expired: 'the stream token expired: mint a new one (POST /v1/streams/tokens)',
  used: 'the stream token was used already: mint one per connection',
} as const;

/** Behind authentication: the token for one socket, of the caller's tenant. */
export const streamTokenRoutes: FastifyPluginAsyncTypebox<{ live: LiveStreams }> = async (app, options) => {
  app.post(
    '/streams/tokens',
    { config: { scope: 'read' }, schema: { response: { 201: StreamTokenSchema } } },
    async (request, reply) => {
      const { token, expiresAt } = options.live.tokens.issue({
        tenantId: request.principal.tenantId,
        serviceAccountId: request.principal.serviceAccountId,
      });
      return reply.status(201).send({ token, expiresAt: expiresAt.toISOString() });
    },
  );
};

/** Not behind API-key authentication: the token is the credential, checked once the socket is open. */
export const streamSocketRoutes: FastifyPluginAsyncTypebox<{ live: LiveStreams; orm: MikroORM }> = async (
  app,
  options,
) => {
  app.get(
    '/streams',
    // The scope the token stands for: tokens are minted with a read key.
    { websocket: true, config: { scope: 'read' }, schema: { querystring: StreamQuerySchema } },
    async (socket, request) => {
      const { token, lastEventId, ...filter } = request.query;
      const refuse = (code: number, reason: string) => {
        request.log.info({ code, reason, remoteAddress: request.ip }, 'live stream refused');
        socket.close(code, reason);
      };
      const hub = options.live.hub;
      if (hub === undefined) {
        refuse(streamCloseCodes.unavailable, 'live streams are not available on this API process');
        return;
      }
      const checked = options.live.tokens.redeem(token);
      if (!checked.ok) {
        refuse(streamCloseCodes.unauthenticated, tokenReasons[checked.reason]);
        return;
      }
      const { tenantId } = checked.claims;
      const tooMany = hub.refusal(tenantId, request.ip);
      if (tooMany !== undefined) {
        refuse(streamCloseCodes.tooMany, tooMany);
        return;
      }
      // Inbound frames: a client has nothing to send; a large frame is refused, not buffered.
      socket.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
        const size = Array.isArray(data)
          ? data.reduce((sum, part) => sum + part.length, 0)
          : data instanceof ArrayBuffer
            ? data.byteLength
            : data.length;
        if (size > hub.limits.maxInboundFrameBytes)
          socket.close(
            streamCloseCodes.tooLarge,
            `frames to a live stream are limited to ${String(hub.limits.maxInboundFrameBytes)} bytes`,
          );
      });
      let run: { applicationId: string } | undefined;
      if (filter.run !== undefined) {
        const { rows } = await sql<{ application_id: string }>`
          select application_id from import_run where tenant_id = ${tenantId} and run_id = ${filter.run}`.execute(
          options.orm.em.fork().getKysely(),
        );
        const row = rows[0];
        if (row === undefined) {
          refuse(streamCloseCodes.notFound, `sync run ${filter.run} not found`);
          return;
        }
        run = { applicationId: row.application_id };
      }
      request.log.info({ tenantId, filter, lastEventId }, 'live stream opened');
      const refused = await hub.attach({
        socket,
        // The upgraded request's TCP socket is the WebSocket's: the hub corks it to write frames together.
        connection: request.raw.socket,
        tenantId,
        address: request.ip,
        filter,
        ...(lastEventId === undefined ? {} : { lastEventId }),
        ...(run === undefined ? {} : { run }),
      });
      if (refused !== undefined) refuse(streamCloseCodes.tooMany, refused);
    },
  );
};
