// The meter's CA, kept in mitmproxy's own layout (SPEC §6) so an existing mitmproxy CA is reused
// and one created here works with mitmproxy. Setup is strict (STYLE §7): a CA file that exists but
// cannot be used is reported, never replaced, because clients may already trust it.

import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import { MeterError, errorMessage } from '../core/errors.js';

export const CA_FILE_NAMES = {
  /** PKCS#1 private key PEM followed by the certificate PEM; mode 0600. */
  key: 'mitmproxy-ca.pem',
  certPem: 'mitmproxy-ca-cert.pem',
  /** Same PEM bytes as `certPem`: mitmproxy writes it this way too (for Android). */
  certCer: 'mitmproxy-ca-cert.cer',
} as const;

export interface CaPaths {
  readonly dir: string;
  /** mitmproxy-ca.pem: the key and the certificate. Secret. */
  readonly key: string;
  /** mitmproxy-ca-cert.pem: what clients trust (NODE_EXTRA_CA_CERTS, ca-bundle.pem). */
  readonly certPem: string;
  readonly certCer: string;
}

export function caPaths(caDir: string): CaPaths {
  return {
    dir: caDir,
    key: join(caDir, CA_FILE_NAMES.key),
    certPem: join(caDir, CA_FILE_NAMES.certPem),
    certCer: join(caDir, CA_FILE_NAMES.certCer),
  };
}

export interface LoadedCa {
  readonly paths: CaPaths;
  readonly certPem: string;
  /** The CA private key as PKCS#1 PEM. Secret: never log it, never send it anywhere. */
  readonly keyPem: string;
  /** Upper-case hex pairs joined by colons, as `openssl x509 -fingerprint -sha256` prints it. */
  readonly fingerprintSha256: string;
  readonly notAfter: Date;
}

export interface EnsureCaResult {
  readonly ca: LoadedCa;
  readonly created: boolean;
  /** Repairs done to an existing CA (key mode narrowed, public cert files rewritten), for `init`. */
  readonly repaired: readonly string[];
}

