// Structured logs (pino). Secrets are redacted by path wherever they could appear.
import { pino, type Logger, type DestinationStream } from 'pino';

/** The levels a configuration may set (the service's and the agent's). */
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const redactedPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'password',
  'apiKey',
  'secret',
  'token',
  '*.password',
  '*.apiKey',
  '*.secret',
  '*.secretHash',
  '*.token',
  '*.clientSecret',
];

export function createLogger(settings: { level: string }, destination?: DestinationStream): Logger {
  return pino(
    {
      level: settings.level,
      base: { service: 'joinery' },
      redact: { paths: redactedPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
