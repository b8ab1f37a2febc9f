// Reading HR files (src/connectors/csv/csv-reader.ts): encodings, quoting, header maps, dates, and every
// malformed row reported with its line and reason — never silently dropped.
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { readCsv, type CsvRecord } from '../../src/connectors/csv/csv-reader.ts';
import type { CsvSettings } from '../../src/plan/plan.schema.ts';

const attributes = ['WorkerID', 'FirstName', 'HireDate'];

async function read(data: Buffer | string, settings: Partial<CsvSettings> = {}, chunkSize?: number) {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  // Chunks cut anywhere (inside a character, a quote, a line break), as a network upload arrives.
  const pieces =
    chunkSize === undefined
      ? [bytes]
      : Array.from({ length: Math.ceil(bytes.length / chunkSize) }, (_, i) =>
          bytes.subarray(i * chunkSize, (i + 1) * chunkSize),
        );
  async function* chunks() {
    yield* pieces;
  }
  const out: CsvRecord[] = [];
  for await (const record of readCsv(chunks(), {
    settings: { externalId: 'WorkerID', ...settings },
    attributes,
  }))
    out.push(record);
  return out;
}

const rows = (records: CsvRecord[]) =>
  records.flatMap((record) => (record.kind === 'row' ? [[record.line, record.attributes]] : []));
const problems = (records: CsvRecord[]) =>
  records.flatMap((record) =>
    record.kind === 'rejected' || record.kind === 'fatal' ? [[record.kind, record.line, record.reason]] : [],
  );

