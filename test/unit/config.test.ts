import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.ts';
import { ConfigError } from '../../kernel/errors.ts';

function yamlFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'joinery-config-')), 'joinery.yaml');
  writeFileSync(file, text);
  return file;
}

function errorOf(load: () => unknown): string {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a configuration error');
}

describe('configuration', () => {
  it('runs with no configuration at all: embedded database and bus, API on 127.0.0.1:8080', () => {
    const config = loadConfig({ env: {}, cwd: '/srv/joinery' });
    expect(config.database.url).toBeUndefined();
    expect(config.kafka.brokers).toBeUndefined();
    expect(config.http).toEqual({
      host: '127.0.0.1',
      port: 8080,
      trustProxy: [],
      tls: { minVersion: 'TLSv1.2' },
    });
    expect(config.dataDir).toBe('/srv/joinery/.joinery');
    expect(config.engine.importThreads).toBe(2);
  });

  it("takes the Import stage's threads from JOINERY_ENGINE_IMPORT_THREADS, one at least", () => {
    expect(loadConfig({ env: { JOINERY_ENGINE_IMPORT_THREADS: '4' } }).engine.importThreads).toBe(4);
    expect(errorOf(() => loadConfig({ env: { JOINERY_ENGINE_IMPORT_THREADS: '0' } }))).toMatch(
      /^engine\.importThreads \(from JOINERY_ENGINE_IMPORT_THREADS\): /,
    );
  });

  it('stores the audit history in every process unless JOINERY_AUDIT_CONSUMER turns its consumer off', () => {
    expect(loadConfig({ env: {} }).audit.consumer).toBe(true);
    expect(loadConfig({ env: { JOINERY_AUDIT_CONSUMER: 'false' } }).audit.consumer).toBe(false);
    expect(loadConfig({ file: yamlFile('audit:\n  consumer: false\n'), env: {} }).audit.consumer).toBe(false);
    expect(errorOf(() => loadConfig({ env: { JOINERY_AUDIT_CONSUMER: 'sometimes' } }))).toBe(
      'audit.consumer (from JOINERY_AUDIT_CONSUMER): must be boolean, got "sometimes"',
    );
  });

  it('reads the YAML file and lets the environment override it', () => {
    const file = yamlFile('http:\n  port: 9000\n  host: 0.0.0.0\nkafka:\n  brokers: [a:9092]\n');
    const config = loadConfig({
      env: { JOINERY_HTTP_PORT: '9100', KAFKA_BROKERS: 'k1:9092, k2:9092' },
      file,
    });
    expect(config.http).toEqual({
      host: '0.0.0.0',
      port: 9100,
      trustProxy: [],
      tls: { minVersion: 'TLSv1.2' },
    });
    expect(config.kafka.brokers).toEqual(['k1:9092', 'k2:9092']);
  });

  it('takes the file from JOINERY_CONFIG', () => {
    const file = yamlFile('log:\n  level: debug\n');
    expect(loadConfig({ env: { JOINERY_CONFIG: file } }).log.level).toBe('debug');
  });

  it('names an unknown key and its line', () => {
    const file = yamlFile('http:\n  port: 9000\n  prot: 3\n');
    expect(errorOf(() => loadConfig({ env: {}, file }))).toBe(
      `http.prot (in ${file} line 3): unknown setting`,
    );
  });

  it('names the line of malformed YAML', () => {
    const file = yamlFile('http:\n  port: [9000\n');
    expect(errorOf(() => loadConfig({ env: {}, file }))).toMatch(
      new RegExp(`^config file ${file} line 3 column 1: `),
    );
  });

  it('rejects a database URL that is not PostgreSQL, naming the variable it came from', () => {
    expect(errorOf(() => loadConfig({ env: { DATABASE_URL: 'mysql://db/joinery' } }))).toBe(
      'database.url (from DATABASE_URL): must match pattern "^postgres(ql)?://", got "mysql://db/joinery"',
    );
  });

  it('rejects a URL variable that is set but empty', () => {
    expect(errorOf(() => loadConfig({ env: { DATABASE_URL: ' ' } }))).toBe(
      'database.url (from DATABASE_URL): is set but empty',
    );
    expect(errorOf(() => loadConfig({ env: { KAFKA_BROKERS: '' } }))).toBe(
      'kafka.brokers (from KAFKA_BROKERS): is set but empty',
    );
  });

  it('rejects a malformed broker address', () => {
    expect(errorOf(() => loadConfig({ env: { KAFKA_BROKERS: 'kafka:9092,http://x' } }))).toMatch(
      /^kafka\.brokers\.1 \(from KAFKA_BROKERS\): must match pattern .*, got "http:\/\/x"$/,
    );
  });

  it('rejects values of the wrong type and lists allowed values', () => {
    expect(errorOf(() => loadConfig({ env: { JOINERY_HTTP_PORT: 'eighty' } }))).toBe(
      'http.port (from JOINERY_HTTP_PORT): must be integer, got "eighty"',
    );
    expect(errorOf(() => loadConfig({ env: { JOINERY_LOG_LEVEL: 'loud' } }))).toBe(
      'log.level (from JOINERY_LOG_LEVEL): must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    );
  });

  it('rejects an unknown JOINERY_ variable, which is usually a typo', () => {
    expect(errorOf(() => loadConfig({ env: { JOINERY_HTTP_PROT: '1' } }))).toMatch(
      /^unknown environment variable JOINERY_HTTP_PROT; known ones are /,
    );
  });

  it('says when the file cannot be read', () => {
    expect(errorOf(() => loadConfig({ env: {}, file: '/nonexistent/joinery.yaml' }))).toBe(
      'config file /nonexistent/joinery.yaml: cannot be read (ENOENT)',
    );
  });

  it('rejects a file that is not a mapping', () => {
    const file = yamlFile('- a\n- b\n');
    expect(errorOf(() => loadConfig({ env: {}, file }))).toBe(
      `config file ${file}: must be a mapping of settings, got a list`,
    );
  });

  it('takes a TLS certificate and key together, resolved from the working directory, and never one alone', () => {
    const config = loadConfig({
      env: { JOINERY_HTTP_TLS_CERT_FILE: 'tls/api.crt', JOINERY_HTTP_TLS_KEY_FILE: '/etc/joinery/api.key' },
      cwd: '/srv/joinery',
    });
    expect(config.http.tls).toEqual({
      certFile: '/srv/joinery/tls/api.crt',
      keyFile: '/etc/joinery/api.key',
      minVersion: 'TLSv1.2',
    });
    expect(errorOf(() => loadConfig({ env: { JOINERY_HTTP_TLS_CERT_FILE: 'api.crt' } }))).toBe(
      'http.tls.keyFile (JOINERY_HTTP_TLS_KEY_FILE): is required with http.tls.certFile (from JOINERY_HTTP_TLS_CERT_FILE); set both http.tls.certFile and http.tls.keyFile for HTTPS, or neither',
    );
    const file = yamlFile('http:\n  tls:\n    keyFile: api.key\n');
    expect(errorOf(() => loadConfig({ env: {}, file }))).toBe(
      `http.tls.certFile (JOINERY_HTTP_TLS_CERT_FILE): is required with http.tls.keyFile (in ${file} line 3); set both http.tls.certFile and http.tls.keyFile for HTTPS, or neither`,
    );
    expect(errorOf(() => loadConfig({ env: { JOINERY_HTTP_TLS_MIN_VERSION: 'TLSv1' } }))).toMatch(
      /^http\.tls\.minVersion \(from JOINERY_HTTP_TLS_MIN_VERSION\): must be one of TLSv1\.2, TLSv1\.3/,
    );
  });

  it('reads previous master keys as a comma-separated list, each validated like the master key', () => {
    const a = Buffer.alloc(32, 1).toString('base64');
    const b = Buffer.alloc(32, 2).toString('base64');
    expect(
      loadConfig({ env: { JOINERY_PREVIOUS_MASTER_KEYS: `${a}, ${b}` } }).security.previousMasterKeys,
    ).toEqual([a, b]);
    expect(errorOf(() => loadConfig({ env: { JOINERY_PREVIOUS_MASTER_KEYS: `${a},short` } }))).toMatch(
      /^security\.previousMasterKeys\.1 \(from JOINERY_PREVIOUS_MASTER_KEYS\): must match pattern "[^"]*"$/,
    );
    // Never echoed: a malformed key may be most of a real one.
    expect(errorOf(() => loadConfig({ env: { JOINERY_MASTER_KEY: `${a}x` } }))).not.toContain(a);
  });
});
