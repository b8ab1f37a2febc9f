// The interface of a connector that runs inside the engine (a cloud connector): it says what it can do,
// checks its connection, reads its application page by page and carries out one export operation at a
// time. The engine does the rest (src/connectors/connector-runner.ts): it claims requested runs and due
// exports, sends what is read to the Import stage as an import run, records results with retries.
import type { Attributes } from '../../kernel/contracts/identity-events.ts';
import type { ExportInstruction, ExportResult } from '../engine/export-queue.ts';
import type { ApplicationPlan } from '../plan/plan.schema.ts';
import type { ConnectorCapabilities } from './connector.ts';
import type { SecretResolver } from './connector-secrets.ts';

/** One check of `joinery connector test`: what was checked, and whether it works. */
export interface ConnectorCheck {
  ok: boolean;
  /** What was checked, e.g. "csv settings". */
  name: string;
  detail: string;
  /** Lines shown under it (the first rejected rows). */
  more?: string[];
}

/** An object as the connector read it from its application. */
export interface ImportedObject {
  objectClass: string;
  /** Its anchor in the application (what exports name it by). */
  externalId: string;
  attributes: Attributes;
}

/** What an import reads: pages of objects, read as they are consumed, so memory stays bounded. */
export interface ConnectorImport {
  /**
   * `full`: everything the application holds (the engine deletes what a completed full run did not see);
   * `delta`: what changed since the cursor. A connector asked for a delta it cannot give answers `full`.
   */
  mode: 'full' | 'delta';
  pages: AsyncIterable<ImportedObject[]>;
  /** Once every page is read: where the next delta import starts (null: nowhere, it will be full). */
  cursor(): string | null;
  /**
   * Once every page is read: the objects the read had to leave out (no key, a key on several rows, a value
   * not of its attribute's type), counted, the first ones listed with where they were (`line`: the row's
   * place in the read). A run with any is completed as a delta — nothing is deleted — and lists them.
   */
  rejected?(): { count: number; first: { line: number; reason: string }[] };
}

export interface InEngineConnector {
  readonly capabilities: ConnectorCapabilities;
  /** Operations of one application delivered at once by one engine process. */
  readonly concurrency: number;
  /** What works: the connection, the credentials, what the application supports. */
  test(): Promise<ConnectorCheck[]>;
  import(request: {
    mode: 'full' | 'delta';
    cursor: string | null;
    signal?: AbortSignal;
  }): Promise<ConnectorImport>;
  /** Carries out one operation; a failure is a result (retriable or not), never a throw. */
  export(operation: ExportInstruction): Promise<ExportResult>;
  /** Releases what it holds (a connection pool) when the engine drops it: a new plan version, a stop. */
  close?(): Promise<void>;
}

/** What a connector is built with, besides its application's plan. */
export interface ConnectorContext {
  secrets: SecretResolver;
  /** The HTTP client (global fetch unless a test gives another). */
  fetch?: typeof fetch;
}

/**
 * Builds an application's connector from its plan; throws a ConfigError saying what to fix when its
 * settings cannot work (no settings, a secret not set).
 */
export type ConnectorFactory = (application: ApplicationPlan, context: ConnectorContext) => InEngineConnector;
