// Small builders of test data and configuration.
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/config.schema.ts';
import { createLogger } from '../../src/logging/logger.ts';

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function testConfig(env: Record<string, string>): Config {
  return loadConfig({ env: { JOINERY_HTTP_PORT: '0', JOINERY_LOG_LEVEL: 'warn', ...env } });
}

export const silentLogger = createLogger({ level: 'silent' });
