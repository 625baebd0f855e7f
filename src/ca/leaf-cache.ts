// Per-host leaf certificates for TLS termination, signed by the meter's CA. Generation runs inside
// the TLS handshake (SNICallback), so it is synchronous and kept cheap: one leaf key per process
// (as mitmproxy does) and native RSA signing, with an LRU cap and an expiry margin (STYLE §3).

import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { domainToASCII } from 'node:url';
import forge from 'node-forge';
import { MeterError, errorMessage } from '../core/errors.js';
import type { LoadedCa } from './ca.js';
import {
  BACKDATE_MS,
  derToPem,
  keyIdentifierHex,
  randomSerialHex,
  signCertificate,
  subjectAsn1,
  toForgePublicKey,
} from './ca.js';

export interface LeafCacheOptions {
  /** Hosts kept; the least recently used one is dropped beyond this. */
  max?: number;
  /** A cached leaf this close to its notAfter is replaced before use. */
  marginMs?: number;
  now?: () => number;
}

export interface LeafPem {
  /** Leaf certificate PEM followed by the CA certificate PEM: the chain the server sends. */
  readonly cert: string;
  /** The leaf private key (PKCS#8 PEM), shared by every leaf of this process. */
  readonly key: string;
}

export type SniCallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => void;

const DAY_MS = 24 * 60 * 60 * 1000;
// Apple and Chrome reject server certificates valid for more than 398 days; a year leaves room.
const LEAF_LIFETIME_MS = 365 * DAY_MS;
// RFC 5280 ub-common-name: longer host names go only in the SAN.
const MAX_CN_LENGTH = 64;

interface LeafKey {
  readonly pem: string;
  readonly forgePublic: forge.pki.rsa.PublicKey;
}

// One RSA key for all leaves of the process: generating a key per host would cost ~100 ms each,
// and the key never leaves memory. Created by the first LeafCache, not at import.
let processLeafKey: LeafKey | undefined;

function leafKey(): LeafKey {
  if (processLeafKey === undefined) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
    processLeafKey = {
      pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      forgePublic: toForgePublicKey(publicKey),
    };
  }
  return processLeafKey;
}

interface Entry {
  readonly pem: LeafPem;
  readonly notAfterMs: number;
  context: tls.SecureContext | undefined;
}

export class LeafCache {
  readonly #max: number;
  readonly #marginMs: number;
  readonly #now: () => number;
  readonly #caKey: KeyObject;
  readonly #caCertPem: string;
  readonly #caSubject: forge.asn1.Asn1;
  readonly #caKeyId: string;
  readonly #caNotAfterMs: number;
  // Map iteration order is insertion order: re-inserting on each hit makes the first key the LRU.
  readonly #entries = new Map<string, Entry>();

