// CA creation/reuse in mitmproxy's layout and per-host leaf certificates, checked with the tools
// clients actually use (openssl, curl, Node's TLS) rather than by re-reading our own output.

import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import tls from 'node:tls';
import { inspect, promisify } from 'node:util';
import { isMeterError } from '../../src/core/errors.js';
import { caPaths, ensureCa, LeafCache, loadCa } from '../../src/ca/index.js';
import type { LoadedCa } from '../../src/ca/index.js';

const DAY = 24 * 60 * 60 * 1000;
const has = (cmd: string, args: string[]): boolean => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const noOpenssl = has('openssl', ['version']) ? false : 'openssl not installed';
const noCurl = has('curl', ['--version']) ? false : 'curl not installed';
const noPyCrypto = has('python3', ['-c', 'import cryptography']) ? false : 'python3 cryptography not installed';

const root = mkdtempSync(join(tmpdir(), 'halton-ca-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;
const freshDir = (): string => join(root, `ca-${++seq}`);

const openssl = (...args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8', stdio: 'pipe' });
const mode = (path: string): number => statSync(path).mode & 0o777;
const firstPem = (pem: string): string => `${pem.split('-----END CERTIFICATE-----')[0]}-----END CERTIFICATE-----\n`;

async function rejectsWithCaError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isMeterError(e), `expected a MeterError, got ${String(e)}`);
    assert.equal(e.code, 'ca');
    assert.match(e.message, pattern);
    assert.ok(e.hint !== undefined && e.hint.length > 0, 'a hint tells the user what to do');
    return true;
  });
}

/** A CA made by openssl (PKCS#8 key, UTF8String names), like one a user might already have. */
function opensslCa(dir: string, days: number): void {
  execFileSync('mkdir', ['-p', dir]);
  const key = join(dir, 'k.pem');
  const cert = join(dir, 'c.pem');
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', String(days),
    '-subj', '/CN=mitmproxy/O=mitmproxy', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  writeFileSync(caPaths(dir).key, readFileSync(key, 'utf8') + readFileSync(cert, 'utf8'), { mode: 0o600 });
}

