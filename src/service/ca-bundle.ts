// ~/.halton-meter/ca-bundle.pem: the system roots plus the meter's CA, for runtimes whose CA setting
// replaces the default store (SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, ...).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { rootCertificates } from 'node:tls';

const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];

export function systemRootsPem(): string {
  for (const f of SYSTEM_BUNDLES) {
    try {
      if (existsSync(f)) return readFileSync(f, 'utf8');
    } catch {
      // Unreadable: try the next, then Node's own copy of the Mozilla roots.
    }
  }
  return rootCertificates.join('\n') + '\n';
}

export function renderCaBundle(systemRoots: string, meterCaPem: string): string {
  const roots = systemRoots.endsWith('\n') ? systemRoots : systemRoots + '\n';
  return `${roots}\n# halton-meter local CA\n${meterCaPem.trim()}\n`;
}

/** Writes the bundle when its content changed; returns whether it wrote. */
export function writeCaBundle(path: string, meterCaPem: string): boolean {
  const text = renderCaBundle(systemRootsPem(), meterCaPem);
  try {
    if (readFileSync(path, 'utf8') === text) return false;
  } catch {
    // Missing: write it.
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, path);
  return true;
}