  constructor(ca: LoadedCa, opts: LeafCacheOptions = {}) {
    this.#max = opts.max ?? 500;
    this.#marginMs = opts.marginMs ?? DAY_MS;
    this.#now = opts.now ?? Date.now;
    if (!Number.isInteger(this.#max) || this.#max < 1) throw new MeterError('bad_argument', `LeafCache max must be a positive integer, got ${this.#max}`);
    if (!(this.#marginMs >= 0)) throw new MeterError('bad_argument', `LeafCache marginMs must be >= 0, got ${this.#marginMs}`);
    this.#caKey = createPrivateKey(ca.keyPem);
    this.#caCertPem = ca.certPem;
    this.#caSubject = subjectAsn1(ca.certPem);
    this.#caKeyId = forge.util.hexToBytes(caSubjectKeyId(ca.certPem));
    this.#caNotAfterMs = ca.notAfter.getTime();
    // Now, at daemon start, rather than inside the first intercepted handshake.
    leafKey();
  }

  get size(): number {
    return this.#entries.size;
  }

  getPem(host: string): LeafPem {
    return this.#entry(host).pem;
  }

  getSecureContext(host: string): tls.SecureContext {
    const entry = this.#entry(host);
    entry.context ??= tls.createSecureContext({ key: entry.pem.key, cert: entry.pem.cert });
    return entry.context;
  }

  /** Ready to pass as `tls.createServer({ SNICallback })`: a failure aborts only that handshake. */
  readonly sniCallback: SniCallback = (servername, cb) => {
    let ctx: tls.SecureContext;
    try {
      ctx = this.getSecureContext(servername);
    } catch (e) {
      cb(e instanceof Error ? e : new Error(errorMessage(e)));
      return;
    }
    cb(null, ctx);
  };

  #entry(host: string): Entry {
    const name = normalizeHost(host);
    const now = this.#now();
    const hit = this.#entries.get(name);
    this.#entries.delete(name);
    const entry = hit !== undefined && hit.notAfterMs - now > this.#marginMs ? hit : this.#issue(name, now);
    this.#entries.set(name, entry);
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#max) break;
      this.#entries.delete(oldest);
    }
    return entry;
  }

  #issue(name: string, nowMs: number): Entry {
    const key = leafKey();
    const cert = forge.pki.createCertificate();
    cert.publicKey = key.forgePublic;
    cert.serialNumber = randomSerialHex();
    // X.509 times have whole seconds: keep the value the certificate really carries.
    const notAfterMs = Math.floor(Math.min(this.#caNotAfterMs, nowMs + LEAF_LIFETIME_MS) / 1000) * 1000;
    cert.validity.notBefore = new Date(nowMs - BACKDATE_MS);
    cert.validity.notAfter = new Date(notAfterMs);
    const hasCn = name.length <= MAX_CN_LENGTH;
    cert.setSubject(hasCn ? [{ shortName: 'CN', value: name }] : []);
    cert.setIssuer([]); // replaced by the CA subject's own bytes in signCertificate
    const altName = isIP(name) ? { type: 7, value: ipBytes(name) } : { type: 2, value: name };
    cert.setExtensions([
      { name: 'extKeyUsage', serverAuth: true },
      // RFC 5280 §4.2.1.6: the SAN is critical when the subject is empty.
      { name: 'subjectAltName', critical: !hasCn, altNames: [altName] },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.#caKeyId },
    ]);
    const leafPem = derToPem(signCertificate(cert, this.#caKey, this.#caSubject));
    return { pem: { cert: leafPem + this.#caCertPem, key: key.pem }, notAfterMs, context: undefined };
  }
}

/** Lower-case A-label without brackets, trailing dot or IPv6 zone: one cache key per name. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  const zone = h.indexOf('%');
  if (zone !== -1 && isIP(h.slice(0, zone)) === 6) h = h.slice(0, zone);
  if (isIP(h) !== 0) return h;
  const ascii = domainToASCII(h);
  if (ascii === '' || ascii.length > 253) throw new MeterError('bad_argument', `Not a valid host name for a certificate: ${JSON.stringify(host)}`);
  return ascii;
}

/** Network-order bytes of an IP literal as a binary string (forge's own IPv6 parser is lax). */
function ipBytes(ip: string): string {
  if (isIP(ip) === 4) return String.fromCharCode(...ip.split('.').map(Number));
  // The WHATWG URL parser canonicalises IPv6 (embedded IPv4 becomes hex), leaving only '::' to expand.
  const canon = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const [head = '', tail] = canon.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((g) => String.fromCharCode(parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff)).join('');
}

/**
 * The CA's own subjectKeyIdentifier, copied into each leaf's authorityKeyIdentifier: OpenSSL
 * refuses the chain when the two differ, and a CA made by another tool may have derived it
 * differently. Falls back to the usual SHA-1 of the key for a CA without one.
 */
function caSubjectKeyId(certPem: string): string {
  const ext: unknown = forge.pki.certificateFromPem(certPem).getExtension('subjectKeyIdentifier');
  if (typeof ext === 'object' && ext !== null && 'subjectKeyIdentifier' in ext && typeof ext.subjectKeyIdentifier === 'string') {
    return ext.subjectKeyIdentifier;
  }
  return keyIdentifierHex(new X509Certificate(certPem).publicKey);
}
