// The API over TLS (http.tls) with a certificate made for the test: the service answers HTTPS only, the
// agent channel is wss on the same server, and a certificate that cannot be used stops the start in one line.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/infra/process.ts';
import { startService, type RunningService } from '../../src/service.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { recordingLogger, testConfig } from '../support/factories.ts';

/** A self-signed P-256 certificate for 127.0.0.1 and localhost, valid one day: its files and PEM. */
function selfSignedCertificate(
  dir: string,
  name: string,
): { certFile: string; keyFile: string; pem: string } {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-days',
      '1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile, pem: readFileSync(certFile, 'utf8') };
}

/** GET over HTTPS trusting only `ca`. */
function httpsGet(url: string, ca: string): Promise<{ status: number; body: string; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca }, (res) => {
      // Read while the connection is open: the socket is detached once the response ends.
      const protocol = (res.socket as TLSSocket).getProtocol() ?? '';
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body, protocol });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function joineryStart(env: Record<string, string>) {
  const child = spawn(process.execPath, [join(projectRoot, 'src/cli/main.ts'), 'start'], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return once(child, 'exit').then(([code]) => ({ code: code as number | null, stderr }));
}

describe('the API over TLS (http.tls, real PostgreSQL)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'joinery-tls-'));
  const certificate = selfSignedCertificate(dir, 'api');
  const other = selfSignedCertificate(dir, 'other');
  let database: TestDatabase;
  let service: RunningService;
  const recorded = recordingLogger('info');

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: true });
    service = await startService(
      testConfig({
        DATABASE_URL: database.url,
        JOINERY_DATABASE_MIGRATE_ON_START: 'true',
        JOINERY_HTTP_TLS_CERT_FILE: certificate.certFile,
        JOINERY_HTTP_TLS_KEY_FILE: certificate.keyFile,
      }),
      recorded.logger,
    );
  });
  afterAll(async () => {
    await service.stop();
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers GET /healthz over HTTPS with TLS 1.2 or later, trusting that certificate', async () => {
    expect(service.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const answer = await httpsGet(`${service.url}/healthz`, certificate.pem);
    expect(answer.status).toBe(200);
    expect(answer.protocol).toMatch(/^TLSv1\.[23]$/);
    expect(recorded.lines().join('\n')).toMatch(
      /"scheme":"https","tls":"TLSv1\.2 or later","agentChannel":"wss:\/\/127\.0\.0\.1:\d+\/v1\/agent\/channel","url":"https:\/\/127\.0\.0\.1:\d+",.*"msg":"Joinery is listening"/,
    );
  });

  it('refuses another certificate authority and plain HTTP', async () => {
    await expect(httpsGet(`${service.url}/healthz`, other.pem)).rejects.toThrow(
      /self[- ]signed|unable to verify|certificate/i,
    );
    await expect(fetch(`${service.url.replace('https:', 'http:')}/healthz`)).rejects.toThrow();
  });

  it('serves the agent channel as wss on the same server', async () => {
    const socket = new WebSocket(`${service.url.replace('https:', 'wss:')}/v1/agent/channel`, {
      ca: certificate.pem,
    });
    const opened = await Promise.race([
      once(socket, 'open').then(() => true),
      once(socket, 'error').then(([error]) => Promise.reject(error as Error)),
    ]);
    expect(opened).toBe(true);
    socket.close();
  });

  describe('stops the start in one line, before anything starts, when the certificate cannot be used', () => {
    const cases = [
      {
        name: 'a key that is not the certificate’s',
        env: { JOINERY_HTTP_TLS_CERT_FILE: certificate.certFile, JOINERY_HTTP_TLS_KEY_FILE: other.keyFile },
        expected:
          /^joinery: the TLS key .*other\.key does not match the certificate .*api\.crt — set http\.tls\.keyFile \(JOINERY_HTTP_TLS_KEY_FILE\)/,
      },
      {
        name: 'a file that cannot be read',
        env: {
          JOINERY_HTTP_TLS_CERT_FILE: join(dir, 'missing.crt'),
          JOINERY_HTTP_TLS_KEY_FILE: certificate.keyFile,
        },
        expected: /^joinery: cannot read http\.tls\.certFile .*missing\.crt \(ENOENT\)/,
      },
      {
        name: 'a certificate file that is not PEM',
        env: {
          JOINERY_HTTP_TLS_CERT_FILE: certificate.keyFile,
          JOINERY_HTTP_TLS_KEY_FILE: certificate.keyFile,
        },
        expected: /^joinery: the TLS certificate .* cannot be used \(/,
      },
    ];
    for (const { name, env, expected } of cases) {
      it(name, async () => {
        const dataDir = mkdtempSync(join(tmpdir(), 'joinery-tls-data-'));
        try {
          const result = await joineryStart({ ...env, JOINERY_DATA_DIR: dataDir, JOINERY_HTTP_PORT: '0' });
          expect(result.code).toBe(1);
          const lines = result.stderr.trim().split('\n');
          expect(lines).toHaveLength(1);
          expect(lines[0]).toMatch(expected);
          expect(existsSync(join(dataDir, 'postgres'))).toBe(false);
        } finally {
          rmSync(dataDir, { recursive: true, force: true });
        }
      });
    }
  });
});
