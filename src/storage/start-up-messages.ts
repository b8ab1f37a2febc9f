// How start-up problems (kernel/errors.ts StartUpError) are worded: paths as the user would type them, and
// the errno code of the system call that failed.
import { relative, isAbsolute } from 'node:path';

/** A path as the user would type it: relative to the working directory when inside it. */
export function displayPath(path: string, cwd: string = process.cwd()): string {
  const shown = relative(cwd, path);
  return shown === '' ? '.' : shown.startsWith('..') || isAbsolute(shown) ? path : shown;
}

/** The errno code of a failed system call, e.g. EACCES. */
export function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? 'error';
}
