// A throw-away Python virtualenv (`python3 -m venv --without-pip`, no network) whose site-packages
// hold a stand-in `certifi` package: an __init__.py with where() and a cacert.pem. The certifi patch
// is tested against these, found the way init finds real ones.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertifiVenv {
  /** The venv's bin directory (put it first on PATH to make its python3 the one init finds). */
  bin: string;
  python: string;
  /** The stand-in certifi's cacert.pem. */
  bundle: string;
}

export function makeCertifiVenv(dir: string, bundleText: string, withCertifi = true): CertifiVenv {
  const r = spawnSync('python3', ['-m', 'venv', '--without-pip', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lib = join(dir, 'lib');
  const pkg = join(lib, readdirSync(lib).find((d) => d.startsWith('python')) ?? 'python3', 'site-packages', 'certifi');
  if (withCertifi) {
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, '__init__.py'), 'import os\n\ndef where():\n    return os.path.join(os.path.dirname(__file__), "cacert.pem")\n');
    writeFileSync(join(pkg, 'cacert.pem'), bundleText);
  }
  return { bin: join(dir, 'bin'), python: join(dir, 'bin', 'python'), bundle: join(pkg, 'cacert.pem') };
}
