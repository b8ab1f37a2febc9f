// The agent's durable state in one SQLite file (node:sqlite; WAL, synchronous FULL): its enrolment and
// key pairs, the outgoing messages in order with their idempotent ids, the delta cookie and the last
// known `enabled` of each object, the results of applied exports, and the messages the API refused.
// Messages and the state they advance (cookie, enabled flags, run markers) commit in one transaction, so a
// crash between capture and save neither loses nor doubles anything. A message leaves only when acked.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import type { WritebackResult } from '../contracts.ts';
import type { Rejection } from '../../../kernel/channel/protocol.ts';

/** A message as it waits in the queue; its id becomes the CloudEvents ce_id. */
export interface OutgoingMessage {
  id: string;
  type: string;
  time: string;
  data: unknown;
}

export interface QueuedMessage extends OutgoingMessage {
  seq: number;
}

/** What the agent holds after enrolment. Private keys never leave this file (mode 0600). */
export interface Enrolment {
  tenantId: string;
  connectorId: string;
  applicationIds: string[];
  tenantKey: { keyId: string; publicKey: string; suite: string };
  apiUrl: string;
  enrolledAt: string;
}

export interface AgentKeys {
  encryption: { publicKey: string; privateKey: string };
  signing: { publicKey: string; privateKey: string };
}

/** State advanced together with the messages it produced. */
export interface StateChanges {
  cookie?: string;
  /** Upserts of last-known `enabled` per object (delta: flips were decided against these). */
  enabled?: { externalId: string; enabled: boolean }[];
  /** Only for objects not yet known (a full import seeds, never flips). */
  seedEnabled?: { externalId: string; enabled: boolean }[];
  forget?: string[];
  /** Other keyed state (the open full run, the last full import); null deletes. */
  values?: Record<string, string | null>;
}

export interface AgentStatus {
  enrolled: boolean;
  tenantId?: string;
  connectorId?: string;
  enrolledAt?: string;
  queueDepth: number;
  oldestQueuedAt?: string;
  rejected: number;
  cookieSavedAt?: string;
  lastConnectedAt?: string;
  lastFullImportAt?: string;
  openFullRun?: string;
  unackedResults: number;
  lastError?: string;
}

const SCHEMA = `
  create table if not exists state (key text primary key, value text not null);
  create table if not exists outgoing (
    seq integer primary key autoincrement,
    id text not null unique,
    type text not null,
    time text not null,
    data text not null,
    queued_at text not null);
  create table if not exists object_state (external_id text primary key, enabled integer not null);
  create table if not exists applied_export (
    export_id text primary key, result text not null, applied_at text not null, acked integer not null default 0);
  create table if not exists rejected (
    seq integer primary key, id text not null, type text not null, code text not null, reason text not null,
    rejected_at text not null);
`;

export class AgentStore {
  readonly file: string;
  private readonly db: DatabaseSync;

  private constructor(file: string, db: DatabaseSync) {
    this.file = file;
    this.db = db;
  }

