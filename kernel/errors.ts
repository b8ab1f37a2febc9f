// One error catalogue, shared by the service and the agent: every error Joinery raises on purpose carries a
// stable code from `errorCodes`, whether a retry can help, and the HTTP status it maps to. Retry,
// dead-letter and HTTP decisions read these fields only.

/**
 * Every stable error code, with what it means. Codes are a public contract: they appear in API error
 * bodies, dead letters, export results and logs, and are never renamed.
 */
export const errorCodes = {
  JNY_CONFIG_INVALID:
    'A setting is missing, malformed or unknown; the message names it and where it came from.',
  JNY_VALIDATION: 'A request or input does not match its contract.',
  JNY_BAD_REQUEST:
    'The HTTP request itself is malformed: a URL that does not decode, a request line or header the HTTP parser refuses.',
  JNY_BODY_MALFORMED:
    'A request body does not parse as its content type (invalid or empty JSON, fewer bytes than its Content-Length).',
  JNY_BODY_TOO_LARGE: 'A request body is larger than the route accepts.',
  JNY_URI_TOO_LONG: 'A request URL, or one of its path parameters, is longer than the API accepts.',
  JNY_MEDIA_TYPE_UNSUPPORTED: 'A request body has a content type the route does not accept.',
  JNY_HEADERS_TOO_LARGE: 'The request line and headers together are larger than the HTTP server accepts.',
  JNY_REQUEST_TIMEOUT: 'The client did not send its whole request in time.',
  JNY_UNAUTHENTICATED: 'No valid credentials: a missing, unknown or revoked API key or agent.',
  JNY_FORBIDDEN:
    'The caller is known but may not do this (e.g. an API key without the scope a route needs; details.requiredScope).',
  JNY_RATE_LIMITED:
    'Too many requests (or failed authentications) from this source or tenant in the window; retry after Retry-After seconds.',
  JNY_NOT_FOUND: 'No such resource (also for another tenant’s resources).',
  JNY_CONFLICT: 'The request conflicts with the current state.',
  JNY_SCHEMA_MISMATCH: 'The database schema is not the one this build knows.',
  JNY_UNAVAILABLE: 'A dependency (PostgreSQL, Kafka, the API) is unreachable; retrying later may succeed.',
  JNY_INFRA: 'Local infrastructure could not be installed, started or reached.',
  JNY_START_UP: 'The service cannot start for a reason the user can fix; the message says what to do.',
  JNY_PLAN_INVALID: 'A sync plan failed validation.',
  JNY_IMPORT_ABORTED:
    'A file import stopped before its end (an unreadable file, its header, too many malformed rows, csv.onError: fail): nothing was deleted.',
  JNY_EXPRESSION_BUDGET:
    'A sync plan expression exceeded its budget (steps, time, list or string size) on one object or identity.',
  JNY_VERSION_CONFLICT: 'Another writer changed an identity since it was read.',
  JNY_INTERNAL: 'An unexpected error; the service log has the details.',
  JNY_MESSAGE_REJECTED: 'A message or event that can never be processed as it is.',
  JNY_MESSAGE_INVALID: 'A message does not match its published contract (headers or data).',
  JNY_UNKNOWN_TENANT: 'A message names a tenant that does not exist.',
  JNY_TENANT_MISMATCH: 'A message names an identity of another tenant.',
  JNY_NOT_JOINED: 'A pulse for an application object that is joined to no identity.',
  JNY_ACTOR_FAILED: 'An identity actor could not take an event.',
  JNY_PROCESSING_FAILED: 'A message failed on its own, permanently, when its batch was re-run one by one.',
  JNY_CANCELLED: 'An export was cancelled before it was applied.',
  JNY_SEAL_INVALID: 'An HPKE-sealed payload did not open (tampered, another key, other ids).',
  JNY_DELTA_COOKIE_EXPIRED: 'A directory can no longer answer “what changed since this cookie”.',
  JNY_PASSWORD_CAPTURE_FAILED: 'Password change capture could not read the directory’s changes.',
  JNY_WRITEBACK_UNAVAILABLE: 'The agent has no writeback for this directory.',
  JNY_WRITEBACK_FAILED: 'A write to the directory failed.',
  JNY_WRITEBACK_INVALID: 'An export instruction cannot be written as it is.',
  JNY_WRITEBACK_UNSUPPORTED: 'The directory does not support this operation.',
  JNY_WRITEBACK_NOT_FOUND: 'The object to write is not in the directory.',
  JNY_WRITEBACK_NO_ANCHOR: 'An object in the directory has no readable anchor attribute.',
  JNY_WRITEBACK_CONFLICT: 'An object to create already exists and is not the one expected.',
  JNY_WRITEBACK_INSECURE_CHANNEL: 'A password would cross an unencrypted LDAP connection.',
  JNY_WRITEBACK_NO_PPOLICY: 'The directory cannot enable or disable accounts (no ppolicy overlay).',
  JNY_WRITEBACK_NO_PASSWORD: 'A password instruction carried no password.',
  JNY_LDAP_CONNECTION: 'The directory connection failed (refused, reset, timed out).',
  JNY_SIEM_DELIVERY:
    'A SIEM destination did not take events (unreachable, connection lost, non-2xx answer); retried with backoff.',
  JNY_LDAP_RESULT: 'The directory answered an operation with an LDAP error result (named in the message).',
  JNY_EXPORT_NOT_PUBLISHABLE:
    'An export for an external connector carries a password or a sensitive value, which is never published on Kafka.',
} as const satisfies Record<`JNY_${string}`, string>;

