// Every refusal the API answers has one shape, { error: { code, message, details? } }, whoever refuses:
// a route (a JoineryError), the schema validation, Fastify itself (body parsing, routing) or Node's HTTP
// parser before Fastify sees the request. Codes come from the catalogue in kernel/errors.ts.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { JoineryError, RequestRefusedError, ValidationError } from '../../kernel/errors.ts';

/** The longest request URL (path and query) the API reads; a longer one answers 414. */
export const MAX_URL_LENGTH = 8192;
/** The longest path parameter as sent (percent-encoded); external ids (DNs) reach 1024 characters. */
export const MAX_PARAM_LENGTH = 4096;

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

type ErrorLike = FastifyError | JoineryError | Error;

const isUuidFormatError = (error: { keyword: string; params: Record<string, unknown> }) =>
  error.keyword === 'format' && error.params.format === 'uuid';

/** A schema validation error, said with where: `params/id: not a canonical UUID …` for an id. */
function validationError(error: FastifyError): ValidationError {
  const first = error.validation?.[0];
  if (first !== undefined && isUuidFormatError(first)) {
    const path = `${error.validationContext ?? 'request'}${first.instancePath}`;
    return new ValidationError(
      `${path}: not a canonical UUID (8-4-4-4-12 hexadecimal digits, without urn:uuid: or braces)`,
      { details: { path } },
    );
  }
  return new ValidationError(error.message);
}

/** Fastify's own refusals (body parsing, routing), said with a stable code and what to do. */
function frameworkRefusal(error: FastifyError, request?: FastifyRequest): RequestRefusedError | undefined {
  const route = request === undefined ? 'this route' : `${request.method} ${request.url.split('?')[0] ?? ''}`;
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new RequestRefusedError('JNY_BODY_MALFORMED', 400, `body: ${error.message}`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE': {
      const limit = request?.routeOptions.bodyLimit;
      return new RequestRefusedError(
        'JNY_BODY_TOO_LARGE',
        413,
        `body: larger than the ${limit === undefined ? '' : `${String(limit)} bytes `}${route} accepts`,
        limit === undefined ? {} : { details: { limitBytes: limit } },
      );
    }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': {
      const type = request?.headers['content-type'] ?? '(none)';
      return new RequestRefusedError(
        'JNY_MEDIA_TYPE_UNSUPPORTED',
        415,
        `headers/content-type: "${type}" is not accepted by ${route}; send application/json`,
      );
    }
    case 'FST_ERR_BAD_URL':
      return new RequestRefusedError(
        'JNY_BAD_REQUEST',
        400,
        'url: a path segment is not valid percent-encoded UTF-8',
      );
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new RequestRefusedError(
        'JNY_URI_TOO_LONG',
        414,
        `params: a path parameter is longer than ${String(MAX_PARAM_LENGTH)} characters`,
        { details: { limit: MAX_PARAM_LENGTH } },
      );
    default:
      return undefined;
  }
}

const codeByStatus: Record<number, RequestRefusedError['code']> = {
  408: 'JNY_REQUEST_TIMEOUT',
  413: 'JNY_BODY_TOO_LARGE',
  414: 'JNY_URI_TOO_LONG',
  415: 'JNY_MEDIA_TYPE_UNSUPPORTED',
  431: 'JNY_HEADERS_TOO_LARGE',
};

/** Any error as the JoineryError the API answers with; undefined for an unexpected one (a 500). */
export function refusalOf(error: ErrorLike, request?: FastifyRequest): JoineryError | undefined {
  if (error instanceof JoineryError) return error;
  if ('validation' in error && error.validation !== undefined) return validationError(error);
  const refusal = 'code' in error ? frameworkRefusal(error, request) : undefined;
  if (refusal !== undefined) return refusal;
  if ('statusCode' in error && typeof error.statusCode === 'number' && error.statusCode < 500) {
    // A body parser's own error (a SyntaxError from JSON.parse) or another 4xx Fastify gives.
    if (error instanceof SyntaxError)
      return new RequestRefusedError('JNY_BODY_MALFORMED', 400, `body: not valid JSON: ${error.message}`);
    return new RequestRefusedError(
      codeByStatus[error.statusCode] ?? 'JNY_BAD_REQUEST',
      error.statusCode,
      error.message,
    );
  }
  return undefined;
}

