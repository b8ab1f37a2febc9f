import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureEnrolled } from '../../agent/src/agent.ts';
import { loadAgentConfig, requireSettings } from '../../agent/src/config/load-agent-config.ts';
import { AgentStore } from '../../agent/src/queue/agent-store.ts';
import { parseLdapDirectoryOptions } from '../../agent/src/directory/directory-options.ts';
import { projectRoot } from '../../src/infra/process.ts';
import { silentLogger } from '../support/factories.ts';

const env = { JOINERY_AGENT_CLIENT_KEY: `jnyc_${'a'.repeat(43)}`, JOINERY_LDAP_PASSWORD: 'not-in-errors' };

function configFile(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'agent-config-'));
  const file = join(dir, 'agent.yaml');
  writeFileSync(file, yaml);
  return file;
}

const base = `api: {urls: [http://127.0.0.1:8080]}
tenantId: 3f0c2a9e-6a47-4d1b-9a55-0d7e1c8b2f10
connectorId: 8b1d0c47-2e9a-4f63-b5c2-7a9e3d1f6c24
`;

describe('agent configuration', () => {
  it('loads the documented example and fills the kind defaults of each object class', () => {
    const config = loadAgentConfig({ file: join(projectRoot, 'docs/examples/agent.yaml'), env });
    expect(config.directory.kind).toBe('active-directory');
    const options = parseLdapDirectoryOptions(
      { ...config.directory, options: { ...config.directory.options, caFile: undefined } },
      config.file,
    );
    expect(options.bindPassword).toBe('not-in-errors');
    expect(options.searches.user).toEqual({
      base: 'OU=People,DC=example,DC=com',
      filter: '(&(objectCategory=person)(objectClass=user))',
      createIn: 'OU=New Hires,OU=People,DC=example,DC=com',
    });
    expect(options.searches.contact.base).toBe('DC=example,DC=com');
    expect(options.pageSize).toBe(500);
  });

  it('names the directory setting that is wrong, and never echoes the password', () => {
    const file = configFile(`${base}directory:
  kind: openldap
  options: {url: 'http://ldap', bindDn: cn=admin, bindPassword: s3cret-value, baseDn: dc=x}
`);
    const config = loadAgentConfig({ file, env: {} });
    expect(() => parseLdapDirectoryOptions(config.directory, config.file)).toThrow(
      /^directory\.options\.url \(in .*agent\.yaml\): must match pattern/,
    );
    const typo = {
      ...config.directory,
      options: { ...config.directory.options, url: 'ldap://x', pageSise: 10 },
    };
    expect(() => parseLdapDirectoryOptions(typo, config.file)).toThrow(
      /^directory\.options\.pageSise \(in .*\): unknown setting$/,
    );
    const missing = { ...config.directory, options: { url: 'ldap://x', bindDn: 'cn=a', baseDn: 'dc=x' } };
    expect(() => parseLdapDirectoryOptions(missing, config.file)).toThrow(/bindPassword .*required/);
    const notNumber = {
      ...config.directory,
      options: { ...config.directory.options, url: 'ldap://x', pageSize: 'many' },
    };
    const message = (() => {
      try {
        parseLdapDirectoryOptions(notNumber, config.file);
        return 'accepted';
      } catch (error) {
        return String(error);
      }
    })();
    expect(message).toMatch(/directory\.options\.pageSize/);
    expect(message).not.toContain('s3cret-value');
  });

  it('reads the bind password from a file, and refuses samba settings for OpenLDAP', () => {
    const file = configFile(`${base}directory:
  kind: openldap
  options: {url: 'ldap://x', bindDn: cn=admin, bindPasswordFile: pw.txt, baseDn: dc=x}
`);
    writeFileSync(join(file, '..', 'pw.txt'), 'from-file\n');
    const config = loadAgentConfig({ file, env: {} });
    expect(parseLdapDirectoryOptions(config.directory, config.file).bindPassword).toBe('from-file');
    const samba = {
      ...config.directory,
      options: { ...config.directory.options, samba: { smbConf: 'smb.conf' } },
    };
    expect(() => parseLdapDirectoryOptions(samba, config.file)).toThrow(
      /directory\.options\.samba .*active-directory/,
    );
  });

  it('fails at load when a variable named in a setting every command needs is not set', () => {
    const file = configFile(`api: {urls: ['\${JOINERY_API_URL}']}
tenantId: 3f0c2a9e-6a47-4d1b-9a55-0d7e1c8b2f10
connectorId: 8b1d0c47-2e9a-4f63-b5c2-7a9e3d1f6c24
directory: {kind: openldap, options: {}}
`);
    expect(() => loadAgentConfig({ file, env: {} })).toThrow(
      /^api\.urls\.0 \(in .*agent\.yaml line 1\): environment variable JOINERY_API_URL is not set$/,
    );
  });

  it('loads the documented example with neither the client key nor the LDAP password set; the command that needs one names it', () => {
    const file = join(projectRoot, 'docs/examples/agent.yaml');
    const config = loadAgentConfig({ file, env: {} });
    expect(config.clientKey).toBeUndefined();
    expect(config.directory.options).not.toHaveProperty('bindPassword');
    expect(config.directory.options.bindDn).toBe('CN=svc-joinery,OU=Service Accounts,DC=example,DC=com');
    expect(config.unresolved.map((setting) => [setting.path.join('.'), setting.variable])).toEqual([
      ['clientKey', 'JOINERY_AGENT_CLIENT_KEY'],
      ['directory.options.bindPassword', 'JOINERY_LDAP_PASSWORD'],
    ]);
    expect(() => {
      requireSettings(config, ['clientKey'], 'needed to enrol');
    }).toThrow(
      /^clientKey \(in .*docs\/examples\/agent\.yaml line \d+\): environment variable JOINERY_AGENT_CLIENT_KEY is not set; needed to enrol$/,
    );
    expect(() => {
      requireSettings(config, ['directory'], 'needed to run');
    }).toThrow(
      /^directory\.options\.bindPassword \(in .*docs\/examples\/agent\.yaml line \d+\): environment variable JOINERY_LDAP_PASSWORD is not set; needed to run$/,
    );
    // Set, they are there and nothing is left unresolved.
    const complete = loadAgentConfig({ file, env });
    expect(complete.clientKey).toBe(env.JOINERY_AGENT_CLIENT_KEY);
    expect(complete.unresolved).toEqual([]);
    requireSettings(complete, ['clientKey'], 'needed to enrol');
    requireSettings(complete, ['directory'], 'needed to run');
  });

  it('a literal $${ is kept, and a half-set value is not used: the whole setting waits for its variable', () => {
    const file = configFile(`${base}clientKey: jnyc_\${JOINERY_KEY_TAIL}
directory: {kind: openldap, options: {bindPassword: 'a$\${b}-\${JOINERY_LDAP_PASSWORD}'}}
`);
    const partial = loadAgentConfig({ file, env: { JOINERY_LDAP_PASSWORD: 'pw' } });
    expect(partial.directory.options.bindPassword).toBe('a${b}-pw');
    expect(partial.clientKey).toBeUndefined();
    expect(partial.unresolved.map((setting) => setting.variable)).toEqual(['JOINERY_KEY_TAIL']);
  });

  it('an enrolled agent starts without its client key; one not enrolled yet fails naming the setting, the variable and the file', async () => {
    const file = configFile(`${base}clientKey: \${JOINERY_AGENT_CLIENT_KEY}
stateDir: state
directory: {kind: openldap, options: {}}
`);
    const config = loadAgentConfig({ file, env: {} });
    const store = AgentStore.open(config.stateDir);
    try {
      await expect(ensureEnrolled({ config, store, logger: silentLogger })).rejects.toThrow(
        /^clientKey \(in .*agent\.yaml line 4\): environment variable JOINERY_AGENT_CLIENT_KEY is not set; the agent is not enrolled yet \(state directory .*state\) and needs the connector's one-time client key to enrol$/,
      );
      const enrolment = {
        tenantId: config.tenantId,
        connectorId: config.connectorId,
        applicationIds: [randomUUID()],
        tenantKey: { keyId: 'k1', publicKey: 'AAAA', suite: 'test' },
        apiUrl: 'http://127.0.0.1:8080',
        enrolledAt: new Date().toISOString(),
      };
      store.saveEnrolment(enrolment);
      const enrolled = await ensureEnrolled({ config, store, logger: silentLogger });
      expect(enrolled.enrolment).toEqual(enrolment);
    } finally {
      store.close();
    }
  });
});
