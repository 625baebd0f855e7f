// The CA in ~/.mitmproxy: mitmproxy-ca.pem (key + certificate, 0600) is the source of truth; the
// public mitmproxy-ca-cert.pem (NODE_EXTRA_CA_CERTS names it) and .cer are copies init rewrites
// from it. A missing copy is an automatic fix. A missing or unusable key is not: only a new CA can
// replace it, every client would have to trust that one again, and the running daemon keeps the old
// one in memory until it restarts. doctor never creates a CA; it says what init would do.
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { caPaths } from '../../ca/index.js';
import { tilde } from '../steps.js';
import { fail, manual, ok, warn, type Check } from './types.js';

const SOON_MS = 30 * 24 * 3600 * 1000;

/** 12:2B:8A:…:D3:B9, as init's sample output shortens it. */
export function shortFingerprint(fp: string): string {
  const parts = fp.split(':');
  return parts.length > 6 ? `${parts.slice(0, 3).join(':')}:…:${parts.slice(-2).join(':')}` : fp;
}

function holds(file: string, fingerprint: string): 'yes' | 'missing' | 'other' {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return 'missing';
  }
  const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text);
  try {
    return m && new X509Certificate(m[0]).fingerprint256 === fingerprint ? 'yes' : 'other';
  } catch {
    return 'other';
  }
}

export const caCheck: Check = {
  id: 'ca',
  title: 'CA',
  run(f) {
    const { paths } = f.ctx.config;
    const p = caPaths(paths.caDir);
    const key = tilde(p.key, paths.home);
    if (f.ca.kind === 'missing') {
      if (f.mode === null) return fail(`no CA yet in ${tilde(p.dir, paths.home)} (init creates it)`, f.fixes.install);
      return fail(
        `${key} (the CA key) is gone: the running daemon keeps its copy until it restarts, then creates a NEW CA no client trusts. ` +
          `Put it back from a backup if you can (clients keep trusting it). Else init creates a new one (re-patching certifi and ` +
          `rewriting ca-bundle.pem), and every other client must trust it again; --fix does not create one`,
        f.fixes.newCa,
      );
    }
    if (f.ca.kind === 'unusable') {
      return fail(
        `${f.ca.message}. halton-meter never replaces an existing CA`,
        manual(`mv ${key} ${key}.broken && ${f.fixes.init.command}  # creates a NEW CA: every client must trust it again`),
      );
    }
    const ca = f.ca.ca;
    const problems: string[] = [];
    const certPem = holds(p.certPem, ca.fingerprintSha256);
    if (certPem !== 'yes') {
      return fail(
        `${tilde(p.certPem, paths.home)} is ${certPem === 'missing' ? 'missing' : 'not the certificate of mitmproxy-ca.pem'}: NODE_EXTRA_CA_CERTS names it, so Node clients cannot verify the meter (init rewrites it from ${key})`,
        f.fixes.init,
      );
    }
    const certCer = holds(p.certCer, ca.fingerprintSha256);
    if (certCer !== 'yes') problems.push(`${tilde(p.certCer, paths.home)} is ${certCer === 'missing' ? 'missing' : 'another certificate'}`);
    const mode = statSync(p.key).mode & 0o777;
    if ((mode & 0o077) !== 0) problems.push(`${key} is mode 0${mode.toString(8)}, readable by others (init narrows it to 0600)`);
    const left = ca.notAfter.getTime() - Date.now();
    if (left < SOON_MS) problems.push(`the CA expires on ${ca.notAfter.toISOString().slice(0, 10)}`);
    const what = `${tilde(p.certPem, paths.home)} (SHA-256 ${shortFingerprint(ca.fingerprintSha256)}, valid until ${ca.notAfter.toISOString().slice(0, 10)})`;
    if (problems.length) return warn(`${what}; ${problems.join('; ')}`, left < SOON_MS && problems.length === 1 ? manual(`mv ${key} ${key}.old && ${f.fixes.init.command}  # creates a NEW CA: every client must trust it again`) : f.fixes.init);
    return ok(what);
  },
};
