import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../../agent/src/config/load-agent-config.ts';
import { parseLdapDirectoryOptions } from '../../agent/src/directory/directory-options.ts';
import { projectRoot } from '../../src/infra/process.ts';

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

  it('fails at start when an environment variable the file names is not set', () => {
    const file = configFile(`${base}clientKey: \${JOINERY_AGENT_CLIENT_KEY}
directory: {kind: openldap, options: {}}
`);
    expect(() => loadAgentConfig({ file, env: {} })).toThrow(
      /clientKey .*JOINERY_AGENT_CLIENT_KEY is not set/,
    );
  });
});
