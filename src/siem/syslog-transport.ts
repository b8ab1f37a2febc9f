// Syslog over TCP or TLS (RFC 5425 framing): one connection, kept open; a batch is acknowledged once every
// frame is written and flushed to the socket — what syslog offers (no application-level acknowledgement;
// RELP would add one). Because a collector that stops may drop what sat in its socket buffer, the frames
// written in the last REPLAY_MS (bounded in bytes) are sent again, first, on the next connection: at least
// once, so a collector deduplicates by the eventId in the structured data.
import { isIP, connect as tcpConnect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { SiemDeliveryError, describeError } from '../../kernel/errors.ts';
import type { SyslogSettings } from './destination.schema.ts';
import type { SiemTransport } from './payloads.ts';
import { octetCounted, syslogMessage } from './syslog-message.ts';

const CONNECT_TIMEOUT_MS = 10_000;
const WRITE_TIMEOUT_MS = 30_000;
const REPLAY_MS = 10_000;
const REPLAY_MAX_BYTES = 4 * 1024 * 1024;

const serverName = (host: string): { servername?: string } => (isIP(host) === 0 ? { servername: host } : {});

export function createSyslogTransport(options: {
  settings: SyslogSettings;
  /** The PEM private key of settings.tls.cert, when the collector wants a client certificate. */
  tlsKey: string | undefined;
  host?: string;
}): SiemTransport {
  const { settings } = options;
  const header = {
    facility: settings.facility ?? 13,
    hostname: options.host ?? hostname(),
    appName: settings.appName ?? 'joinery',
  };
  const where = `${settings.tls === undefined ? 'tcp' : 'tls'}://${settings.host}:${String(settings.port)}`;
  let socket: Socket | undefined;
  let broken: Error | undefined;
  /** Frames written recently, oldest first, replayed after a reconnect. */
  const recent: { at: number; frame: Buffer }[] = [];
  let recentBytes = 0;

  const open = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const connected = () => {
        created.setTimeout(0);
        created.off('error', reject);
        resolve(created);
      };
      const { tls } = settings;
      const created =
        tls === undefined
          ? tcpConnect({ host: settings.host, port: settings.port }, connected)
          : tlsConnect(
              {
                host: settings.host,
                port: settings.port,
                // SNI carries host names only (RFC 6066): an IP address is checked against the
                // certificate's IP SANs without it.
                ...serverName(tls.serverName ?? settings.host),
                ...(tls.ca === undefined ? {} : { ca: tls.ca }),
                ...(tls.cert === undefined ? {} : { cert: tls.cert }),
                ...(options.tlsKey === undefined ? {} : { key: options.tlsKey }),
              },
              connected,
            );
      created.setTimeout(CONNECT_TIMEOUT_MS, () => {
        created.destroy(new Error(`no connection within ${String(CONNECT_TIMEOUT_MS)} ms`));
      });
      created.once('error', reject);
    });

  const connectFresh = async (): Promise<Socket> => {
    const created = await open().catch((error: unknown) => {
      throw new SiemDeliveryError(`syslog collector ${where} unreachable: ${describeError(error)}`, {
        cause: error,
      });
    });
    broken = undefined;
    // A collector that closes (stops, restarts) or resets: the next batch reconnects and replays.
    const markBroken = (error: Error) => {
      broken ??= error;
    };
    created.on('error', markBroken);
    created.on('end', () => {
      markBroken(new Error('the collector closed the connection'));
      created.destroy();
    });
    created.on('close', () => {
      markBroken(new Error('connection closed'));
    });
    // Collectors send nothing back over plain syslog; reading keeps 'end' reported.
    created.resume();
    return created;
  };

  const write = (target: Socket, data: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        target.destroy(new Error(`a write did not flush within ${String(WRITE_TIMEOUT_MS)} ms`));
      }, WRITE_TIMEOUT_MS);
      target.write(data, (error) => {
        clearTimeout(timer);
        if (error === undefined || error === null) resolve();
        else reject(error);
      });
    });

  const forget = (now: number) => {
    while (recent.length > 0) {
      const first = recent[0];
      if (first === undefined || (now - first.at <= REPLAY_MS && recentBytes <= REPLAY_MAX_BYTES)) break;
      recent.shift();
      recentBytes -= first.frame.length;
    }
  };

  return {
    async deliver(events) {
      const now = Date.now();
      forget(now);
      let target = socket;
      let replay: Buffer[] = [];
      if (target === undefined || broken !== undefined || target.destroyed) {
        target?.destroy();
        socket = undefined;
        target = await connectFresh();
        socket = target;
        replay = recent.map((entry) => entry.frame);
      }
      const frames = events.map((event) =>
        octetCounted(syslogMessage(header, event.id, event.event, event.payload)),
      );
      try {
        await write(target, Buffer.concat([...replay, ...frames]));
      } catch (error) {
        target.destroy();
        socket = undefined;
        throw new SiemDeliveryError(`syslog collector ${where}: ${describeError(error)}`, { cause: error });
      }
      if (broken !== undefined) {
        // Closed while writing: whether it read the frames is unknown; sent again on the next connection.
        throw new SiemDeliveryError(`syslog collector ${where}: ${broken.message}`, { cause: broken });
      }
      // Replayed frames were just written again: they stay to be replayed for as long as new ones.
      if (replay.length > 0) for (const entry of recent) entry.at = now;
      for (const frame of frames) {
        recent.push({ at: now, frame });
        recentBytes += frame.length;
      }
      forget(now);
    },
    async close() {
      const current = socket;
      socket = undefined;
      if (current === undefined || current.destroyed) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          current.destroy();
          resolve();
        }, 2_000);
        current.end(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      current.destroy();
    },
  };
}
