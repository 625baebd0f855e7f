// A test PKI made with the openssl CLI (independent of the code under test): a root CA and a server
// certificate for the provider hosts the fake upstream impersonates.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  caCertPath: string;
  caCert: string;
  cert: string;
  key: string;
  hosts: string[];
}

export const PROVIDER_TEST_HOSTS = [
  'api.anthropic.com',
  'api.openai.com',
  'chatgpt.com',
  'generativelanguage.googleapis.com',
  'cloudcode-pa.googleapis.com',
  'api.x.ai',
  'plain.example.test',
  'localhost',
];

export function makeTestPki(hosts: string[] = PROVIDER_TEST_HOSTS, name = 'Fake Upstream Test CA'): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'hm-pki-'));
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${hosts[0]}`]);
  const san = hosts.map((h) => (/^\d/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',') + ',IP:127.0.0.1';
  writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '30', '-extfile', 'ext.cnf']);
  return {
    dir,
    caCertPath: join(dir, 'ca.pem'),
    caCert: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    cert: readFileSync(join(dir, 'server.pem'), 'utf8'),
    key: readFileSync(join(dir, 'server.key'), 'utf8'),
    hosts,
  };
}
