// HTTP to a SCIM 2.0 service (RFC 7644): authentication (a bearer token, or OAuth2 client credentials with
// the token cached until it expires), a time limit per request, and retries — a 429 waits as its
// Retry-After says, a 5xx, a timeout or a broken connection waits by exponential backoff — a few times
// within the request; what still fails is an error that says whether a later attempt may succeed.
import { backoffDelay, type BackoffPolicy } from '../../../kernel/retry.ts';

export type ScimAuth =
  | { bearer: string }
  | { oauth2: { tokenUrl: string; clientId: string; clientSecret: string; scope?: string } };

export interface ScimClientOptions {
  baseUrl: string;
  auth: ScimAuth;
  timeoutMs: number;
  fetch?: typeof fetch;
  retry?: Partial<RetrySettings>;
  now?: () => number;
}

export interface RetrySettings {
  /** Tries per request, the first included. */
  attempts: number;
  policy: BackoffPolicy;
  /** A Retry-After longer than this is not waited for within the request: the export queue retries later. */
  maxRetryAfterMs: number;
}

export const defaultRetry: RetrySettings = {
  attempts: 4,
  policy: { initialDelayMs: 500, maxDelayMs: 10_000, jitter: 'equal' },
  maxRetryAfterMs: 30_000,
};

/** A SCIM request that did not succeed: its status (null: no answer), SCIM error type, and whether to retry later. */
export class ScimRequestError extends Error {
  readonly status: number | null;
  readonly scimType: string | null;
  readonly retriable: boolean;

  constructor(
    message: string,
    details: { status: number | null; scimType?: string | null; retriable: boolean },
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ScimRequestError';
    this.status = details.status;
    this.scimType = details.scimType ?? null;
    this.retriable = details.retriable;
  }
}

