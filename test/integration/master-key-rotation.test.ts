// Master key rotation on real PostgreSQL: tenant keys stored under key A keep opening while B becomes the
// master key (A a previous one), `joinery keys rewrap` (the real command) moves them under B, and then B
// alone opens everything; a key that opens none of them stops the start with the tenant's name.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSecret, sealSecret } from '../../kernel/channel/sealing.ts';
import type { SealedSecret } from '../../kernel/contracts/identity-events.ts';
import { StartUpError } from '../../kernel/errors.ts';
import { checkTenantKeys } from '../../src/agent-gateway/master-key-rotation.ts';
import { masterKeyId } from '../../src/agent-gateway/master-key.ts';
import { createTenantKeys } from '../../src/agent-gateway/tenant-keys.ts';
import { projectRoot } from '../../src/infra/process.ts';
import { startService } from '../../src/service.ts';
import { migrate, openDatabase } from '../../src/storage/database.ts';
import { createTenant } from '../../src/tenancy/tenants.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { recordingLogger, silentLogger, testConfig, uniqueName } from '../support/factories.ts';

function joinery(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [join(projectRoot, 'src/cli/main.ts'), ...args], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return once(child, 'exit').then(([code]) => ({ code: code as number | null, stdout, stderr }));
}

describe('master key rotation (real PostgreSQL, the real joinery command)', () => {
  const a = randomBytes(32);
  const b = randomBytes(32);
  const wrong = randomBytes(32);
  let database: TestDatabase;
  let orm: MikroORM;
  const tenants: { tenantId: string; tenantName: string; sealed: SealedSecret }[] = [];

  const storedValues = async () =>
    (
      await sql<{ tenant_id: string; sealed_private_key: string }>`select tenant_id, sealed_private_key
        from tenant_key order by tenant_id`.execute(orm.em.getKysely())
    ).rows;

  /** Every tenant's private key opens, and is the one its captured password was sealed to. */
  const opensEverything = async (masterKey: Buffer, previousMasterKeys: Buffer[]) => {
    const keys = createTenantKeys({ em: orm.em.fork(), masterKey, previousMasterKeys });
    for (const tenant of tenants) {
      const privateKey = await keys.privateKey(tenant.tenantId, tenant.sealed.keyId);
      expect(await openSecret(privateKey, tenant.tenantId, tenant.sealed)).toBe(
        `secret of ${tenant.tenantName}`,
      );
    }
  };

  const env = (keys: { master: Buffer; previous?: Buffer[] }) => ({
    DATABASE_URL: database.url,
    JOINERY_MASTER_KEY: keys.master.toString('base64'),
    ...(keys.previous === undefined
      ? {}
      : { JOINERY_PREVIOUS_MASTER_KEYS: keys.previous.map((key) => key.toString('base64')).join(',') }),
  });

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: true });
    orm = await openDatabase({ url: database.url, poolSize: 4, logger: silentLogger });
    await migrate(orm);
    const underA = createTenantKeys({ em: orm.em.fork(), masterKey: a });
    for (let index = 0; index < 3; index++) {
      const tenantName = uniqueName(`rotation${String(index)}`);
      const { tenantId } = await createTenant(orm.em, { tenant: tenantName });
      const publicKey = await underA.publicKey(tenantId);
      tenants.push({
        tenantId,
        tenantName,
        sealed: await sealSecret(publicKey, tenantId, `secret of ${tenantName}`),
      });
    }
    // One stored before master keys had ids: the same value without its `<key id>:` prefix.
    await sql`update tenant_key set sealed_private_key = split_part(sealed_private_key, ':', 2)
      where tenant_id = ${tenants[2]?.tenantId ?? ''}::uuid`.execute(orm.em.getKysely());
  });
  afterAll(async () => {
    await orm.close();
    await database.drop();
  });

  it('stores tenant keys under A with its key id, and still reads the old format without one', async () => {
    const values = (await storedValues()).map((row) => row.sealed_private_key);
    expect(values.filter((value) => value.startsWith(`${masterKeyId(a)}:`))).toHaveLength(2);
    expect(values.filter((value) => !value.includes(':'))).toHaveLength(1);
    await opensEverything(a, []);
  });

  it('starts with B as the master key and A as a previous one, opens every key, and asks for a rewrap', async () => {
    const recorded = recordingLogger('warn');
    const service = await startService(testConfig(env({ master: b, previous: [a] })), recorded.logger);
    await service.stop();
    expect(recorded.lines().join('\n')).toMatch(/"underPreviousKey":3.*run `joinery keys rewrap`/);
    await opensEverything(b, [a]);
    // A process still on A with B added as previous (the first step with several processes) opens them too.
    await opensEverything(a, [b]);
  });

  it('rewraps every tenant key under B with `joinery keys rewrap`, and again changes nothing', async () => {
    const first = await joinery(['keys', 'rewrap'], env({ master: b, previous: [a] }));
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout.trim()).toBe('rewrapped 3 tenant keys; 0 still under an old master key');
    const values = (await storedValues()).map((row) => row.sealed_private_key);
    expect(values.every((value) => value.startsWith(`${masterKeyId(b)}:`))).toBe(true);

    const again = await joinery(['keys', 'rewrap', '--json'], env({ master: b, previous: [a] }));
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ rewrapped: 0, stillUnderOldKey: 0, unopened: [] });
    expect((await storedValues()).map((row) => row.sealed_private_key)).toEqual(values);
  });

  it('opens everything with B alone once A is removed, and the same passwords still open', async () => {
    await opensEverything(b, []);
    expect(await checkTenantKeys(orm.em.fork(), { current: b, previous: [] })).toEqual({
      checked: 3,
      underPreviousKey: 0,
    });
    await expect(opensEverything(a, [])).rejects.toThrow(/does not decrypt/);
  });

  it('refuses to start with a key that opens none of them, in one line naming the tenant and the setting', async () => {
    await expect(startService(testConfig(env({ master: wrong })), silentLogger)).rejects.toBeInstanceOf(
      StartUpError,
    );
    const started = await joinery(['start'], { ...env({ master: wrong }), JOINERY_HTTP_PORT: '0' });
    expect(started.code).toBe(1);
    const lines = started.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    const named = tenants.find((tenant) => lines[0]?.includes(tenant.tenantId));
    expect(named).toBeDefined();
    expect(lines[0]).toContain(`tenant ${named?.tenantName ?? '?'} (${named?.tenantId ?? '?'})`);
    expect(lines[0]).toMatch(
      /^joinery: the tenant keys of tenant .* and 2 other tenants do not open: .*security\.masterKey \(JOINERY_MASTER_KEY\).*security\.previousMasterKeys/,
    );

    const rewrap = await joinery(['keys', 'rewrap'], env({ master: wrong }));
    expect(rewrap.code).toBe(1);
    expect(rewrap.stdout.trim()).toBe('rewrapped 0 tenant keys; 3 still under an old master key');
    for (const tenant of tenants)
      expect(rewrap.stderr).toContain(`tenant ${tenant.tenantName} (${tenant.tenantId})`);
    await opensEverything(b, []);
  });
});
