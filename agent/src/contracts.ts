// The seams between the agent's parts: what a directory source gives, what a password capture reports,
// what writeback does with an export instruction. The message shapes themselves are the engine's public
// contracts (streams/messages.ts): the agent produces import objects and pulses, and consumes exports.
import type { ErrorCode } from '../../kernel/errors.ts';
import type { Attributes } from '../../kernel/contracts/identity-events.ts';
import type { MessageData } from '../../kernel/contracts/messages.ts';

export type ImportObjectMessage = MessageData<'joinery.import.object.v1'>;
export type ImportRunMessage = MessageData<'joinery.import.run.v1'>;
export type PulseMessage = MessageData<'joinery.pulse.v1'>;
export type ExportInstruction = MessageData<'joinery.export.v1'>;

/** The object classes the agent reads and writes. */
export type DirectoryObjectClass = 'user' | 'group' | 'contact';

/** One directory entry as the agent sends it: the anchor is stable across renames and moves. */
export interface DirectoryRecord {
  objectClass: DirectoryObjectClass;
  /** OpenLDAP entryUUID; Active Directory objectGUID as its canonical GUID string. */
  externalId: string;
  dn: string;
  /** Multi-valued attributes as arrays; binary ones base64; group members as DNs (all ranges read). */
  attributes: Attributes;
  /** Whether the account can sign in (AD userAccountControl; OpenLDAP pwdAccountLockedTime), for users. */
  enabled?: boolean;
}

export type DirectoryChange =
  | { operation: 'upsert'; record: DirectoryRecord }
  | { operation: 'delete'; objectClass: DirectoryObjectClass; externalId: string; dn?: string };

export interface DeltaResult {
  changes: DirectoryChange[];
  /** Opaque; persisted by the agent and handed back on the next call. */
  cookie: string;
}

export interface DirectorySource {
  /** Every user, group and contact under the configured bases, in pages (paged search). */
  fullImport(): AsyncIterable<DirectoryRecord[]>;
  /** The cookie that marks "now": a delta from it returns only later changes. */
  currentCookie(): Promise<string>;
  /** Changes (including deletions) since the cookie, in the order they happened. */
  deltaImport(cookie: string): Promise<DeltaResult>;
  close(): Promise<void>;
}

/** A password change captured at the directory; `password` is clear text only inside the agent process. */
export interface CapturedPassword {
  externalId: string;
  password: string;
  at: string;
}

export interface PasswordCapture {
  /**
   * Returns the changes since the last acknowledged poll. The capture keeps its position durably; until
   * acknowledge() a crash makes the next poll (in the next process) return the same changes again.
   */
  poll(): Promise<CapturedPassword[]>;
  /** The last poll's changes are safely queued: its position may move on. */
  acknowledge(): Promise<void>;
  close(): Promise<void>;
}

/** An export instruction with its sealed secret already opened by the channel (password operations). */
export type WritebackInstruction = ExportInstruction & { password?: string };

export type WritebackResult =
  | { status: 'succeeded'; externalId: string; dn?: string }
  | { status: 'failed'; code: ErrorCode; message: string; retriable: boolean };

export interface Writeback {
  apply(instruction: WritebackInstruction): Promise<WritebackResult>;
  close(): Promise<void>;
}
