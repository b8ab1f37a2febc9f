// An in-engine connector's export results, recorded in batches off its workers' path: a worker hands its
// result over and takes its next operation while the results before it commit — one transaction (one WAL
// flush) per batch instead of one per result. One batch records at a time; results arriving meanwhile make
// the next; its successes are recorded set-based (export-queue.ts, recordExportSuccessesIn). A batch that fails is recorded again one result per transaction, so one bad result loses only
// itself (its export comes back when its lease runs out, as after a crash).
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { describeError } from '../../kernel/errors.ts';
import {
  recordExportResultIn,
  recordExportSuccessesIn,
  type ExportInstruction,
  type ExportResult,
  type RecordedResult,
} from '../engine/export-queue.ts';

export interface ExportResultBatchesOptions {
  orm: MikroORM;
  logger: Logger;
  tenantId: string;
  applicationId: string;
  maxAttempts?: number;
  /** Results waiting beyond this make `add` wait for the batch being recorded (the workers slow down). */
  backlogLimit: number;
}

export interface ExportResultBatches {
  /** Hands a result over; resolves at once unless the backlog is over its limit. */
  add(operation: ExportInstruction, result: ExportResult): Promise<void>;
  /** Resolves once every result handed over is recorded (or its failure logged). */
  drained(): Promise<void>;
}

interface Handed {
  operation: ExportInstruction;
  result: ExportResult;
}

export function createExportResultBatches(options: ExportResultBatchesOptions): ExportResultBatches {
  const { orm, logger, tenantId, applicationId } = options;
  let waiting: Handed[] = [];
  let recording: Promise<void> | null = null;

  const recorded = (handed: Handed): RecordedResult => ({
    tenantId,
    exportId: handed.operation.exportId,
    result: handed.result,
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
  });

  const told = (handed: Handed) => {
    const { operation, result } = handed;
    const fields = {
      tenantId,
      applicationId,
      exportId: operation.exportId,
      operation: operation.operation,
      status: result.status,
    };
    if (result.status === 'succeeded') logger.debug(fields, 'export delivered');
    else
      logger.warn(
        { ...fields, code: result.code, retriable: result.retriable, reason: result.message },
        'export failed',
      );
  };

  const recordBatch = async (batch: Handed[]) => {
    try {
      await orm.em.fork().transactional(async (tx) => {
        // Successes (but deletes) in a few set-based statements; failures and deletes one by one.
        const succeeded = batch.flatMap(({ operation, result }) =>
          result.status === 'succeeded' && operation.operation !== 'delete'
            ? [{ exportId: operation.exportId, externalId: result.externalId }]
            : [],
        );
        await recordExportSuccessesIn(tx, { tenantId, succeeded });
        const setBased = new Set(succeeded.map((one) => one.exportId));
        for (const handed of batch)
          if (!setBased.has(handed.operation.exportId)) await recordExportResultIn(tx, recorded(handed));
      });
      batch.forEach(told);
      return;
    } catch (error) {
      if (batch.length === 1) {
        logger.warn(
          { tenantId, applicationId, exportId: batch[0]?.operation.exportId, error: describeError(error) },
          'an export result could not be recorded: the export comes back when its lease runs out',
        );
        return;
      }
    }
    for (const handed of batch) await recordBatch([handed]);
  };

  const record = async () => {
    try {
      while (waiting.length > 0) {
        const batch = waiting;
        waiting = [];
        await recordBatch(batch);
      }
    } finally {
      // Set in the same turn as the loop saw nothing waiting: a result added later starts a new round.
      recording = null;
    }
  };

  return {
    async add(operation, result) {
      waiting.push({ operation, result });
      const current = (recording ??= record());
      if (waiting.length > options.backlogLimit) await current;
    },
    async drained() {
      while (recording !== null) await recording;
    },
  };
}
