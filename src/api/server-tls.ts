// The API's TLS settings (http.tls): the certificate and key files read, and checked to belong together,
// before anything else starts, so that a wrong file is one start-up line rather than a failed handshake.
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { StartUpError } from '../../kernel/errors.ts';
import type { Config } from '../config/config.schema.ts';

export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  minVersion: Config['http']['tls']['minVersion'];
}

/** The TLS options the API listens with, or undefined for plain HTTP (no http.tls.certFile). */
export function serverTls(settings: Config['http']['tls']): ServerTls | undefined {
  const { certFile, keyFile, minVersion } = settings;
  if (certFile === undefined || keyFile === undefined) return undefined;
  const tls = {
    cert: readPem(certFile, 'http.tls.certFile', 'JOINERY_HTTP_TLS_CERT_FILE'),
    key: readPem(keyFile, 'http.tls.keyFile', 'JOINERY_HTTP_TLS_KEY_FILE'),
    minVersion,
  };
  try {
    createSecureContext(tls);
  } catch (error) {
    const reason = (error as Error).message;
    throw new StartUpError(
      /mismatch/i.test(reason)
        ? `the TLS key ${keyFile} does not match the certificate ${certFile} — set http.tls.keyFile (JOINERY_HTTP_TLS_KEY_FILE) to the certificate's own key`
        : `the TLS certificate ${certFile} or key ${keyFile} cannot be used (${reason}) — set http.tls.certFile and http.tls.keyFile to PEM files of a certificate and its key`,
      { cause: error },
    );
  }
  return tls;
}

function readPem(file: string, setting: string, variable: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new StartUpError(
      `cannot read ${setting} ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'}) — make it readable by this user, or set ${variable}`,
      { cause: error },
    );
  }
}