export type ErrorCode = keyof typeof errorCodes;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorCodes, value);
}

export interface JoineryErrorOptions {
  cause?: unknown;
  /** Extra context for logs and API error bodies (ids, paths), never secrets or attribute values. */
  details?: Record<string, unknown>;
}

export abstract class JoineryError extends Error {
  abstract readonly code: ErrorCode;
  /** True when the same operation may succeed later (database down, broker unavailable). */
  abstract readonly retriable: boolean;
  readonly httpStatus: number = 500;
  readonly details: Record<string, unknown> | undefined;

  constructor(message: string, options: JoineryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options.details;
  }
}

/** A setting is missing, malformed or unknown. The message names the setting and where it came from. */
export class ConfigError extends JoineryError {
  readonly code = 'JNY_CONFIG_INVALID';
  readonly retriable = false;
}

/** Input from a user or another system does not match its contract. */
export class ValidationError extends JoineryError {
  readonly code = 'JNY_VALIDATION';
  readonly retriable = false;
  override readonly httpStatus = 400;
}

/**
 * An HTTP request refused before any route decided anything: its URL, headers, body or content type cannot
 * be taken as they are (the HTTP edge maps the web server's own refusals to these codes).
 */
export class RequestRefusedError extends JoineryError {
  readonly code: RequestRefusedCode;
  readonly retriable = false;
  override readonly httpStatus: number;

  constructor(
    code: RequestRefusedCode,
    httpStatus: number,
    message: string,
    options: JoineryErrorOptions = {},
  ) {
    super(message, options);
    this.code = code;
    this.httpStatus = httpStatus;
  }
}

export type RequestRefusedCode = Extract<
  ErrorCode,
  | 'JNY_BAD_REQUEST'
  | 'JNY_BODY_MALFORMED'
  | 'JNY_BODY_TOO_LARGE'
  | 'JNY_URI_TOO_LONG'
  | 'JNY_MEDIA_TYPE_UNSUPPORTED'
  | 'JNY_HEADERS_TOO_LARGE'
  | 'JNY_REQUEST_TIMEOUT'
>;

export class UnauthenticatedError extends JoineryError {
  readonly code = 'JNY_UNAUTHENTICATED';
  readonly retriable = false;
  override readonly httpStatus = 401;
}

/** Also used for resources of another tenant, so their existence is not revealed. */
export class NotFoundError extends JoineryError {
  readonly code = 'JNY_NOT_FOUND';
  readonly retriable = false;
  override readonly httpStatus = 404;
}

export class ConflictError extends JoineryError {
  readonly code = 'JNY_CONFLICT';
  readonly retriable = false;
  override readonly httpStatus = 409;
}

/** The database schema is not the one this build knows: pending or unknown migrations. */
export class SchemaMismatchError extends JoineryError {
  readonly code = 'JNY_SCHEMA_MISMATCH';
  readonly retriable = false;
}

/** A dependency (PostgreSQL, Kafka) is unreachable; retrying later may succeed. */
export class UnavailableError extends JoineryError {
  readonly code = 'JNY_UNAVAILABLE';
  readonly retriable = true;
  override readonly httpStatus = 503;
}

/** A SIEM destination did not take a batch of events: the delivery worker waits and sends it again. */
export class SiemDeliveryError extends JoineryError {
  readonly code = 'JNY_SIEM_DELIVERY';
  readonly retriable = true;
}

/** Local infrastructure (Kafka, OpenLDAP, Samba AD) could not be installed, started or reached. */
export class InfraError extends JoineryError {
  readonly code = 'JNY_INFRA';
  readonly retriable = false;
}