describe('ensureCa: a new CA', { skip: noOpenssl }, () => {
  const dir = freshDir();
  const paths = caPaths(dir);
  let ca: LoadedCa;

  test('creates the three files with mitmproxy modes and PEM layout', async () => {
    const res = await ensureCa(dir);
    ca = res.ca;
    assert.equal(res.created, true);
    assert.equal(mode(dir), 0o700);
    assert.equal(mode(paths.key), 0o600);
    assert.equal(mode(paths.certPem), 0o644);
    assert.equal(mode(paths.certCer), 0o644);
    assert.deepEqual(readdirSync(dir).sort(), ['mitmproxy-ca-cert.cer', 'mitmproxy-ca-cert.pem', 'mitmproxy-ca.pem'], 'no temp files left');
    const keyFile = readFileSync(paths.key, 'utf8');
    assert.match(keyFile, /^-----BEGIN RSA PRIVATE KEY-----\n[\s\S]+-----END RSA PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
    assert.equal(readFileSync(paths.certPem, 'utf8'), ca.certPem);
    assert.equal(readFileSync(paths.certCer, 'utf8'), ca.certPem, 'the .cer is PEM too, as mitmproxy writes it');
    assert.ok(keyFile.endsWith(ca.certPem));
    assert.match(ca.keyPem, /^-----BEGIN RSA PRIVATE KEY-----/);
    assert.doesNotMatch(JSON.stringify(ca) + inspect(ca), /PRIVATE KEY/, 'the key stays out of logs');
  });

  test('openssl sees an RSA 2048 / SHA-256 CA valid for ten years', () => {
    const text = openssl('x509', '-in', paths.certPem, '-noout', '-text');
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
    assert.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(text, /X509v3 Subject Key Identifier/);
    assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(text, /Public-Key: \(2048 bit\)/);
    assert.match(text, /Issuer: CN ?= ?mitmproxy, O ?= ?mitmproxy/);
    assert.match(text, /Subject: CN ?= ?mitmproxy, O ?= ?mitmproxy/);
    const x = new X509Certificate(ca.certPem);
    const years = (Date.parse(x.validTo) - Date.now()) / (365 * DAY);
    assert.ok(years > 9.9 && years <= 10, `valid for ${years} years`);
    assert.ok(Date.parse(x.validFrom) < Date.now() - DAY, 'backdated for clients with a slow clock');
    assert.ok(/^[0-7]/.test(x.serialNumber), 'serial is positive');
    assert.equal(ca.notAfter.getTime(), Date.parse(x.validTo));
  });

  test('fingerprint matches openssl, key passes openssl rsa -check', () => {
    const fp = openssl('x509', '-in', paths.certPem, '-noout', '-fingerprint', '-sha256').trim();
    assert.equal(fp.split('=')[1], ca.fingerprintSha256);
    assert.match(ca.fingerprintSha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.match(openssl('rsa', '-in', paths.key, '-check', '-noout'), /RSA key ok/);
  });

  test('python cryptography loads it the way mitmproxy does', { skip: noPyCrypto }, () => {
    const py = [
      'import sys',
      'from cryptography import x509',
      'from cryptography.hazmat.primitives import serialization',
      'raw = open(sys.argv[1], "rb").read()',
      'key = serialization.load_pem_private_key(raw, None)',
      'ca = x509.load_pem_x509_certificates(raw)[0]',
      'assert ca.public_key() == key.public_key()',
      'print(ca.subject.rfc4514_string())',
    ].join('\n');
    assert.equal(execFileSync('python3', ['-c', py, paths.key], { encoding: 'utf8' }).trim(), 'O=mitmproxy,CN=mitmproxy');
  });

  test('is reused: same fingerprint, key mode narrowed, missing cert files rewritten', async () => {
    chmodSync(paths.key, 0o644);
    unlinkSync(paths.certCer);
    writeFileSync(paths.certPem, 'stale\n');
    const res = await ensureCa(dir);
    assert.equal(res.created, false);
    assert.equal(res.ca.fingerprintSha256, ca.fingerprintSha256);
    assert.equal(mode(paths.key), 0o600);
    assert.equal(readFileSync(paths.certPem, 'utf8'), ca.certPem);
    assert.equal(readFileSync(paths.certCer, 'utf8'), ca.certPem);
    assert.equal(res.repaired.length, 3);
    const again = await ensureCa(dir);
    assert.deepEqual(again.repaired, []);
    assert.equal((await loadCa(dir)).fingerprintSha256, ca.fingerprintSha256);
  });
});

describe('ensureCa: existing and broken CAs', { skip: noOpenssl }, () => {
  test('accepts an openssl-made CA with a PKCS#8 key, unchanged', async () => {
    const dir = freshDir();
    opensslCa(dir, 30);
    const before = readFileSync(caPaths(dir).key, 'utf8');
    assert.match(before, /^-----BEGIN PRIVATE KEY-----/);
    const { ca, created } = await ensureCa(dir);
    assert.equal(created, false);
    assert.equal(readFileSync(caPaths(dir).key, 'utf8'), before, 'the user key file is never rewritten');
    assert.equal(ca.fingerprintSha256, new X509Certificate(readFileSync(join(dir, 'c.pem'))).fingerprint256);
    assert.match(ca.keyPem, /^-----BEGIN RSA PRIVATE KEY-----/);
  });

  test('a corrupt key file is reported, not overwritten', async () => {
    const dir = freshDir();
    execFileSync('mkdir', ['-p', dir]);
    const garbage = '-----BEGIN RSA PRIVATE KEY-----\nnot base64 at all\n-----END RSA PRIVATE KEY-----\n';
    writeFileSync(caPaths(dir).key, garbage, { mode: 0o600 });
    await rejectsWithCaError(ensureCa(dir), /unusable: .*corrupt/);
    writeFileSync(caPaths(dir).key, 'hello\n', { mode: 0o600 });
    await rejectsWithCaError(ensureCa(dir), /no PEM private key/);
    assert.equal(readFileSync(caPaths(dir).key, 'utf8'), 'hello\n');
  });

  test('a key that does not match its certificate is reported', async () => {
    const a = freshDir();
    const b = freshDir();
    await ensureCa(a);
    await ensureCa(b);
    const keyA = readFileSync(caPaths(a).key, 'utf8').split('-----BEGIN CERTIFICATE-----')[0];
    writeFileSync(caPaths(b).key, keyA + readFileSync(caPaths(b).certPem, 'utf8'));
    await rejectsWithCaError(ensureCa(b), /does not match/);
  });

  test('an unreadable key file is reported', async () => {
    // A directory in place of the file: unreadable even for root, unlike a chmod 000 file.
    const dir = freshDir();
    execFileSync('mkdir', ['-p', caPaths(dir).key]);
    await rejectsWithCaError(ensureCa(dir), /Cannot read/);
    assert.ok(statSync(caPaths(dir).key).isDirectory());
  });

  test('an expired CA is reported, not replaced', async () => {
    const dir = freshDir();
    opensslCa(dir, 1);
    await rejectsWithCaError(ensureCa(dir, { now: () => Date.now() + 2 * DAY }), /expired/);
  });

  test('two concurrent creations end with one CA', async () => {
    const dir = freshDir();
    const [a, b] = await Promise.all([ensureCa(dir), ensureCa(dir)]);
    assert.equal(a.ca.fingerprintSha256, b.ca.fingerprintSha256);
    assert.equal(Number(a.created) + Number(b.created), 1);
    assert.equal((await loadCa(dir)).fingerprintSha256, a.ca.fingerprintSha256);
    assert.equal(readdirSync(dir).length, 3, 'the loser left no temp file');
  });

  test('loadCa never creates', async () => {
    const dir = freshDir();
    await rejectsWithCaError(loadCa(dir), /No CA found/);
    assert.throws(() => statSync(dir));
  });
});

describe('LeafCache', { skip: noOpenssl }, async () => {
  const dir = freshDir();
  const { ca } = await ensureCa(dir);
  const caFile = caPaths(dir).certPem;

  test('timings (no assertion)', (t) => {
    let t0 = performance.now();
    const cache = new LeafCache(ca);
    t.diagnostic(`new LeafCache (the first one in a process generates the leaf key): ${(performance.now() - t0).toFixed(1)} ms`);
    t0 = performance.now();
    cache.getPem('first.example.com');
    t.diagnostic(`first leaf: ${(performance.now() - t0).toFixed(1)} ms`);
    t0 = performance.now();
    for (let i = 0; i < 100; i++) cache.getPem(`host-${i}.example.com`);
    t.diagnostic(`100 distinct hosts: ${(performance.now() - t0).toFixed(1)} ms`);
    t0 = performance.now();
    for (let i = 0; i < 100; i++) cache.getSecureContext(`host-${i}.example.com`);
    t.diagnostic(`100 SecureContexts from cached leaves: ${(performance.now() - t0).toFixed(1)} ms`);
  });

  test('a leaf verifies with openssl and names the host', () => {
    const cache = new LeafCache(ca);
    const pem = cache.getPem('API.Anthropic.com.');
    assert.ok(pem.cert.endsWith(ca.certPem), 'chain is leaf + CA');
    const leaf = join(root, 'leaf.pem');
    writeFileSync(leaf, firstPem(pem.cert));
    assert.match(openssl('verify', '-CAfile', caFile, '-verify_hostname', 'api.anthropic.com', leaf), /leaf\.pem: OK/);
    const text = openssl('x509', '-in', leaf, '-noout', '-text');
    assert.match(text, /DNS:api\.anthropic\.com/);
    assert.match(text, /Subject: CN ?= ?api\.anthropic\.com/);
    assert.match(text, /TLS Web Server Authentication/);
    assert.match(text, /X509v3 Authority Key Identifier/);
    const x = new X509Certificate(firstPem(pem.cert));
    const days = (Date.parse(x.validTo) - Date.parse(x.validFrom)) / DAY;
    assert.ok(days <= 397, `leaf validity ${days} days`);
    assert.ok(Date.parse(x.validFrom) < Date.now() - DAY);
    assert.equal(pem.key, cache.getPem('other.example.com').key, 'one leaf key per process');
  });

  test('IP literals get an IP SAN', () => {
    const cache = new LeafCache(ca);
    const cases: [string, string, RegExp][] = [
      ['127.0.0.1', '127.0.0.1', /IP Address:127\.0\.0\.1/],
      ['[::1]', '::1', /IP Address:0:0:0:0:0:0:0:1/],
      ['2001:db8::ffff:1.2.3.4', '2001:db8::ffff:102:304', /IP Address:2001:DB8:0:0:0:FFFF:102:304/],
    ];
    for (const [host, ip, san] of cases) {
      const leaf = join(root, 'leaf-ip.pem');
      writeFileSync(leaf, firstPem(cache.getPem(host).cert));
      assert.match(openssl('verify', '-CAfile', caFile, '-verify_ip', ip, leaf), /OK/);
      assert.match(openssl('x509', '-in', leaf, '-noout', '-ext', 'subjectAltName'), san);
    }
  });

  test('long host names go in a critical SAN only', () => {
    const host = `${'a'.repeat(60)}.example.com`;
    const leaf = join(root, 'leaf-long.pem');
    writeFileSync(leaf, firstPem(new LeafCache(ca).getPem(host).cert));
    assert.match(openssl('verify', '-CAfile', caFile, '-verify_hostname', host, leaf), /OK/);
    assert.match(openssl('x509', '-in', leaf, '-noout', '-text'), /Subject Alternative Name: critical/);
  });

  test('a leaf from an openssl-made (UTF8String, PKCS#8) CA chains to it', async () => {
    const other = freshDir();
    opensslCa(other, 30);
    const { ca: userCa } = await ensureCa(other);
    const pem = new LeafCache(userCa).getPem('api.openai.com');
    const leaf = join(root, 'leaf-user.pem');
    writeFileSync(leaf, firstPem(pem.cert));
    assert.match(openssl('verify', '-CAfile', join(other, 'c.pem'), leaf), /OK/);
    const issuer = openssl('x509', '-in', leaf, '-noout', '-issuer', '-nameopt', 'oneline,show_type');
    assert.match(issuer, /CN = UTF8STRING:mitmproxy, O = UTF8STRING:mitmproxy/, 'issuer bytes copied from the CA subject');
    const x = new X509Certificate(firstPem(pem.cert));
    assert.equal(Date.parse(x.validTo), userCa.notAfter.getTime(), 'never outlives the CA');
  });

  test('a real TLS handshake is authorized', async () => {
    const cache = new LeafCache(ca);
    const server = tls.createServer({ SNICallback: cache.sniCallback }, (s) => s.end('hi'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'api.anthropic.com', ca: ca.certPem });
      await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
      assert.equal(socket.authorized, true, String(socket.authorizationError));
      const peer = socket.getPeerCertificate(true);
      assert.equal(peer.subject.CN, 'api.anthropic.com');
      assert.equal(peer.issuerCertificate.fingerprint256, ca.fingerprintSha256);
      socket.destroy();
    } finally {
      server.close();
    }
  });

  test('curl trusts it with --cacert', { skip: noCurl }, async () => {
    const cache = new LeafCache(ca);
    const server = https.createServer({ SNICallback: cache.sniCallback }, (_req, res) => res.end('metered\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      // Async on purpose: the server answers from this same event loop.
      const { stdout } = await promisify(execFile)('curl', ['-sS', '--noproxy', '*', '--cacert', caFile,
        '--resolve', `api.anthropic.com:${port}:127.0.0.1`, `https://api.anthropic.com:${port}/`]);
      assert.equal(stdout, 'metered\n');
    } finally {
      server.close();
    }
  });

  test('LRU eviction at max', () => {
    const cache = new LeafCache(ca, { max: 3 });
    const a = cache.getPem('a.test').cert;
    const b = cache.getPem('b.test').cert;
    cache.getPem('c.test');
    assert.equal(cache.getPem('a.test').cert, a, 'hit: same certificate');
    cache.getPem('d.test');
    assert.equal(cache.size, 3);
    assert.equal(cache.getPem('a.test').cert, a, 'recently used survives');
    assert.notEqual(cache.getPem('b.test').cert, b, 'least recently used was evicted and re-issued');
  });

  test('re-issued inside the expiry margin', () => {
    let now = Date.now();
    const cache = new LeafCache(ca, { marginMs: 7 * DAY, now: () => now });
    const first = cache.getPem('api.x.ai').cert;
    const notAfter = Date.parse(new X509Certificate(firstPem(first)).validTo);
    assert.ok(notAfter <= now + 365 * DAY && notAfter > now + 364 * DAY);
    now = notAfter - 8 * DAY;
    assert.equal(cache.getPem('api.x.ai').cert, first, 'outside the margin: cached');
    now = notAfter - 7 * DAY;
    const second = cache.getPem('api.x.ai').cert;
    assert.notEqual(second, first, 'inside the margin: re-issued');
    const x = new X509Certificate(firstPem(second));
    assert.equal(Date.parse(x.validFrom), Math.floor((now - 2 * DAY) / 1000) * 1000, 'dates follow the injected clock');
  });

  test('rejects names that cannot go in a certificate', () => {
    const cache = new LeafCache(ca);
    assert.throws(() => cache.getPem(''), (e: unknown) => isMeterError(e) && e.code === 'bad_argument');
    assert.throws(() => new LeafCache(ca, { max: 0 }), (e: unknown) => isMeterError(e) && e.code === 'bad_argument');
  });
});
