// A start-up problem the user can fix, said in one line that ends with what to do. The CLI prints it as
// `joinery: <message>` and exits non-zero, without a stack trace; the cause, if any, is for debugging.
import { relative, isAbsolute } from 'node:path';
import { InfraError } from '../../kernel/errors.ts';

export class StartUpError extends InfraError {}

/** A path as the user would type it: relative to the working directory when inside it. */
export function displayPath(path: string, cwd: string = process.cwd()): string {
  const shown = relative(cwd, path);
  return shown === '' ? '.' : shown.startsWith('..') || isAbsolute(shown) ? path : shown;
}

/** The errno code of a failed system call, e.g. EACCES. */
export function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? 'error';
}