/**
 * A start-up problem the user can fix (another Joinery on the data directory, a port in use, a directory
 * the postgres user cannot reach), said in one line that ends with what to do. The CLI prints it as
 * `joinery: <message>` and exits non-zero, without a stack trace; the cause is for debugging.
 */
export class StartUpError extends JoineryError {
  readonly code = 'JNY_START_UP';
  readonly retriable = false;
}

/** A sync plan failed validation; problems lists every one found, with line and path. */
export class PlanInvalidError extends JoineryError {
  readonly code = 'JNY_PLAN_INVALID';
  readonly retriable = false;
  override readonly httpStatus = 400;
  readonly problems: { line?: number; path: string; message: string }[];

  constructor(message: string, problems: { line?: number; path: string; message: string }[]) {
    super(message, { details: { problems } });
    this.problems = problems;
  }
}

/**
 * A sync plan expression exceeded its evaluation budget (steps, time, the size of a list or string it
 * built) on one object or identity: that object or identity fails, never the process. `details` names the
 * expression's path and, where the caller knows them, the tenant and the object or identity.
 */
/** A file import stopped before its end; `details` holds the run and what was read. */
export class ImportAbortedError extends JoineryError {
  readonly code = 'JNY_IMPORT_ABORTED';
  readonly retriable = false;
  override readonly httpStatus = 422;
}

export class ExpressionBudgetError extends JoineryError {
  readonly code = 'JNY_EXPRESSION_BUDGET';
  readonly retriable = false;
  override readonly httpStatus = 422;
}

/** Another writer changed an identity since it was read; the batch is retried on fresh state. */
export class VersionConflictError extends JoineryError {
  readonly code = 'JNY_VERSION_CONFLICT';
  readonly retriable = true;
  override readonly httpStatus = 409;
}

/** A message or event that can never be processed as it is: it goes to deadletter with this reason. */
export class PoisonMessageError extends JoineryError {
  readonly code = 'JNY_MESSAGE_REJECTED';
  readonly retriable = false;
}

// PostgreSQL SQLSTATE classes and codes worth a retry: connection exceptions, serialization failures and
// deadlocks, insufficient resources, operator intervention (shutdown, restart).
const transientSqlStates = /^(08|53|57P0[123]|40001|40P01)/;
const transientNetworkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * Whether the same operation may succeed later. Joinery's own errors say so themselves; errors from
 * PostgreSQL, kafkajs and the network are classified here, in one place. Unknown errors are permanent.
 */
export function isRetriable(error: unknown): boolean {
  if (error instanceof JoineryError) return error.retriable;
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const candidate = current as { code?: unknown; retriable?: unknown; name?: unknown; cause?: unknown };
    if (candidate.retriable === true) return true; // kafkajs marks its own errors
    if (typeof candidate.code === 'string') {
      if (transientSqlStates.test(candidate.code) || transientNetworkCodes.has(candidate.code)) return true;
    }
    if (candidate.name === 'ConnectionException') return true; // MikroORM's connection errors
    if (
      candidate instanceof Error &&
      /Connection terminated|connection timeout|Client has encountered a connection error/i.test(
        candidate.message,
      )
    ) {
      return true; // node-postgres
    }
    current = candidate.cause;
  }
  return false;
}

/** One line for a terminal: the message, then each cause's message. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  while (current !== undefined && parts.length < 5) {
    parts.push(
      current instanceof Error
        ? current.message
        : typeof current === 'string'
          ? current
          : JSON.stringify(current),
    );
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(': ');
}

/**
 * A directory can no longer answer "what changed since this cookie" (its change log was purged, or the
 * agent now reads another domain controller): the agent starts over with a full import.
 */
export class DeltaCookieExpiredError extends JoineryError {
  readonly code = 'JNY_DELTA_COOKIE_EXPIRED';
  readonly retriable = false;
}

/** The caller is known but may not do this (e.g. an agent naming an application its connector does not serve). */
export class ForbiddenError extends JoineryError {
  readonly code = 'JNY_FORBIDDEN';
  readonly retriable = false;
  override readonly httpStatus = 403;
}

/** Over a rate limit: the caller should wait `retryAfterSeconds` (also sent as the Retry-After header). */
export class RateLimitedError extends JoineryError {
  readonly code = 'JNY_RATE_LIMITED';
  readonly retriable = true;
  override readonly httpStatus = 429;
}

/** An HPKE-sealed payload did not open: tampered, sealed to another key, or bound to other ids (AAD). */
export class SealedPayloadError extends JoineryError {
  readonly code = 'JNY_SEAL_INVALID';
  readonly retriable = false;
  override readonly httpStatus = 400;
}
