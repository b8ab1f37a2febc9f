// What every Joinery log shares, the service's and the agent's: the levels a configuration may set and the
// paths whose values never reach a log. Apart from logger.ts so the agent takes them without the
// service's formatter (pino-pretty).

/** The levels a configuration may set (the service's and the agent's). */
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Redacted before an event is written, whatever the format. */
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