export interface CaClockOptions {
  now?: () => number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
// mitmproxy's CA_EXPIRY; also what `ensureCa` creates.
const CA_LIFETIME_MS = 3650 * DAY_MS;
// Backdated like mitmproxy so a client whose clock is a little behind still accepts it.
export const BACKDATE_MS = 2 * DAY_MS;
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
const DIR_MODE = 0o700;

const ROTATE_HINT =
  'halton-meter never overwrites an existing CA. Fix the file, or move the mitmproxy-ca* files ' +
  'away and run `halton-meter init` to create a new CA (clients must then trust the new certificate).';

/** Reuses the CA in `caDir` when it is usable, creates one when there is none. */
export async function ensureCa(caDir: string, opts: CaClockOptions = {}): Promise<EnsureCaResult> {
  const paths = caPaths(caDir);
  const now = opts.now ?? Date.now;
  const existing = await readCaFile(paths);
  if (existing !== undefined) return reuse(paths, existing, now());

  try {
    await mkdir(caDir, { recursive: true, mode: DIR_MODE });
  } catch (e) {
    throw new MeterError('ca', `Cannot create the CA directory ${caDir}: ${errorMessage(e)}`, 'Check that its parent directory exists and is writable.');
  }
  const { keyPem, certPem } = createCaMaterial(now());
  const won = await publishKeyFile(paths.key, keyPem + certPem);
  if (!won) {
    // Another process (a concurrent `init` or daemon start) created the CA first: use theirs.
    const theirs = await readCaFile(paths);
    if (theirs === undefined) throw new MeterError('ca', `${paths.key} vanished while it was being created`);
    return reuse(paths, theirs, now());
  }
  await writeAtomic(paths.certPem, certPem, CERT_MODE);
  await writeAtomic(paths.certCer, certPem, CERT_MODE);
  return { ca: toLoadedCa(paths, parseCaFile(paths.key, keyPem + certPem, now())), created: true, repaired: [] };
}

/** Loads the CA without creating or repairing anything, for callers that must not create one. */
export async function loadCa(caDir: string, opts: CaClockOptions = {}): Promise<LoadedCa> {
  const paths = caPaths(caDir);
  const text = await readCaFile(paths);
  if (text === undefined) {
    throw new MeterError('ca', `No CA found: ${paths.key} does not exist`, 'Run `halton-meter init` to create it.');
  }
  return toLoadedCa(paths, parseCaFile(paths.key, text, (opts.now ?? Date.now)()));
}

async function reuse(paths: CaPaths, text: string, nowMs: number): Promise<EnsureCaResult> {
  const parsed = parseCaFile(paths.key, text, nowMs);
  const repaired: string[] = [];
  const mode = (await stat(paths.key)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    try {
      await chmod(paths.key, KEY_MODE);
    } catch (e) {
      throw new MeterError('ca', `Cannot restrict ${paths.key} to mode 0600: ${errorMessage(e)}`, `Run: chmod 600 ${paths.key}`);
    }
    repaired.push(`${paths.key}: mode ${octal(mode)} -> 0600`);
  }
  const ca = toLoadedCa(paths, parsed);
  for (const file of [paths.certPem, paths.certCer]) {
    if (await holdsCert(file, parsed.cert)) continue;
    // These files are only the public half of mitmproxy-ca.pem, which stays the source of truth.
    await writeAtomic(file, ca.certPem, CERT_MODE);
    repaired.push(`${file}: rewritten from ${paths.key}`);
  }
  return { ca, created: false, repaired };
}

async function readCaFile(paths: CaPaths): Promise<string | undefined> {
  try {
    return await readFile(paths.key, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return undefined;
    throw new MeterError('ca', `Cannot read the CA key file ${paths.key}: ${errorMessage(e)}`, ROTATE_HINT);
  }
}

async function holdsCert(file: string, cert: X509Certificate): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return false;
    throw new MeterError('ca', `Cannot read ${file}: ${errorMessage(e)}`, `Check its permissions, or delete it so init rewrites it.`);
  }
  const block = pemBlocks(text).find((b) => b.label === 'CERTIFICATE');
  if (block === undefined) return false;
  try {
    return new X509Certificate(block.pem).fingerprint256 === cert.fingerprint256;
  } catch {
    return false;
  }
}

interface ParsedCa {
  readonly key: KeyObject;
  readonly cert: X509Certificate;
}

/** Validates a mitmproxy-ca.pem text: an unencrypted RSA key, then the CA certificate it signs with. */
export function parseCaFile(path: string, text: string, nowMs: number): ParsedCa {
  const blocks = pemBlocks(text);
  const fail = (why: string): never => {
    throw new MeterError('ca', `The CA file ${path} is unusable: ${why}`, ROTATE_HINT);
  };
  const encrypted = (b: PemBlock): boolean =>
    b.label === 'ENCRYPTED PRIVATE KEY' || (b.label === 'RSA PRIVATE KEY' && b.pem.includes('Proc-Type: 4,ENCRYPTED'));
  if (blocks.some(encrypted)) {
    fail('its private key is passphrase-protected, which halton-meter does not support');
  }
  const keyBlock = blocks.find((b) => b.label === 'RSA PRIVATE KEY' || b.label === 'PRIVATE KEY');
  const certBlock = blocks.find((b) => b.label === 'CERTIFICATE');
  if (keyBlock === undefined) return fail('no PEM private key ("BEGIN RSA PRIVATE KEY" or "BEGIN PRIVATE KEY") found');
  let key: KeyObject;
  try {
    key = createPrivateKey(keyBlock.pem);
  } catch (e) {
    return fail(`the private key is corrupt (${errorMessage(e)})`);
  }
  if (key.asymmetricKeyType !== 'rsa') return fail(`the key is ${key.asymmetricKeyType ?? 'unknown'}, not RSA`);
  if (certBlock === undefined) return fail('no PEM certificate found after the key');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certBlock.pem);
  } catch (e) {
    return fail(`the certificate is corrupt (${errorMessage(e)})`);
  }
  if (!cert.checkPrivateKey(key)) fail('the private key does not match the certificate');
  if (!cert.ca) fail('the certificate is not a CA certificate (basicConstraints CA:TRUE is missing)');
  const notAfter = new Date(cert.validTo);
  if (!(notAfter.getTime() > nowMs)) fail(`the certificate expired on ${notAfter.toISOString()}`);
  return { key, cert };
}

