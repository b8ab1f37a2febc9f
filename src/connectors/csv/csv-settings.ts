// What a plan's `csv` settings must say, beyond their schema: checked with the rest of the plan
// (src/plan/check-plan.ts), so a file import never starts from settings that cannot work.
import { isAbsolute, matchesGlob } from 'node:path';
import type { ApplicationPlan, CsvSettings } from '../../plan/plan.schema.ts';

export interface CsvSettingsProblem {
  /** Below the application's `csv` (e.g. ['dates', 'HireDate']). */
  path: (string | number)[];
  message: string;
}

const DEFAULT_OBJECT_CLASS_NOTE = 'name one in csv.objectClass';

/** The object class a csv application's rows are, or a problem. */
export function csvObjectClass(application: ApplicationPlan): string | CsvSettingsProblem {
  const declared = Object.keys(application.objectClasses);
  const named = application.csv?.objectClass;
  if (named !== undefined)
    return named in application.objectClasses
      ? named
      : {
          path: ['objectClass'],
          message: `unknown object class "${named}" of application ${application.name} (known: ${declared.join(', ')})`,
        };
  if (declared.length === 1 && declared[0] !== undefined) return declared[0];
  return {
    path: ['objectClass'],
    message: `application ${application.name} declares ${String(declared.length)} object classes: ${DEFAULT_OBJECT_CLASS_NOTE}`,
  };
}

export function csvSettingsProblems(application: ApplicationPlan): CsvSettingsProblem[] {
  const settings: CsvSettings | undefined = application.csv;
  if (settings === undefined) return [];
  if (application.type !== 'csv')
    return [{ path: [], message: `csv settings apply to type: csv applications, not ${application.type}` }];
  const objectClass = csvObjectClass(application);
  if (typeof objectClass !== 'string') return [objectClass];
  const attributes = application.objectClasses[objectClass]?.attributes ?? {};
  const known = (name: string) => name in attributes;
  const list = Object.keys(attributes).sort().join(', ');
  const problems: CsvSettingsProblem[] = [];
  if (!known(settings.externalId))
    problems.push({
      path: ['externalId'],
      message: `unknown attribute "${settings.externalId}" of object class ${objectClass} (known: ${list})`,
    });
  for (const [header, attribute] of Object.entries(settings.columns ?? {}))
    if (!known(attribute))
      problems.push({
        path: ['columns', header],
        message: `column "${header}" is mapped to "${attribute}", not an attribute of object class ${objectClass} (known: ${list})`,
      });
  for (const attribute of Object.keys(settings.dates ?? {}))
    if (!known(attribute))
      problems.push({
        path: ['dates', attribute],
        message: `unknown attribute "${attribute}" of object class ${objectClass} (known: ${list})`,
      });
  if (settings.delimiter !== undefined && settings.delimiter === settings.quote)
    problems.push({ path: ['quote'], message: 'the quote character cannot be the delimiter' });
  problems.push(...watchProblems(settings.watch));
  return problems;
}

export type CsvWatch = NonNullable<CsvSettings['watch']>;

/** The watched folder's settings with their defaults. */
export function watchSettings(watch: CsvWatch): { directory: string; pattern: string; pollSeconds: number } {
  return {
    directory: watch.directory,
    pattern: watch.pattern ?? '*.csv',
    pollSeconds: watch.pollSeconds ?? 30,
  };
}

/** Whether a file name (not a path) is one the watched folder imports. */
export function watchedName(watch: CsvWatch): (name: string) => boolean {
  const { pattern } = watchSettings(watch);
  // What the watcher writes beside the files never matches: its error reports.
  return (name) => matchesGlob(name, pattern) && !name.endsWith('.error.txt');
}

/**
 * A watched directory is an absolute path: a plan is applied from anywhere (the API, another host), so a
 * relative one would depend on the working directory of whichever engine process reads it.
 */
function watchProblems(watch: CsvWatch | undefined): CsvSettingsProblem[] {
  if (watch === undefined) return [];
  const problems: CsvSettingsProblem[] = [];
  if (!isAbsolute(watch.directory))
    problems.push({
      path: ['watch', 'directory'],
      message: `"${watch.directory}" is not an absolute path: name the directory from the root of the engine's host (e.g. /srv/joinery/hr)`,
    });
  if (watch.pattern?.includes('/') === true)
    problems.push({
      path: ['watch', 'pattern'],
      message: `"${watch.pattern}" names a subdirectory: the pattern matches file names in the directory (e.g. *.csv)`,
    });
  return problems;
}