/** Whether a later try of a request answered with this status may succeed. */
export function isRetriableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** A Retry-After header (seconds, or an HTTP date) in milliseconds from `now`; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | null {
  if (header === null || header.trim() === '') return null;
  const seconds = Number(header.trim());
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * Whether to try again after an answer (`status`, with its Retry-After) or no answer (`status` null), and
 * after how long. `attempt` is the try that just failed, from 1.
 */
export function retryDecision(
  outcome: { status: number | null; retryAfter: string | null },
  attempt: number,
  settings: RetrySettings,
  now: number,
): { retry: true; delayMs: number } | { retry: false; retriable: boolean } {
  const retriable = outcome.status === null || isRetriableStatus(outcome.status);
  if (!retriable) return { retry: false, retriable: false };
  if (attempt >= settings.attempts) return { retry: false, retriable: true };
  const asked = outcome.status === null ? null : retryAfterMs(outcome.retryAfter, now);
  if (asked !== null)
    return asked > settings.maxRetryAfterMs
      ? { retry: false, retriable: true }
      : { retry: true, delayMs: asked };
  return { retry: true, delayMs: backoffDelay(settings.policy, attempt) };
}

export interface ScimResponse {
  status: number;
  body: unknown;
}

export interface ScimClient {
  /** A request relative to the base URL; a 2xx answer, or a ScimRequestError. */
  request(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    options?: { body?: unknown; query?: Record<string, string>; signal?: AbortSignal },
  ): Promise<ScimResponse>;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export function createScimClient(options: ScimClientOptions): ScimClient {
  const doFetch = options.fetch ?? fetch;
  const settings: RetrySettings = { ...defaultRetry, ...options.retry };
  const now = options.now ?? Date.now;
  const base = options.baseUrl.replace(/\/+$/, '');
  let token: { value: string; expiresAt: number } | null = null;
  let fetching: Promise<string> | null = null;

  const fetchToken = async (signal?: AbortSignal): Promise<string> => {
    if (!('oauth2' in options.auth)) return options.auth.bearer;
    if (token !== null && token.expiresAt > now()) return token.value;
    const { tokenUrl, clientId, clientSecret, scope } = options.auth.oauth2;
    fetching ??= (async () => {
      const body = new URLSearchParams({
        grant_type: 'client_credentials',
        ...(scope === undefined ? {} : { scope }),
      });
      let response: Response;
      try {
        response = await doFetch(tokenUrl, {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
          },
          body,
          signal: AbortSignal.any([AbortSignal.timeout(options.timeoutMs), ...(signal ? [signal] : [])]),
        });
      } catch (error) {
        throw new ScimRequestError(`OAuth2 token request to ${tokenUrl} failed: ${errorText(error)}`, {
          status: null,
          retriable: true,
        });
      }
      const answer = (await response.json().catch(() => null)) as {
        access_token?: unknown;
        expires_in?: unknown;
        error?: unknown;
      } | null;
      if (!response.ok || typeof answer?.access_token !== 'string')
        throw new ScimRequestError(
          `OAuth2 token request to ${tokenUrl} answered ${String(response.status)}${typeof answer?.error === 'string' ? ` ${answer.error}` : ''}: check the client id and secret`,
          { status: response.status, retriable: isRetriableStatus(response.status) },
        );
      const lifetime = typeof answer.expires_in === 'number' ? answer.expires_in * 1000 : 3_600_000;
      // Renewed a minute early (or at half its life, when shorter): never sent just as it expires.
      token = { value: answer.access_token, expiresAt: now() + Math.max(lifetime - 60_000, lifetime / 2) };
      return token.value;
    })().finally(() => {
      fetching = null;
    });
    return fetching;
  };

  const request: ScimClient['request'] = async (method, path, requestOptions = {}) => {
    const url = new URL(`${base}${path}`);
    for (const [key, value] of Object.entries(requestOptions.query ?? {})) url.searchParams.set(key, value);
    const what = `${method} ${url.pathname}`;
    let renewedToken = false;
    for (let attempt = 1; ; attempt++) {
      const bearer = await fetchToken(requestOptions.signal);
      let response: Response | null = null;
      let failure: unknown = null;
      try {
        response = await doFetch(url, {
          method,
          headers: {
            authorization: `Bearer ${bearer}`,
            accept: 'application/scim+json, application/json',
            ...(requestOptions.body === undefined ? {} : { 'content-type': 'application/scim+json' }),
          },
          ...(requestOptions.body === undefined ? {} : { body: JSON.stringify(requestOptions.body) }),
          signal: AbortSignal.any([
            AbortSignal.timeout(options.timeoutMs),
            ...(requestOptions.signal ? [requestOptions.signal] : []),
          ]),
        });
      } catch (error) {
        if (requestOptions.signal?.aborted === true) throw error;
        failure = error;
      }
      if (response !== null && response.ok) {
        const text = await response.text();
        return { status: response.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
      }
      if (response?.status === 401 && 'oauth2' in options.auth && !renewedToken) {
        // The cached token was revoked or expired early: one more try with a new one.
        await response.body?.cancel();
        token = null;
        renewedToken = true;
        attempt--;
        continue;
      }
      const decision = retryDecision(
        { status: response?.status ?? null, retryAfter: response?.headers.get('retry-after') ?? null },
        attempt,
        settings,
        now(),
      );
      if (decision.retry) {
        await response?.body?.cancel();
        await sleep(decision.delayMs, requestOptions.signal);
        continue;
      }
      if (response === null)
        throw new ScimRequestError(
          `${what}: no answer (${errorText(failure)})`,
          { status: null, retriable: true },
          failure,
        );
      const error = (await response.json().catch(() => null)) as {
        detail?: unknown;
        scimType?: unknown;
      } | null;
      const scimType = typeof error?.scimType === 'string' ? error.scimType : null;
      const detail = typeof error?.detail === 'string' ? `: ${error.detail.slice(0, 500)}` : '';
      throw new ScimRequestError(
        `${what} answered ${String(response.status)}${scimType === null ? '' : ` ${scimType}`}${detail}`,
        { status: response.status, scimType, retriable: decision.retriable },
      );
    }
  };
  return { request };
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') return 'timed out';
    const cause = (error as { cause?: { code?: string } }).cause;
    return cause?.code === undefined ? error.message : `${error.message} (${cause.code})`;
  }
  return String(error);
}