function toLoadedCa(paths: CaPaths, parsed: ParsedCa): LoadedCa {
  return new CaMaterial(paths, parsed);
}

class CaMaterial implements LoadedCa {
  readonly paths: CaPaths;
  readonly certPem: string;
  readonly fingerprintSha256: string;
  readonly notAfter: Date;
  // A private field behind a getter, so logging, inspecting or JSON-serialising never prints the key.
  readonly #keyPem: string;

  constructor(paths: CaPaths, parsed: ParsedCa) {
    this.paths = paths;
    this.certPem = parsed.cert.toString();
    this.fingerprintSha256 = parsed.cert.fingerprint256;
    this.notAfter = new Date(parsed.cert.validTo);
    this.#keyPem = parsed.key.export({ type: 'pkcs1', format: 'pem' }).toString();
  }

  get keyPem(): string {
    return this.#keyPem;
  }
}

interface PemBlock {
  readonly label: string;
  readonly pem: string;
}

function pemBlocks(text: string): PemBlock[] {
  const re = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
  return [...text.matchAll(re)].map((m) => ({ label: m[1], pem: `${m[0]}\n` }));
}

/** A new CA as mitmproxy's `create_ca` makes it: RSA 2048, SHA-256, CN=O=mitmproxy. */
export function createCaMaterial(nowMs: number): { keyPem: string; certPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = toForgePublicKey(publicKey);
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = new Date(nowMs - BACKDATE_MS);
  cert.validity.notAfter = new Date(nowMs + CA_LIFETIME_MS);
  const name = [
    { shortName: 'CN', value: 'mitmproxy' },
    { shortName: 'O', value: 'mitmproxy' },
  ];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    // mitmproxy sets this on its CA too; it only narrows what the CA vouches for to TLS servers.
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    // Given as a ready value: forge would otherwise hash the key again in JavaScript.
    { name: 'subjectKeyIdentifier', value: octetString(keyIdentifierHex(publicKey)) },
  ]);
  const der = signCertificate(cert, privateKey);
  return { keyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(), certPem: derToPem(der) };
}

function octetString(hex: string): forge.asn1.Asn1 {
  const { Class, Type } = forge.asn1;
  return forge.asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, forge.util.hexToBytes(hex));
}

export function toForgePublicKey(publicKey: KeyObject): forge.pki.rsa.PublicKey {
  const key = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  return key as forge.pki.rsa.PublicKey;
}

/** RFC 5280 §4.2.1.2 method 1 (SHA-1 of the subjectPublicKey bits), as mitmproxy and openssl do. */
export function keyIdentifierHex(publicKey: KeyObject): string {
  return createHash('sha1').update(publicKey.export({ type: 'pkcs1', format: 'der' })).digest('hex');
}

/** Random, positive, 127-bit serial; the first byte is never 0 so the INTEGER stays minimal DER. */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0] & 0x7f || 0x01;
  return bytes.toString('hex');
}

// AlgorithmIdentifier { sha256WithRSAEncryption, NULL }.
const SHA256_RSA_ALG = Buffer.from('300d06092a864886f70d01010b0500', 'hex');

/**
 * Signs with Node's native RSA instead of forge's pure-JS one (tens of ms per signature, measured in
 * the tests' diagnostics). forge only lays out the TBSCertificate; `issuerDer`, when given,
 * replaces forge's issuer with the CA subject's exact bytes, because some verifiers match names
 * byte for byte and forge may re-encode a name read from another tool's certificate differently.
 */