export function errorBody(error: JoineryError): ErrorBody {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details ? { details: error.details } : {}),
    },
  };
}

/** Fastify's error handler: the refusal in the documented shape, or a 500 that shows nothing internal. */
export function handleError(error: ErrorLike, request: FastifyRequest, reply: FastifyReply) {
  const refusal = refusalOf(error, request);
  if (refusal !== undefined) {
    if (refusal.httpStatus >= 500) request.log.error({ err: error }, refusal.message);
    return reply.status(refusal.httpStatus).send(errorBody(refusal));
  }
  request.log.error({ err: error }, 'unhandled error');
  return reply
    .status(500)
    .send({ error: { code: 'JNY_INTERNAL', message: 'internal error; see the service log' } });
}

/** Fastify's frameworkErrors option: refusals made while routing (a bad URL, a path parameter too long). */
export function handleFrameworkError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  void handleError(error, request, reply);
}

/** Refuses a URL longer than MAX_URL_LENGTH (an onRequest hook, before authentication). */
export async function refuseLongUrl(request: FastifyRequest): Promise<void> {
  if (request.url.length > MAX_URL_LENGTH)
    throw new RequestRefusedError(
      'JNY_URI_TOO_LONG',
      414,
      `url: ${String(request.url.length)} characters, longer than the ${String(MAX_URL_LENGTH)} the API accepts`,
      { details: { limit: MAX_URL_LENGTH } },
    );
}

/** An error Node's HTTP server gives its clientError listeners. */
export interface ClientError extends Error {
  code?: string;
  rawPacket?: unknown;
}

/**
 * What Node's HTTP parser refused, as a refusal: headers too large (431; 414 when it is the request line
 * that never ended), a timeout, or a malformed request line or header (400).
 */
export function clientRefusal(error: ClientError): RequestRefusedError {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW': {
      // Node gives the bytes it was parsing (typed by Fastify as a Buffer's JSON form, but a Buffer).
      const packet = Buffer.isBuffer(error.rawPacket) ? error.rawPacket : undefined;
      const lineEnd = packet?.indexOf('\n') ?? -1;
      const requestLineTooLong =
        packet !== undefined &&
        /^[A-Z]+ \//.test(packet.subarray(0, 16).toString('latin1')) &&
        (lineEnd === -1 || lineEnd > MAX_URL_LENGTH);
      return requestLineTooLong
        ? new RequestRefusedError(
            'JNY_URI_TOO_LONG',
            414,
            `url: longer than the ${String(MAX_URL_LENGTH)} characters the API accepts`,
          )
        : new RequestRefusedError(
            'JNY_HEADERS_TOO_LARGE',
            431,
            'headers: the request line and headers together exceed the HTTP server’s limit (16 KiB)',
          );
    }
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new RequestRefusedError('JNY_REQUEST_TIMEOUT', 408, 'the request was not received in time');
    default:
      return new RequestRefusedError(
        'JNY_BAD_REQUEST',
        400,
        `the HTTP request is malformed (${error.code ?? 'parse error'}: ${error.message})`,
      );
  }
}

/** Fastify's clientErrorHandler option: answers on the socket itself, as Fastify's default does. */
export function handleClientError(error: ClientError, socket: Socket) {
  // A reset connection has nobody left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const refusal = clientRefusal(error);
  const body = JSON.stringify(errorBody(refusal));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${String(refusal.httpStatus)} ${STATUS_CODES[refusal.httpStatus] ?? 'Bad Request'}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${String(Buffer.byteLength(body))}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
