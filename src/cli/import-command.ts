// `joinery import <application> FILE`: an application's file (an HR export) imported as a full run from the
// server's host — the same reading and sending as `POST /v1/applications/:id/imports`, on the bus the
// engine consumes (Kafka when configured, else the embedded bus in PostgreSQL), with progress on stderr.
import { createReadStream, statSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../config/config.schema.ts';
import { fileApplication, importFile, type FileImportResult } from '../connectors/file-import.ts';
import type { ConnectedDatabase } from '../storage/connect-database.ts';
import { findTenant } from '../tenancy/tenants.ts';
import { createEmbeddedBus } from '../../streams/embedded-bus.ts';
import { createKafkaClient } from '../../streams/kafka-client.ts';
import type { Bus } from '../../streams/bus.ts';

/** Reads the file (or standard input), counting the bytes read. */
async function* counted(stream: AsyncIterable<Buffer>, read: { bytes: number }): AsyncGenerator<Buffer> {
  for await (const chunk of stream) {
    read.bytes += chunk.length;
    yield chunk;
  }
}

export async function runImportCommand(options: {
  settings: Config;
  database: ConnectedDatabase;
  logger: Logger;
  tenant: string;
  application: string;
  file: string;
  progress: boolean;
}): Promise<FileImportResult> {
  const { settings, database, logger } = options;
  const tenant = await findTenant(database.orm.em.fork(), options.tenant);
  const application = await fileApplication(database.orm.em.fork(), tenant.id, { name: options.application });
  const brokers = settings.kafka.brokers;
  const bus: Bus =
    brokers === undefined
      ? createEmbeddedBus({ em: database.orm.em, logger })
      : createKafkaClient({ brokers, clientId: `${settings.kafka.clientId}-import`, logger });
  const size = options.file === '-' ? undefined : statSync(options.file).size;
  const read = { bytes: 0 };
  const source = options.file === '-' ? process.stdin : createReadStream(options.file);
  // Ctrl-C ends the reading: the import stops as any broken upload does — the run aborted, nothing deleted.
  const interrupt = (signal: NodeJS.Signals) => {
    source.destroy(new Error(`interrupted (${signal}): the run is aborted, nothing is deleted`));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const started = Date.now();
  let shown = 0;
  const show = (rows: number, objects: number, rejected: number, done = false) => {
    if (!options.progress) return;
    const now = Date.now();
    if (!done && now - shown < 200) return;
    shown = now;
    const seconds = Math.max((now - started) / 1000, 0.001);
    const percent =
      size === undefined || size === 0 ? '' : `${String(Math.floor((100 * read.bytes) / size))}% `;
    const width = 24;
    const filled = size === undefined || size === 0 ? 0 : Math.floor((width * read.bytes) / size);
    const bar = size === undefined ? '' : `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] `;
    process.stderr.write(
      `\r${bar}${percent}${String(rows)} rows, ${String(objects)} sent, ${String(rejected)} rejected, ${String(Math.round(rows / seconds))} rows/s${done ? '\n' : ''}`,
    );
  };
  try {
    // The producer importFile makes is closed by it; the bus itself holds nothing open.
    const result = await importFile(
      { em: database.orm.em, bus, topicPrefix: settings.kafka.topicPrefix, logger, source: '/joinery/cli' },
      {
        tenantId: tenant.id,
        application,
        file: counted(source as AsyncIterable<Buffer>, read),
        onProgress: (progress) => {
          show(progress.rows, progress.objects, progress.rejected);
        },
      },
    );
    show(result.rows, result.objects, result.rejected, true);
    return result;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

/** The result as a person reads it. */
export function describeImport(result: FileImportResult, application: string): string[] {
  const lines = [
    `run           ${result.runId}`,
    `rows          ${String(result.rows)} read, ${String(result.objects)} sent, ${String(result.rejected)} rejected`,
    `columns       ${result.columns.join(', ')}${result.ignoredColumns.length === 0 ? '' : ` (ignored: ${result.ignoredColumns.join(', ')})`}`,
  ];
  for (const error of result.errors) lines.push(`line ${String(error.line)}: ${error.reason}`);
  if (result.rejected > result.errors.length)
    lines.push(
      `… ${String(result.rejected - result.errors.length)} more: GET /v1/runs/${result.runId}/errors`,
    );
  if (result.outcome === 'aborted')
    lines.push(`the import of ${application} stopped: ${result.reason ?? ''} — nothing was deleted`);
  else if (result.kind === 'delta')
    lines.push(
      `imported as a delta: rows were rejected, so nothing is deleted — fix them and import again to detect leavers`,
    );
  else
    lines.push(
      `sent as a full run: the engine completes it and finds the deletions (GET /v1/runs/${result.runId})`,
    );
  return lines;
}