export function signCertificate(cert: forge.pki.Certificate, key: KeyObject, issuer?: forge.asn1.Asn1): Buffer {
  const oid = forge.pki.oids['sha256WithRSAEncryption'];
  cert.signatureOid = oid;
  cert.siginfo.algorithmOid = oid;
  cert.signature = '';
  const tbs = childAt(forge.pki.certificateToAsn1(cert), 0);
  if (issuer !== undefined) childrenOf(tbs)[3] = issuer;
  const tbsDer = Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary');
  const signature = sign('sha256', tbsDer, key);
  return derTlv(0x30, Buffer.concat([tbsDer, SHA256_RSA_ALG, derTlv(0x03, Buffer.concat([Buffer.of(0), signature]))]));
}

/** The subject Name of a certificate, as parsed ASN.1 (to be re-encoded to the same bytes). */
export function subjectAsn1(certPem: string): forge.asn1.Asn1 {
  const der = forge.pem.decode(certPem)[0]?.body;
  if (der === undefined) throw new MeterError('ca', 'The CA certificate is not PEM');
  const tbs = childAt(forge.asn1.fromDer(der), 0);
  // TBSCertificate: [0] version (v2/v3 only), serial, signature, issuer, validity, subject, ...
  const hasVersion = childAt(tbs, 0).tagClass === forge.asn1.Class.CONTEXT_SPECIFIC;
  return childAt(tbs, hasVersion ? 5 : 4);
}

function childrenOf(node: forge.asn1.Asn1): forge.asn1.Asn1[] {
  if (!Array.isArray(node.value)) throw new MeterError('ca', 'Unexpected certificate structure');
  return node.value;
}

function childAt(node: forge.asn1.Asn1, i: number): forge.asn1.Asn1 {
  const child = childrenOf(node)[i];
  if (child === undefined) throw new MeterError('ca', 'Unexpected certificate structure');
  return child;
}

function derTlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.of(n);
  else if (n < 0x100) len = Buffer.of(0x81, n);
  else if (n < 0x10000) len = Buffer.of(0x82, n >> 8, n & 0xff);
  else len = Buffer.of(0x83, n >> 16, (n >> 8) & 0xff, n & 0xff);
  return Buffer.concat([Buffer.of(tag), len, content]);
}

export function derToPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/**
 * Publishes the key file only if none exists (a hard link fails with EEXIST), so two processes
 * creating a CA at once can never replace each other's key. Returns false when another won.
 */
async function publishKeyFile(path: string, content: string): Promise<boolean> {
  const tmp = await writeTemp(path, content, KEY_MODE);
  try {
    await link(tmp, path);
  } catch (e) {
    if (errnoCode(e) === 'EEXIST') return false;
    throw new MeterError('ca', `Cannot write ${path}: ${errorMessage(e)}`);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  await syncDir(path);
  return true;
}

/** Temp file + rename: readers see the old file or the new one, never a half-written one. */
async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  const tmp = await writeTemp(path, content, mode);
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw new MeterError('ca', `Cannot write ${path}: ${errorMessage(e)}`);
  }
  await syncDir(path);
}

async function writeTemp(path: string, content: string, mode: number): Promise<string> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      // Explicit chmod: the umask may have narrowed (or, for the key, never widened) the mode.
      await fh.chmod(mode);
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw new MeterError('ca', `Cannot write ${tmp}: ${errorMessage(e)}`, 'Check that the CA directory is writable.');
  }
  return tmp;
}

// Makes the rename itself durable; best effort because not every filesystem can fsync a directory.
async function syncDir(path: string): Promise<void> {
  const dir = join(path, '..');
  try {
    const fh = await open(dir, 'r');
    await fh.sync().finally(() => fh.close());
  } catch {
    // The file is already complete on disk; at worst a crash right now loses the whole rename.
  }
}

function errnoCode(e: unknown): string | undefined {
  return e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}
