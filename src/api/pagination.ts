// Keyset pagination for list routes: a page size and an opaque cursor (the last item's sort key) that the
// next request passes back as `after`, so a page costs an index range scan however deep the caller reads.
import { Type } from '@fastify/type-provider-typebox';
import { ValidationError } from '../../kernel/errors.ts';
import { canonicalUuid } from './input-hygiene.ts';

export const MAX_PAGE_SIZE = 500;
const DEFAULT_PAGE_SIZE = 100;

// Query strings are not coerced (coerceTypes: false), so numbers arrive as digits and are read here.
export const LimitQuery = Type.Optional(
  Type.String({
    pattern: '^[0-9]{1,4}$',
    description: `Page size, 1 to ${String(MAX_PAGE_SIZE)} (default ${String(DEFAULT_PAGE_SIZE)}).`,
  }),
);

export const AfterQuery = Type.Optional(
  Type.String({
    minLength: 1,
    maxLength: 2048,
    description: 'The nextCursor of the previous page.',
  }),
);

export function pageSize(limit: string | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_SIZE;
  const size = Number(limit);
  if (size < 1 || size > MAX_PAGE_SIZE)
    throw new ValidationError(`querystring/limit must be between 1 and ${String(MAX_PAGE_SIZE)}`, {
      details: { limit },
    });
  return size;
}

export function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

/** What a list's sort key is: text (external ids), a UUID (identities, groups) or a bigint (queue order). */
export type CursorKey = 'text' | 'uuid' | 'bigint';

const MAX_BIGINT = 9223372036854775807n;
const isKey: Record<CursorKey, (key: string) => boolean> = {
  text: (key) => !key.includes('\u0000'),
  uuid: (key) => canonicalUuid.test(key),
  bigint: (key) => /^[0-9]{1,19}$/.test(key) && BigInt(key) <= MAX_BIGINT,
};

/**
 * The sort key inside a cursor; external ids (DNs) contain characters a raw key would need escaping for.
 * Only a cursor this API could have returned is read: base64url that encodes back to itself (so its bytes
 * are UTF-8), holding a key of the list's kind (no NUL, a UUID, a bigint in range).
 */
export function decodeCursor(after: string | undefined, key: CursorKey = 'text'): string | undefined {
  if (after === undefined) return undefined;
  const decoded = /^[A-Za-z0-9_-]+$/.test(after)
    ? Buffer.from(after, 'base64url').toString('utf8')
    : undefined;
  if (decoded === undefined || encodeCursor(decoded) !== after || !isKey[key](decoded))
    throw new ValidationError('querystring/after is not a cursor this API returned (use nextCursor)', {
      details: { path: 'querystring/after' },
    });
  return decoded;
}

/** One page from rows fetched with limit + 1: the extra row only says whether there is a next page. */
export function page<T, R>(
  rows: T[],
  size: number,
  keyOf: (row: T) => string,
  present: (row: T) => R,
): { items: R[]; nextCursor: string | null } {
  const items = rows.slice(0, size);
  const last = items.at(-1);
  return {
    items: items.map(present),
    nextCursor: rows.length > size && last !== undefined ? encodeCursor(keyOf(last)) : null,
  };
}
