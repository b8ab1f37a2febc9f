// Small builders of test data and configuration.
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/config.schema.ts';
import type { Logger } from 'pino';
import { createLogger } from '../../kernel/logger.ts';

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function testConfig(env: Record<string, string>): Config {
  return loadConfig({ env: { JOINERY_HTTP_PORT: '0', JOINERY_LOG_LEVEL: 'warn', ...env } });
}

export const silentLogger = createLogger({ level: 'silent' });

/**
 * A logger that keeps its lines (warnings and up by default) for a failing test to print: quiet when all
 * goes well, the engine's own account of what went wrong when it does not.
 */
export function recordingLogger(level = 'warn'): { logger: Logger; lines(): string[] } {
  const lines: string[] = [];
  const logger = createLogger({ level }, { write: (line: string) => void lines.push(line.trimEnd()) });
  return { logger, lines: () => lines };
}
