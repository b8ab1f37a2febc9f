// Structured logs (pino). Secrets are redacted by path wherever they could appear, before an event is
// formatted: JSON lines for machines, or one readable line per event (pino-pretty) for a person at a
// terminal.
import { isatty } from 'node:tty';
import { pino, type Logger, type DestinationStream } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { redactedPaths } from './log-settings.ts';

/** `auto`: readable lines when standard output is a terminal, JSON lines otherwise (a pipe, a file). */
export const logFormats = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof logFormats)[number];

/**
 * The format a logger writes: `auto` is `pretty` only when the logs go to a terminal (checked on the file
 * descriptor itself, which a worker thread shares with the main thread).
 */
export function resolveLogFormat(format: LogFormat, toTerminal: boolean): 'json' | 'pretty' {
  if (format === 'auto') return toTerminal ? 'pretty' : 'json';
  return format;
}

export function createLogger(
  settings: {
    level: string;
    format?: LogFormat | undefined;
    /** Where events go without an explicit destination: standard output (the default) or standard error. */
    to?: 'stdout' | 'stderr' | undefined;
  },
  destination?: DestinationStream,
): Logger {
  const options = {
    level: settings.level,
    base: { service: 'joinery' },
    redact: { paths: redactedPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const fd = settings.to === 'stderr' ? 2 : 1;
  // An explicit destination (a test, a log file) is never a terminal.
  const terminal = destination === undefined && isatty(fd);
  const target = destination ?? pino.destination({ dest: fd, sync: true });
  if (resolveLogFormat(settings.format ?? 'auto', terminal) === 'json') return pino(options, target);
  // pino-pretty's formatter, called in line: its stream form formats on a later tick, and a line logged
  // just before process.exit() would be lost.
  const pretty = prettyFactory({
    colorize: terminal,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'service',
    singleLine: true,
  });
  return pino(options, {
    write(line: string) {
      target.write(pretty(line));
    },
  });
}
