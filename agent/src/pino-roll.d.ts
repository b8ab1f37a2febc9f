// pino-roll ships no types. The agent calls its transport function in its own thread (cli.ts says why):
// it answers a sonic-boom stream writing the current file, rolled by size and frequency.
declare module 'pino-roll' {
  import type { DestinationStream } from 'pino';

  interface RollingFileStream extends DestinationStream {
    flush(callback?: (error?: Error) => void): void;
    end(): void;
  }

  function pinoRoll(options: {
    file: string;
    frequency?: 'daily' | 'hourly' | number;
    size?: string | number;
    limit?: { count?: number; removeOtherLogFiles?: boolean };
    mkdir?: boolean;
  }): Promise<RollingFileStream>;

  export = pinoRoll;
}
