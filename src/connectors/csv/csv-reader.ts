// Reading an HR file: bytes in, application objects out, one row at a time (memory stays bounded by a row
// and the set of external ids seen). The bytes are decoded as the plan says (a byte order mark decides in
// `auto`), parsed by csv-parse (quoting, embedded delimiters and line breaks), and each row becomes an
// object of the application's class: its header names mapped to attributes, dates rewritten as ISO 8601,
// an empty cell null. A malformed row is reported with its line and reason — never silently dropped; a
// problem with the whole file (its encoding, its header) ends the reading with one.
import { CsvError, parse } from 'csv-parse';
import { format as formatDate } from 'date-fns/format';
import { isValid } from 'date-fns/isValid';
import { parse as parseDate } from 'date-fns/parse';
import iconv from 'iconv-lite';
import { Readable } from 'node:stream';
import type { Attributes } from '../../../kernel/contracts/identity-events.ts';
import { findUnstorableText } from '../../../kernel/contracts/storable-text.ts';
import type { CsvSettings } from '../../plan/plan.schema.ts';

/** Longest external id an import message carries (joinery.import.object.v1). */
const MAX_EXTERNAL_ID = 1024;

export type CsvRecord =
  | { kind: 'row'; line: number; externalId: string; attributes: Attributes }
  | { kind: 'rejected'; line: number; reason: string }
  /** The file cannot be read on (encoding, header, an unterminated quote): nothing after it is read. */
  | { kind: 'fatal'; line: number; reason: string }
  /** The header was read: which columns are kept (by attribute) and which are not attributes here. */
  | { kind: 'header'; columns: string[]; ignored: string[] };

export interface CsvReadOptions {
  settings: CsvSettings;
  /** The attributes of the rows' object class, as the plan declares them. */
  attributes: readonly string[];
}

type Encoding = NonNullable<CsvSettings['encoding']>;

/** The encoding of the bytes, from the setting and the first bytes (a byte order mark). */
function chooseEncoding(setting: Encoding, head: Buffer): { encoding: string; detected: boolean } {
  if (setting !== 'auto') return { encoding: setting, detected: false };
  if (head[0] === 0xff && head[1] === 0xfe) return { encoding: 'utf-16le', detected: true };
  if (head[0] === 0xfe && head[1] === 0xff) return { encoding: 'utf-16be', detected: true };
  return { encoding: 'utf-8', detected: true };
}

/**
 * The text of the bytes, decoded chunk by chunk; a byte order mark is dropped, and every line break (`\r\n`,
 * `\r`) becomes `\n` — also inside quoted fields — so lines are counted as a person counts them. `onGuess`
 * hears, once, whether UTF-8 was only assumed (`auto` without a mark).
 */
async function* decode(
  input: AsyncIterable<Buffer | string>,
  setting: Encoding,
  onGuess: (guessedUtf8: boolean) => void,
): AsyncGenerator<string> {
  let decoder: ReturnType<typeof iconv.getDecoder> | undefined;
  let first = true;
  let carriageReturn = false;
  const lines = (text: string, last: boolean): string => {
    let joined = carriageReturn ? `\r${text}` : text;
    // A \r at the end of a chunk may be the first half of a \r\n cut in two.
    carriageReturn = !last && joined.endsWith('\r');
    if (carriageReturn) joined = joined.slice(0, -1);
    return joined.replace(/\r\n?/g, '\n');
  };
  for await (const chunk of input) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (decoder === undefined) {
      const { encoding, detected } = chooseEncoding(setting, bytes);
      decoder = iconv.getDecoder(encoding, { stripBOM: true });
      // Without a mark, `auto` assumes UTF-8: bytes that are not UTF-8 say it was a guess too far.
      onGuess(detected && encoding === 'utf-8');
    }
    let text = decoder.write(bytes);
    if (first && text.length > 0) {
      if (text.startsWith('\uFEFF')) text = text.slice(1);
      first = false;
    }
    text = lines(text, false);
    if (text.length > 0) yield text;
  }
  const rest = lines(decoder?.end() ?? '', true);
  if (rest.length > 0) yield rest;
}

