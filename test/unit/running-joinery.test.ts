// The record of the Joinery that runs a data directory's embedded PostgreSQL: written atomically, read
// back, and recognised as stale when its process is gone or its pid now belongs to another process.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  describeRecord,
  isRunning,
  ownRecord,
  processStartOf,
  readRecord,
  recordPath,
  removeOwnRecord,
  writeRecord,
} from '../../src/storage/running-joinery.ts';
import { displayPath } from '../../src/storage/start-up-messages.ts';

const dataDir = (): string => mkdtempSync(join(tmpdir(), 'joinery-record-'));

describe('the running-Joinery record', () => {
  it('is written atomically (no temporary file left), read back, and removed only by its owner', () => {
    const dir = dataDir();
    const record = ownRecord('start', 54321);
    writeRecord(dir, record);
    expect(readdirSync(dir)).toEqual(['running.json']);
    expect(readRecord(dir)).toEqual(record);
    expect(isRunning(record)).toBe(true);

    writeRecord(dir, { ...record, pid: 1 }); // another process's
    removeOwnRecord(dir);
    expect(readRecord(dir)?.pid).toBe(1);
    writeRecord(dir, record);
    removeOwnRecord(dir);
    expect(readRecord(dir)).toBeUndefined();
  });

  it('treats an unreadable or incomplete record as none', () => {
    const dir = dataDir();
    writeFileSync(recordPath(dir), '{"pid":');
    expect(readRecord(dir)).toBeUndefined();
    writeFileSync(recordPath(dir), '{"pid":12}');
    expect(readRecord(dir)).toBeUndefined();
  });

  it('is stale once its process has exited', async () => {
    const child = spawn('sleep', ['30']);
    const pid = child.pid ?? 0;
    const record = { ...ownRecord('tenant create', 1), pid, processStart: processStartOf(pid) };
    expect(isRunning(record)).toBe(true);
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(isRunning(record)).toBe(false);
  });

  it.runIf(process.platform === 'linux')('is stale when its pid now belongs to another process', () => {
    // pid 1 runs, but not since the time this record says its process started.
    expect(isRunning({ ...ownRecord('start', 1), pid: 1, processStart: 'another start' })).toBe(false);
    expect(isRunning({ ...ownRecord('start', 1), pid: 1, processStart: processStartOf(1) })).toBe(true);
  });

  it('names the service or the command in messages', () => {
    expect(describeRecord({ ...ownRecord('start', 1), pid: 1234 })).toBe('another Joinery (pid 1234)');
    expect(describeRecord({ ...ownRecord('plan apply', 1), pid: 77 })).toBe('`joinery plan apply` (pid 77)');
    expect(displayPath('/srv/app/.joinery', '/srv/app')).toBe('.joinery');
    expect(displayPath('/var/lib/x', '/srv/app')).toBe('/var/lib/x');
  });
});
