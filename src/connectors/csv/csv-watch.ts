// The watched folder of a csv application (`csv.watch`): the engine looks at the directory every
// `pollSeconds`, imports each complete file as one full run (src/connectors/file-import.ts), oldest first,
// one at a time, and moves it to `imported/` — or `failed/`, with `<file>.error.txt` saying why, when the
// import stopped. A file is complete once its size and modification time are unchanged between two looks:
// an export still being written (or copied) grows, and is left alone until it stops.
//
// Every engine process runs a watcher; a transaction-scoped PostgreSQL advisory lock per application makes
// exactly one of them look at an application's directory at a time, and it moves the file before the lock
// is released, so two processes never import one file.
import { createReadStream } from 'node:fs';
import { access, constants, mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { describeError } from '../../../kernel/errors.ts';
import type { Bus } from '../../../streams/bus.ts';
import type { ApplicationPlan } from '../../plan/plan.schema.ts';
import { importFile, type FileImportResult, type ImportLogger } from '../file-import.ts';
import { watchedName, watchSettings, type CsvWatch } from './csv-settings.ts';

/** A file waiting in the watched directory, as one look saw it. */
export interface WaitingFile {
  name: string;
  size: number;
  mtimeMs: number;
}

/** What one look at a watched directory found: its files oldest first, or why it cannot be used. */
export interface FolderLook {
  directory: string;
  /** null when the directory can be read and written (files are moved out of it once imported). */
  problem: string | null;
  files: WaitingFile[];
}

/** Looks at a watched directory: the files its pattern names, oldest first (by modification time, then name). */
export async function lookAtFolder(watch: CsvWatch): Promise<FolderLook> {
  const { directory } = watchSettings(watch);
  const matches = watchedName(watch);
  try {
    await access(directory, constants.R_OK | constants.W_OK | constants.X_OK);
    const entries = await readdir(directory, { withFileTypes: true });
    const files: WaitingFile[] = [];
    for (const entry of entries) {
      if (!entry.isFile() || !matches(entry.name)) continue;
      // A file gone between the listing and its stat was taken by someone else: not waiting any more.
      const info = await stat(join(directory, entry.name)).catch(() => undefined);
      if (info !== undefined) files.push({ name: entry.name, size: info.size, mtimeMs: info.mtimeMs });
    }
    return { directory, problem: null, files: files.sort(oldestFirst) };
  } catch (error) {
    return { directory, problem: folderProblem(directory, error), files: [] };
  }
}

function oldestFirst(a: WaitingFile, b: WaitingFile): number {
  return a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

function folderProblem(directory: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `the watched directory ${directory} does not exist`;
  if (code === 'ENOTDIR') return `the watched directory ${directory} is not a directory`;
  if (code === 'EACCES' || code === 'EPERM')
    return `the watched directory ${directory} cannot be read and written by the engine (${code}): files are read there and moved to imported/ or failed/`;
  return `the watched directory ${directory} cannot be read: ${describeError(error)}`;
}

/** The files unchanged since the previous look (same size and modification time), oldest first. */
export function completeFiles(
  previous: readonly WaitingFile[],
  current: readonly WaitingFile[],
): WaitingFile[] {
  const before = new Map(previous.map((file) => [file.name, file]));
  return current.filter((file) => {
    const seen = before.get(file.name);
    return seen !== undefined && seen.size === file.size && seen.mtimeMs === file.mtimeMs;
  });
}

/** Where a file goes once imported (or not): `imported/` or `failed/`, its run id in its name. */
export function movedName(name: string, runId: string): string {
  const extension = extname(name);
  return `${name.slice(0, name.length - extension.length)}.${runId}${extension}`;
}

interface WatchedApplication {
  id: string;
  tenantId: string;
  plan: ApplicationPlan;
  watch: CsvWatch;
}

export interface CsvWatcher {
  /** Looks at every watched directory now (whatever its pollSeconds) and imports the complete files. */
  poll(): Promise<void>;
  stop(): Promise<void>;
}

export function startCsvWatcher(deps: {
  orm: MikroORM;
  bus: Bus;
  topicPrefix: string;
  logger: ImportLogger;
  /** ce_source of the import messages. */
  source: string;
  /** Looks at every directory this often instead of its pollSeconds (tests). */
  pollMs?: number;
}): CsvWatcher {
  const log = deps.logger.child({ component: 'csv-watch' });
  const seen = new Map<string, WaitingFile[]>();
  const problems = new Map<string, string | null>();
  const lookedAt = new Map<string, number>();
  let running: Promise<void> = Promise.resolve();
  let stopped = false;

  const pollApplication = async (application: WatchedApplication): Promise<void> => {
    await deps.orm.em.fork().transactional(async (tx) => {
      const { rows } = await sql<{ locked: boolean }>`
        select pg_try_advisory_xact_lock(hashtextextended(${`joinery.csv-watch:${application.id}`}, 0)) as locked`.execute(
        tx.getKysely(),
      );
      // Another engine process is looking at this directory: its turn.
      if (rows[0]?.locked !== true) return;
      const look = await lookAtFolder(application.watch);
      reportProblem(application, look);
      const ready = completeFiles(seen.get(application.id) ?? [], look.files);
      seen.set(application.id, look.files);
      for (const file of ready) {
        if (stopped) return;
        await importWaiting(application, look.directory, file);
        seen.set(
          application.id,
          (seen.get(application.id) ?? []).filter((other) => other.name !== file.name),
        );
      }
    });
  };

  const reportProblem = (application: WatchedApplication, look: FolderLook): void => {
    const before = problems.get(application.id);
    problems.set(application.id, look.problem);
    if (before === look.problem) return;
    const fields = {
      tenantId: application.tenantId,
      applicationId: application.id,
      directory: look.directory,
    };
    if (look.problem !== null) log.warn({ ...fields, problem: look.problem }, 'watched directory unusable');
    else if (before !== undefined) log.info(fields, 'watched directory usable again');
  };

  const importWaiting = async (
    application: WatchedApplication,
    directory: string,
    file: WaitingFile,
  ): Promise<void> => {
    const path = join(directory, file.name);
    const fields = { tenantId: application.tenantId, applicationId: application.id, file: path };
    let result: FileImportResult;
    try {
      result = await importFile(
        {
          em: deps.orm.em,
          bus: deps.bus,
          topicPrefix: deps.topicPrefix,
          logger: deps.logger,
          source: deps.source,
        },
        { tenantId: application.tenantId, application, file: createReadStream(path) },
      );
    } catch (error) {
      // The bus or the database failed (the run is aborted): the file stays, to be imported at a later look.
      log.warn({ ...fields, error: describeError(error) }, 'watched file import failed; the file stays');
      return;
    }
    const into = join(directory, result.outcome === 'sent' ? 'imported' : 'failed');
    const moved = join(into, movedName(file.name, result.runId));
    await mkdir(into, { recursive: true });
    await rename(path, moved);
    if (result.outcome === 'aborted') await writeFile(`${moved}.error.txt`, errorReport(file.name, result));
    log.info(
      { ...fields, runId: result.runId, outcome: result.outcome, movedTo: moved },
      'watched file imported',
    );
  };

  const tick = (force: boolean): Promise<void> => {
    running = running.then(async () => {
      const now = Date.now();
      for (const application of await watchedApplications(deps.orm)) {
        if (stopped) return;
        const every = deps.pollMs ?? watchSettings(application.watch).pollSeconds * 1000;
        if (!force && now - (lookedAt.get(application.id) ?? 0) < every) continue;
        lookedAt.set(application.id, now);
        await pollApplication(application).catch((error: unknown) => {
          log.warn(
            { tenantId: application.tenantId, applicationId: application.id, error: describeError(error) },
            'watched directory look failed; retrying at the next look',
          );
        });
      }
    });
    return running;
  };
  const timer = setInterval(
    () => {
      tick(false).catch((error: unknown) => {
        log.warn({ error: describeError(error) }, 'watched directories could not be listed; retrying');
        running = Promise.resolve();
      });
    },
    Math.min(deps.pollMs ?? 1000, 1000),
  );
  timer.unref();
  return {
    poll: () => tick(true),
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running.catch(() => undefined);
    },
  };
}

/** The csv applications with a watched folder, in every tenant's plan in force. */
async function watchedApplications(orm: MikroORM): Promise<WatchedApplication[]> {
  const { rows } = await sql<{ id: string; tenant_id: string; plan: ApplicationPlan | null }>`
    select a.id, a.tenant_id, (
      select application from plan_version p, jsonb_array_elements(p.document->'applications') as e(application)
      where p.tenant_id = a.tenant_id
        and p.version = (select max(version) from plan_version where tenant_id = a.tenant_id)
        and application->>'name' = a.name) as plan
    from application a where a.type = 'csv'`.execute(orm.em.fork().getKysely());
  return rows.flatMap((row) => {
    const watch = row.plan?.csv?.watch;
    return row.plan === null || watch === undefined
      ? []
      : [{ id: row.id, tenantId: row.tenant_id, plan: row.plan, watch }];
  });
}

function errorReport(name: string, result: FileImportResult): string {
  const lines = [
    `${name} was not imported (run ${result.runId}): ${result.reason ?? 'the import stopped'}`,
    `rows read before the stop: ${String(result.rows)}, rejected: ${String(result.rejected)}; nothing was deleted.`,
    ...result.errors.map((error) => `line ${String(error.line)}: ${error.reason}`),
    'Fix the file and drop it in the directory again.',
  ];
  return `${lines.join('\n')}\n`;
}
