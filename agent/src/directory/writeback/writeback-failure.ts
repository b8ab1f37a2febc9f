// How a writeback fails. A failure decided here carries its own code and retriability; an LDAP error
// result or a broken connection becomes a coded result too. Every message names the operation and the
// object, never attribute values.
import { ResultCodeError } from 'ldapts';
import { isRetriable, type ErrorCode } from '../../../../kernel/errors.ts';
import type { WritebackInstruction, WritebackResult } from '../../contracts.ts';
import type { Subject } from './write-context.ts';

/** A failure decided by the writeback (not by the directory): carries its own code and retriability. */
export class WritebackFailure extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, retriable = false) {
    super(message);
    this.code = code;
    this.retriable = retriable;
  }
}

// Directory conditions worth waiting out: busy, unavailable, time limit, admin limit, and the server
// going away (other, loop detect and the rest are permanent).
const retriableResultCodes = new Set([3, 11, 51, 52, 80]);

/** The failed result for `error`, naming the operation, the object and the directory's error. */
export function failedResult(
  instruction: WritebackInstruction,
  subject: Subject,
  error: unknown,
): Extract<WritebackResult, { status: 'failed' }> {
  if (error instanceof WritebackFailure) {
    return { status: 'failed', code: error.code, message: error.message, retriable: error.retriable };
  }
  const what = `${instruction.operation} of ${subject.dn ?? `${instruction.objectClass ?? 'user'} ${instruction.externalId ?? '(new)'}`}`;
  if (error instanceof ResultCodeError) {
    const name = error.name
      .replace(/Error$/, '')
      .replace(/([a-z])([A-Z])/g, '$1_$2')
      .toUpperCase();
    return {
      status: 'failed',
      code: 'JNY_LDAP_RESULT',
      message: `${what}: LDAP result ${String(error.code)} ${name} (${error.name}): ${error.message}`,
      retriable: retriableResultCodes.has(error.code),
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  // Anything else comes from the connection (refused, reset, timed out): the directory may be back later.
  return {
    status: 'failed',
    code: 'JNY_LDAP_CONNECTION',
    message: `${what}: ${message}`,
    retriable: isRetriable(error) || /connection|socket|timeout|timed out|closed/i.test(message),
  };
}
