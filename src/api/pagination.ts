// Keyset pagination for list routes: a page size and an opaque cursor (the last item's sort key) that the
// next request passes back as `after`, so a page costs an index range scan however deep the caller reads.
import { Type } from '@fastify/type-provider-typebox';
import { ValidationError } from '../../kernel/errors.ts';

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

/** The sort key inside a cursor; external ids (DNs) contain characters a raw key would need escaping for. */
export function decodeCursor(after: string | undefined): string | undefined {
  if (after === undefined) return undefined;
  if (!/^[A-Za-z0-9_-]+$/.test(after))
    throw new ValidationError('querystring/after is not a cursor this API returned (use nextCursor)', {
      details: { after },
    });
  return Buffer.from(after, 'base64url').toString('utf8');
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
