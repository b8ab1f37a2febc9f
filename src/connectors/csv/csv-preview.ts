// A dry run of a csv application's file: its header and first rows read as an import would read them
// (readCsv, the plan's settings), nothing sent — what `joinery connector test --file` shows before an import.
import type { ApplicationPlan } from '../../plan/plan.schema.ts';
import { readCsv } from './csv-reader.ts';
import { csvObjectClass } from './csv-settings.ts';

export interface CsvPreview {
  /** The columns read (as attributes) and the header names that are no attribute of the class. */
  columns: string[];
  ignoredColumns: string[];
  /** Rows read (at most the limit), and how many of them an import would send. */
  rows: number;
  accepted: number;
  /** The rejected rows among them, in the file's order. */
  rejected: { line: number; reason: string }[];
  /** Why the file cannot be read on (its encoding, its header…), when it cannot. */
  fatal: { line: number; reason: string } | null;
}

/** Reads the header and at most `rows` rows of a file with a csv application's settings; sends nothing. */
export async function previewCsv(
  file: AsyncIterable<Buffer | string>,
  application: ApplicationPlan,
  options: { rows: number },
): Promise<CsvPreview> {
  const objectClass = csvObjectClass(application);
  const settings = application.csv;
  if (settings === undefined || typeof objectClass !== 'string')
    throw new Error(`application ${application.name} has no usable csv settings`);
  const preview: CsvPreview = {
    columns: [],
    ignoredColumns: [],
    rows: 0,
    accepted: 0,
    rejected: [],
    fatal: null,
  };
  const attributes = Object.keys(application.objectClasses[objectClass]?.attributes ?? {});
  // Leaving the loop early closes the reader (and the file) through the generator's return.
  for await (const record of readCsv(file, { settings, attributes })) {
    if (record.kind === 'header') {
      preview.columns = record.columns;
      preview.ignoredColumns = record.ignored;
      continue;
    }
    if (record.kind === 'fatal') {
      preview.fatal = { line: record.line, reason: record.reason };
      break;
    }
    preview.rows++;
    if (record.kind === 'rejected') preview.rejected.push({ line: record.line, reason: record.reason });
    else preview.accepted++;
    if (preview.rows >= options.rows) break;
  }
  return preview;
}
