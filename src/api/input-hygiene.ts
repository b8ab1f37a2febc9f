// What every request must be before a route sees it, whatever its schema says: ids in `format: 'uuid'` are
// canonical UUIDs, and no string of the path parameters, query or body holds text PostgreSQL cannot store.
import { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { ValidationError } from '../../kernel/errors.ts';
import { findUnstorableText, type ValuePath } from '../../kernel/contracts/storable-text.ts';

/**
 * A UUID as PostgreSQL prints it (either case): ajv-formats' `uuid` also lets `urn:uuid:<uuid>` through,
 * which PostgreSQL's uuid type refuses. The same pattern as TypeBox's `uuid`, so the agent channel agrees.
 */
export const canonicalUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Replaces ajv-formats' `uuid` format (Fastify's ajv `onCreate`, which runs after the formats are added). */
export function useCanonicalUuidFormat(ajv: { addFormat(name: string, format: RegExp): unknown }): void {
  ajv.addFormat('uuid', canonicalUuid);
}

/** A path like the schema validation's (`body/applications/0`), JSON Pointer escapes included. */
function pathText(part: string, path: ValuePath): string {
  return [part, ...path.map((segment) => String(segment).replaceAll('~', '~0').replaceAll('/', '~1'))].join(
    '/',
  );
}

/**
 * A preValidation hook: refuses a NUL character or a lone surrogate anywhere in the path parameters, the
 * query or the body (strings and property names), naming where, before the schema or the route runs.
 */
export async function refuseUnstorableText(request: FastifyRequest): Promise<void> {
  const parts: [string, unknown][] = [
    ['params', request.params],
    ['querystring', request.query],
    // A streamed body (a file upload) is read by its route, not walked here.
    ['body', request.body instanceof Readable ? undefined : request.body],
  ];
  for (const [part, value] of parts) {
    const found = findUnstorableText(value);
    if (found === undefined) continue;
    const path = pathText(part, found.path);
    throw new ValidationError(`${path}: ${found.problem}`, { details: { path } });
  }
}
