// The viewer's API client: the API key lives in sessionStorage (gone when the tab closes) and is sent only
// as a bearer header to this origin's API; live streams get a single-use token instead.
const KEY = 'joinery.apiKey';

export const session = {
  key: (): string | null => sessionStorage.getItem(KEY),
  signIn: (apiKey: string): void => {
    sessionStorage.setItem(KEY, apiKey);
  },
  signOut: (): void => {
    sessionStorage.removeItem(KEY);
  },
};

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api<T>(path: string, init: { method?: string } = {}): Promise<T> {
  const response = await fetch(path, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${session.key() ?? ''}` },
  });
  const body: unknown = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string } }).error;
    throw new ApiError(response.status, error?.code ?? 'JNY_UNKNOWN', error?.message ?? response.statusText);
  }
  return body as T;
}

export interface Run {
  id: string;
  applicationId: string;
  kind: string | null;
  status: string;
  reason: string | null;
  objectCount: number | null;
  seen: number;
  deletions: number;
  rejected: number;
  startedAt: string;
  finishedAt: string | null;
  streamUrl: string;
}

/** A WebSocket URL for a stream path (`/v1/streams?…`), with a fresh single-use token. */
export async function streamSocketUrl(path: string, lastEventId?: string): Promise<string> {
  const { token } = await api<{ token: string }>('/v1/streams/tokens', { method: 'POST' });
  const url = new URL(path, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('token', token);
  if (lastEventId !== undefined) url.searchParams.set('lastEventId', lastEventId);
  return url.toString();
}
