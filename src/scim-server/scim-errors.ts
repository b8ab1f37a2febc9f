// SCIM's own error shape (RFC 7644 §3.12): every refusal of /scim/v2 is a ScimError, answered as
// { schemas: [urn:…:Error], status: "400", scimType?, detail }. Refusals made before a SCIM route decides
// (body parsing, the edge's text checks, a Joinery error) are mapped to it here, in one place.
import { JoineryError } from '../../kernel/errors.ts';
import { SCHEMA } from './scim-schemas.ts';

export type ScimType =
  | 'invalidFilter'
  | 'tooMany'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue'
  | 'invalidVers'
  | 'sensitive';

export class ScimError extends Error {
  readonly status: number;
  readonly scimType: ScimType | undefined;

  constructor(status: number, detail: string, scimType?: ScimType, options?: { cause?: unknown }) {
    super(detail, options);
    this.name = 'ScimError';
    this.status = status;
    this.scimType = scimType;
  }
}

export interface ScimErrorBody {
  schemas: [typeof SCHEMA.error];
  status: string;
  scimType?: ScimType;
  detail: string;
}

export function scimErrorBody(error: ScimError): ScimErrorBody {
  return {
    schemas: [SCHEMA.error],
    status: String(error.status),
    ...(error.scimType === undefined ? {} : { scimType: error.scimType }),
    detail: error.message,
  };
}

/** A Joinery error (or Fastify's own 4xx) as the ScimError it is to a SCIM client; undefined for a 500. */
export function asScimError(error: unknown): ScimError | undefined {
  if (error instanceof ScimError) return error;
  if (error instanceof JoineryError) {
    if (error.httpStatus >= 500) return undefined;
    const scimType: ScimType | undefined =
      error.code === 'JNY_VALIDATION'
        ? 'invalidValue'
        : error.code === 'JNY_BODY_MALFORMED' || error.code === 'JNY_BAD_REQUEST'
          ? 'invalidSyntax'
          : undefined;
    return new ScimError(error.httpStatus, error.message, scimType);
  }
  return undefined;
}