/** Dates already read, by format and text: an HR file repeats its dates (hire dates, birthdays) a lot. */
const DATE_CACHE_SIZE = 10_000;
const dateCache = new Map<string, string | undefined>();

/** The date in ISO 8601, or undefined when the text is not a date in the format. */
function isoDate(text: string, pattern: string): string | undefined {
  const key = `${pattern}\u0000${text}`;
  if (dateCache.has(key)) return dateCache.get(key);
  const date = parseDate(text, pattern, new Date(0));
  const iso = !isValid(date)
    ? undefined
    : hasTime(pattern)
      ? date.toISOString()
      : formatDate(date, 'yyyy-MM-dd');
  // Bounded: once full it starts again (a file of ever-new timestamps gains nothing from keeping them).
  if (dateCache.size >= DATE_CACHE_SIZE) dateCache.clear();
  dateCache.set(key, iso);
  return iso;
}

/** A date-fns format with a time of day in it gives a timestamp, else a date. */
const hasTime = (pattern: string) => /[HhKkmsSaX]/.test(pattern.replace(/'[^']*'/g, ''));

export async function* readCsv(
  input: AsyncIterable<Buffer | string>,
  options: CsvReadOptions,
): AsyncGenerator<CsvRecord> {
  const { settings } = options;
  const declared = new Set(options.attributes);
  const encoding = { guessedUtf8: false };
  const text = decode(input, settings.encoding ?? 'auto', (guessedUtf8) => {
    encoding.guessedUtf8 = guessedUtf8;
  });
  // csv-parse reports a skipped row as it parses, ahead of the rows it hands out: kept until the reading
  // reaches its line, so everything comes out in the file's order.
  const skipped: { line: number; reason: string; fatal: boolean }[] = [];
  const source = Readable.from(text);
  const parser = source.pipe(
    parse({
      delimiter: settings.delimiter ?? ',',
      quote: settings.quote ?? '"',
      // Every line ending is \n by now (decode), even mixed in one file (a hand-edited export).
      record_delimiter: '\n',
      info: true,
      raw: true,
      skip_empty_lines: true,
      trim: true,
      skip_records_with_error: true,
      on_skip: (error: CsvError | undefined) => {
        if (error !== undefined)
          skipped.push({
            line: lineOf(error),
            reason: reasonOf(error),
            fatal: error.code === 'CSV_QUOTE_NOT_CLOSED',
          });
        return undefined;
      },
    }),
  );
  // A failing source (an upload cut off, a file that cannot be read) ends the parsing with its error.
  source.on('error', (error) => parser.destroy(error));

  let header: { index: number; attribute: string }[] | undefined;
  let externalIdAt = -1;
  const seen = new Map<string, number>();
  const drainSkipped = function* (before = Infinity): Generator<CsvRecord> {
    for (let next = skipped[0]; next !== undefined && next.line < before; next = skipped[0]) {
      skipped.shift();
      yield { kind: next.fatal ? 'fatal' : 'rejected', line: next.line, reason: next.reason };
    }
  };
  try {
    for await (const entry of parser as AsyncIterable<{
      record: string[];
      raw: string;
      info: { lines: number };
    }>) {
      // The line the record starts on: where it ends, less the line breaks inside it.
      const startLine = entry.info.lines - (entry.raw.trimEnd().match(/\n/g)?.length ?? 0);
      yield* drainSkipped(startLine);
      if (encoding.guessedUtf8 && entry.raw.includes('\uFFFD')) {
        yield {
          kind: 'fatal',
          line: startLine,
          reason: `the file is not UTF-8 (line ${String(startLine)} has bytes UTF-8 cannot read): set csv.encoding (e.g. windows-1252)`,
        };
        return;
      }
      const { record } = entry;
      if (header === undefined) {
        const mapped = record.map((name, index) => ({
          index,
          name,
          attribute: settings.columns?.[name] ?? name,
        }));
        const kept = mapped.filter((column) => declared.has(column.attribute));
        const twice = kept.find((column, i) => kept.findIndex((c) => c.attribute === column.attribute) !== i);
        if (twice !== undefined) {
          yield {
            kind: 'fatal',
            line: startLine,
            reason: `two columns of the header give attribute "${twice.attribute}" (column ${String(twice.index + 1)}, "${twice.name}"): map one of them elsewhere in csv.columns`,
          };
          return;
        }
        externalIdAt = kept.find((column) => column.attribute === settings.externalId)?.index ?? -1;
        if (externalIdAt < 0) {
          yield {
            kind: 'fatal',
            line: startLine,
            reason: `no column of the header gives the external id attribute "${settings.externalId}" (columns: ${record.join(', ')}); map it in csv.columns`,
          };
          return;
        }
        header = kept.map(({ index, attribute }) => ({ index, attribute }));
        yield {
          kind: 'header',
          columns: header.map((column) => column.attribute),
          ignored: mapped.filter((column) => !declared.has(column.attribute)).map((column) => column.name),
        };
        continue;
      }
      yield rowOf(record, startLine, header, externalIdAt, settings, seen);
    }
    yield* drainSkipped();
    if (header === undefined) yield { kind: 'fatal', line: 1, reason: 'the file is empty: no header row' };
  } catch (error) {
    yield* drainSkipped();
    if (!(error instanceof CsvError)) throw error;
    yield { kind: 'fatal', line: lineOf(error), reason: reasonOf(error) };
  }
}

function rowOf(
  record: string[],
  line: number,
  header: { index: number; attribute: string }[],
  externalIdAt: number,
  settings: CsvSettings,
  seen: Map<string, number>,
): CsvRecord {
  const externalId = record[externalIdAt] ?? '';
  const column = header.find((c) => c.index === externalIdAt)?.attribute ?? settings.externalId;
  if (externalId === '')
    return { kind: 'rejected', line, reason: `no external id: column ${column} is empty` };
  if (externalId.length > MAX_EXTERNAL_ID)
    return {
      kind: 'rejected',
      line,
      reason: `external id longer than ${String(MAX_EXTERNAL_ID)} characters in column ${column}`,
    };
  const before = seen.get(externalId);
  if (before !== undefined)
    return {
      kind: 'rejected',
      line,
      reason: `external id ${JSON.stringify(externalId)} is on line ${String(before)} already (a file names each object once)`,
    };
  const attributes: Attributes = {};
  for (const { index, attribute } of header) {
    const raw = record[index] ?? '';
    // Text PostgreSQL cannot store would be dead-lettered by the engine, and the run would wait for it.
    const unstorable = findUnstorableText(raw);
    if (unstorable !== undefined)
      return { kind: 'rejected', line, reason: `${attribute} ${unstorable.problem}` };
    const pattern = settings.dates?.[attribute];
    if (raw === '' || pattern === undefined) {
      attributes[attribute] = raw === '' ? null : raw;
      continue;
    }
    const iso = isoDate(raw, pattern);
    if (iso === undefined)
      return {
        kind: 'rejected',
        line,
        reason: `${attribute} ${JSON.stringify(raw)} is not a date in the format ${pattern}`,
      };
    attributes[attribute] = iso;
  }
  seen.set(externalId, line);
  return { kind: 'row', line, externalId, attributes };
}

function lineOf(error: CsvError | Error): number {
  const lines = (error as { lines?: unknown }).lines;
  return typeof lines === 'number' ? lines : 0;
}

/** csv-parse's message without its option dump, e.g. "Invalid Record Length: expect 4, got 3 on line 7". */
function reasonOf(error: CsvError): string {
  const reasons: Record<string, string> = {
    CSV_RECORD_INCONSISTENT_FIELDS_LENGTH: 'the row does not have as many fields as the header',
    CSV_RECORD_INCONSISTENT_COLUMNS: 'the row does not have as many fields as the header',
    CSV_QUOTE_NOT_CLOSED: 'a quoted field is not closed before the end of the file',
    CSV_INVALID_CLOSING_QUOTE: 'a quote inside a quoted field is not doubled ("")',
    CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE: 'text follows the closing quote of a field',
  };
  return reasons[error.code] ?? error.message.split(':')[0] ?? error.code;
}