  /** Opens (creating) <stateDir>/agent.db; the directory is 0700 and the files 0600. */
  static open(stateDir: string): AgentStore {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    chmodSync(stateDir, 0o700);
    const file = join(stateDir, 'agent.db');
    if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
    chmodSync(file, 0o600);
    const db = new DatabaseSync(file, { timeout: 5000 });
    db.exec('pragma journal_mode = wal');
    db.exec('pragma synchronous = full');
    db.exec(SCHEMA);
    for (const suffix of ['-wal', '-shm']) {
      if (existsSync(file + suffix)) chmodSync(file + suffix, 0o600);
    }
    return new AgentStore(file, db);
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  private transaction<T>(work: () => T): T {
    this.db.exec('begin immediate');
    try {
      const result = work();
      this.db.exec('commit');
      return result;
    } catch (error) {
      this.db.exec('rollback');
      throw error;
    }
  }

  // ---- keyed state --------------------------------------------------------------------------------------

  get(key: string): string | undefined {
    const row = this.db.prepare('select value from state where key = ?').get(key) as
      { value: string } | undefined;
    return row?.value;
  }

  set(values: Record<string, string | null>): void {
    this.transaction(() => {
      this.writeValues(values);
    });
  }

  private writeValues(values: Record<string, string | null>): void {
    const upsert = this.db.prepare(
      'insert into state (key, value) values (?, ?) on conflict (key) do update set value = excluded.value',
    );
    const remove = this.db.prepare('delete from state where key = ?');
    for (const [key, value] of Object.entries(values)) {
      if (value === null) remove.run(key);
      else upsert.run(key, value);
    }
  }

  // ---- enrolment ----------------------------------------------------------------------------------------

  enrolment(): Enrolment | undefined {
    const value = this.get('enrolment');
    return value === undefined ? undefined : (JSON.parse(value) as Enrolment);
  }

  /** The agent's key pairs, made once by `generate` and kept (a retried enrolment presents the same keys). */
  async keys(generate: () => Promise<AgentKeys>): Promise<AgentKeys> {
    const stored = this.get('keys');
    if (stored !== undefined) return JSON.parse(stored) as AgentKeys;
    const keys = await generate();
    this.set({ keys: JSON.stringify(keys) });
    return keys;
  }

  saveEnrolment(enrolment: Enrolment): void {
    this.set({ enrolment: JSON.stringify(enrolment) });
  }

  // ---- outgoing queue -----------------------------------------------------------------------------------

  /** Appends messages in order and advances the state that produced them, in one transaction. */
  enqueue(messages: OutgoingMessage[], changes: StateChanges = {}): void {
    const now = new Date().toISOString();
    this.transaction(() => {
      const insert = this.db.prepare(
        'insert into outgoing (id, type, time, data, queued_at) values (?, ?, ?, ?, ?) on conflict (id) do nothing',
      );
      for (const message of messages) {
        insert.run(message.id, message.type, message.time, JSON.stringify(message.data), now);
      }
      if (changes.enabled !== undefined && changes.enabled.length > 0) {
        const upsert = this.db.prepare(
          'insert into object_state (external_id, enabled) values (?, ?) on conflict (external_id) do update set enabled = excluded.enabled',
        );
        for (const item of changes.enabled) upsert.run(item.externalId, item.enabled ? 1 : 0);
      }
      if (changes.seedEnabled !== undefined && changes.seedEnabled.length > 0) {
        const seed = this.db.prepare(
          'insert into object_state (external_id, enabled) values (?, ?) on conflict (external_id) do nothing',
        );
        for (const item of changes.seedEnabled) seed.run(item.externalId, item.enabled ? 1 : 0);
      }
      if (changes.forget !== undefined && changes.forget.length > 0) {
        const forget = this.db.prepare('delete from object_state where external_id = ?');
        for (const externalId of changes.forget) forget.run(externalId);
      }
      const values: Record<string, string | null> = { ...changes.values };
      if (changes.cookie !== undefined) {
        values.cookie = changes.cookie;
        values.cookieSavedAt = now;
      }
      this.writeValues(values);
    });
  }

  /** The oldest messages not yet acknowledged, in order: at most `limit`, and about `maxBytes` of data. */
  head(limit: number, maxBytes = 4 * 1024 * 1024): QueuedMessage[] {
    const rows = this.db
      .prepare('select seq, id, type, time, data from outgoing order by seq limit ?')
      .all(limit) as { seq: number; id: string; type: string; time: string; data: string }[];
    const batch: QueuedMessage[] = [];
    let bytes = 0;
    for (const row of rows) {
      bytes += row.data.length;
      if (batch.length > 0 && bytes > maxBytes) break;
      batch.push({ seq: row.seq, id: row.id, type: row.type, time: row.time, data: JSON.parse(row.data) });
    }
    return batch;
  }

  /** Removes what the API acknowledged (up to `seq`); refused messages are kept aside with the reason. */
  acknowledge(seq: number, rejected: Rejection[] = []): void {
    const now = new Date().toISOString();
    this.transaction(() => {
      const keep = this.db.prepare(
        `insert into rejected (seq, id, type, code, reason, rejected_at)
         select seq, id, type, ?, ?, ? from outgoing where seq = ? on conflict (seq) do nothing`,
      );
      for (const rejection of rejected) keep.run(rejection.code, rejection.reason, now, rejection.seq);
      this.db.prepare('delete from outgoing where seq <= ?').run(seq);
    });
  }

  /**
   * After (re)connecting: messages the API already produced (a crash lost their ack) leave the queue, and
   * new sequences continue above the API's, so none is mistaken for a duplicate.
   */
  alignWithProduced(lastProducedSeq: number): void {
    this.transaction(() => {
      this.db.prepare('delete from outgoing where seq <= ?').run(lastProducedSeq);
      const row = this.db.prepare("select seq from sqlite_sequence where name = 'outgoing'").get() as
        { seq: number } | undefined;
      if (row === undefined) {
        this.db
          .prepare("insert into sqlite_sequence (name, seq) values ('outgoing', ?)")
          .run(lastProducedSeq);
      } else if (row.seq < lastProducedSeq) {
        this.db.prepare("update sqlite_sequence set seq = ? where name = 'outgoing'").run(lastProducedSeq);
      }
    });
  }

  depth(): number {
    return (this.db.prepare('select count(*) as n from outgoing').get() as { n: number }).n;
  }

  // ---- object state ---------------------------------------------------------------------------------------

  knownEnabled(externalIds: string[]): Map<string, boolean> {
    const known = new Map<string, boolean>();
    const select = this.db.prepare('select enabled from object_state where external_id = ?');
    for (const externalId of new Set(externalIds)) {
      const row = select.get(externalId) as { enabled: number } | undefined;
      if (row !== undefined) known.set(externalId, row.enabled === 1);
    }
    return known;
  }

  // ---- exports --------------------------------------------------------------------------------------------

  appliedExport(exportId: string): WritebackResult | undefined {
    const row = this.db.prepare('select result from applied_export where export_id = ?').get(exportId) as
      { result: string } | undefined;
    return row === undefined ? undefined : (JSON.parse(row.result) as WritebackResult);
  }

  recordExportResult(exportId: string, result: WritebackResult): void {
    this.db
      .prepare(
        `insert into applied_export (export_id, result, applied_at, acked) values (?, ?, ?, 0)
         on conflict (export_id) do update set result = excluded.result, acked = 0`,
      )
      .run(exportId, JSON.stringify(result), new Date().toISOString());
  }

  /** Results the API has not acknowledged yet (sent again after a reconnect). */
  unackedResults(limit = 500): { exportId: string; result: WritebackResult }[] {
    const rows = this.db
      .prepare('select export_id, result from applied_export where acked = 0 order by applied_at limit ?')
      .all(limit) as { export_id: string; result: string }[];
    return rows.map((row) => ({
      exportId: row.export_id,
      result: JSON.parse(row.result) as WritebackResult,
    }));
  }

  acknowledgeResults(exportIds: string[]): void {
    const cutoff = new Date(Date.now() - 7 * 24 * 3600 * 1000).toISOString();
    this.transaction(() => {
      const ack = this.db.prepare('update applied_export set acked = 1 where export_id = ?');
      for (const exportId of exportIds) ack.run(exportId);
      // A redelivery comes within the export lease; a week of memory is plenty.
      this.db.prepare('delete from applied_export where acked = 1 and applied_at < ?').run(cutoff);
    });
  }

  // ---- status ---------------------------------------------------------------------------------------------

  status(): AgentStatus {
    const enrolment = this.enrolment();
    const oldest = this.db.prepare('select queued_at from outgoing order by seq limit 1').get() as
      { queued_at: string } | undefined;
    const count = (sql: string, ...params: SQLInputValue[]) =>
      (this.db.prepare(sql).get(...params) as { n: number }).n;
    const optional = (key: string) => {
      const value = this.get(key);
      return value === undefined ? {} : { [key]: value };
    };
    const openRun = this.get('fullRun');
    return {
      enrolled: enrolment !== undefined,
      ...(enrolment === undefined
        ? {}
        : {
            tenantId: enrolment.tenantId,
            connectorId: enrolment.connectorId,
            enrolledAt: enrolment.enrolledAt,
          }),
      queueDepth: this.depth(),
      ...(oldest === undefined ? {} : { oldestQueuedAt: oldest.queued_at }),
      rejected: count('select count(*) as n from rejected'),
      ...optional('cookieSavedAt'),
      ...optional('lastConnectedAt'),
      ...optional('lastFullImportAt'),
      ...optional('lastError'),
      ...(openRun === undefined ? {} : { openFullRun: (JSON.parse(openRun) as { runId: string }).runId }),
      unackedResults: count('select count(*) as n from applied_export where acked = 0'),
    };
  }
}