describe('reading a CSV file', () => {
  it('reads quoted fields, embedded commas, doubled quotes, line breaks and leading zeros as they are', async () => {
    const records = await read(
      '\uFEFFWorkerID,FirstName,Extra\r\n007,"Zoë, the ""first""",x\r\n008,"Ada\nLovelace",y\r\n',
      {},
      3,
    );
    expect(records[0]).toEqual({ kind: 'header', columns: ['WorkerID', 'FirstName'], ignored: ['Extra'] });
    expect(rows(records)).toEqual([
      [2, { WorkerID: '007', FirstName: 'Zoë, the "first"' }],
      [3, { WorkerID: '008', FirstName: 'Ada\nLovelace' }],
    ]);
  });

  it('maps header names to attributes, and reads an empty cell as null', async () => {
    const records = await read('Employee Number,First Name\n1,\n', {
      columns: { 'Employee Number': 'WorkerID', 'First Name': 'FirstName' },
    });
    expect(rows(records)).toEqual([[2, { WorkerID: '1', FirstName: null }]]);
  });

  it('decodes UTF-16 by its byte order mark, and Windows-1252 when the plan says so', async () => {
    const utf16 = Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      iconv.encode('WorkerID,FirstName\n1,Zoë Ångström\n', 'utf-16le'),
    ]);
    expect(rows(await read(utf16, {}, 5))).toEqual([[2, { WorkerID: '1', FirstName: 'Zoë Ångström' }]]);
    const cp1252 = iconv.encode('WorkerID;FirstName\n1;José Müller\n', 'windows-1252');
    expect(rows(await read(cp1252, { encoding: 'windows-1252', delimiter: ';' }))).toEqual([
      [2, { WorkerID: '1', FirstName: 'José Müller' }],
    ]);
  });

  it('stops a file that is not UTF-8 when no encoding is set, saying which to set', async () => {
    const records = await read(iconv.encode('WorkerID,FirstName\n1,José\n', 'windows-1252'));
    // Named at the line that holds the bytes, not where decoding had got to.
    expect(problems(records)).toEqual([['fatal', 2, expect.stringMatching(/line 2 .*csv\.encoding/)]]);
    expect(rows(records)).toEqual([]);
  });

  it('rewrites dates in the plan format as ISO 8601, and rejects a date that does not exist', async () => {
    const records = await read('WorkerID,HireDate\n1,31/01/2024\n2,31/02/2024\n', {
      dates: { HireDate: 'dd/MM/yyyy' },
    });
    expect(rows(records)).toEqual([[2, { WorkerID: '1', HireDate: '2024-01-31' }]]);
    expect(problems(records)).toEqual([
      ['rejected', 3, 'HireDate "31/02/2024" is not a date in the format dd/MM/yyyy'],
    ]);
  });

  it('reports each malformed row with its line, in file order, and reads on', async () => {
    const records = await read('WorkerID,FirstName\n1,"A\nB"\n2,C,extra\n4,E\n4,F\n,G\n5,H\n');
    expect(rows(records).map(([line]) => line)).toEqual([2, 5, 8]);
    expect(problems(records)).toEqual([
      ['rejected', 4, 'the row does not have as many fields as the header'],
      ['rejected', 6, 'external id "4" is on line 5 already (a file names each object once)'],
      ['rejected', 7, 'no external id: column WorkerID is empty'],
    ]);
    // In file order: every problem comes after the rows before it.
    const lines = records.flatMap((record) => ('line' in record ? [record.line] : []));
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
  });

  it('stops at a quote that is not doubled, naming its line: what follows cannot be read reliably', async () => {
    const records = await read('WorkerID,FirstName\n1,A\n3,"D"x\n4,E\n');
    expect(rows(records)).toEqual([[2, { WorkerID: '1', FirstName: 'A' }]]);
    expect(problems(records)).toEqual([
      ['rejected', 3, 'a quote inside a quoted field is not doubled ("")'],
      ['fatal', 4, 'a quoted field is not closed before the end of the file'],
    ]);
  });

  it('counts lines as a person does, whatever the line endings, also inside quoted fields', async () => {
    const records = await read('id,name\r\n1,"a\r\nb"\r\n2,x,extra\r\n3,c\r4,d\n', {
      columns: { id: 'WorkerID', name: 'FirstName' },
    });
    expect(rows(records)).toEqual([
      [2, { WorkerID: '1', FirstName: 'a\nb' }],
      [5, { WorkerID: '3', FirstName: 'c' }],
      [6, { WorkerID: '4', FirstName: 'd' }],
    ]);
    expect(problems(records)).toEqual([
      ['rejected', 4, 'the row does not have as many fields as the header'],
    ]);
  });

  it('rejects a row holding text PostgreSQL cannot store (a NUL), naming the attribute', async () => {
    const records = await read('WorkerID,FirstName\n1,a\u0000b\n2,c\n');
    expect(rows(records)).toEqual([[3, { WorkerID: '2', FirstName: 'c' }]]);
    expect(problems(records)).toEqual([
      ['rejected', 2, 'FirstName contains a NUL character (U+0000), which cannot be stored'],
    ]);
  });

  it('ends with the error of a source that fails (an upload cut off), instead of hanging', async () => {
    async function* failing() {
      yield Buffer.from('WorkerID,FirstName\n1,A\n');
      throw new Error('the client went away');
    }
    const read: CsvRecord[] = [];
    const reading = (async () => {
      for await (const record of readCsv(failing(), { settings: { externalId: 'WorkerID' }, attributes }))
        read.push(record);
    })();
    await expect(reading).rejects.toThrow('the client went away');
    // Nothing after the failure is made up: whatever was read is at most the rows before it.
    expect(read.every((record) => record.kind === 'header' || record.kind === 'row')).toBe(true);
  });

  it('stops at a quote that is never closed: the rest of the file would be one field', async () => {
    const records = await read('WorkerID,FirstName\n1,A\n2,"B\n3,C\n');
    expect(rows(records)).toEqual([[2, { WorkerID: '1', FirstName: 'A' }]]);
    expect(problems(records)).toEqual([
      ['fatal', 4, 'a quoted field is not closed before the end of the file'],
    ]);
  });

  it('stops a file whose header has no external id column, or gives one attribute twice, or is empty', async () => {
    expect(problems(await read('Id,FirstName\n1,A\n'))).toEqual([
      [
        'fatal',
        1,
        expect.stringContaining('no column of the header gives the external id attribute "WorkerID"'),
      ],
    ]);
    expect(
      problems(
        await read('WorkerID,Name,First\n1,A,B\n', { columns: { Name: 'FirstName', First: 'FirstName' } }),
      ),
    ).toEqual([
      ['fatal', 1, expect.stringContaining('two columns of the header give attribute "FirstName"')],
    ]);
    expect(problems(await read(''))).toEqual([['fatal', 1, 'the file is empty: no header row']]);
  });
});
