// The certifi bundles of the Python interpreters init patches (python3 on PATH, pipx and uv tool
// venvs, the ones named with --python and remembered in certifi.json), found and asked exactly as
// init finds and asks them. Each should carry exactly one block for the current CA after the marker
// line. One without it (a venv rebuilt, certifi upgraded) is off, not broken: REQUESTS_CA_BUNDLE
// still covers clients started with the meter's environment.
import { accessSync, constants, existsSync } from 'node:fs';
import { certifiRecordPath, certifiWhere, findInterpreters, inspectBundleText, parseCertifiRecord, realBundlePath } from '../../service/certifi.js';
import { readText } from '../../service/files.js';
import { tilde } from '../steps.js';
import { initFix } from './facts.js';
import { ok, warn, type Check } from './types.js';

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export const certifiCheck: Check = {
  id: 'certifi',
  title: 'certifi',
  async run(f) {
    const { paths } = f.ctx.config;
    const trusted = f.trusted;
    if (!trusted) return warn('not checked: no CA certificate (see CA)', null);
    const record = parseCertifiRecord(readText(certifiRecordPath(paths.dataDir)));
    const interpreters = findInterpreters({ home: paths.home, pathVar: f.ctx.env.PATH, extra: record.pythons.filter((p) => existsSync(p)) });
    const where = await Promise.all(interpreters.map((i) => certifiWhere(i.path, { ...f.ctx.env } as NodeJS.ProcessEnv)));
    const good: string[] = [];
    const bad: string[] = [];
    const notes: string[] = [];
    const seen = new Set<string>();
    interpreters.forEach((interp, i) => {
      const w = where[i];
      if (!w.ok) return;
      const bundle = realBundlePath(w.bundle);
      // Distribution builds point at the OS store, which init leaves alone.
      if (seen.has(bundle) || !/(^|\/)certifi\/cacert\.pem$/.test(bundle)) return;
      seen.add(bundle);
      const shown = tilde(bundle, paths.home);
      const found = inspectBundleText(readText(bundle) ?? '', trusted.fingerprint);
      if (found.current === 1 && found.stale.length === 0) {
        good.push(shown);
        return;
      }
      if (!writable(bundle)) {
        notes.push(`${shown} not writable by you, left alone (REQUESTS_CA_BUNDLE covers requests)`);
        return;
      }
      const known = record.patched.some((p) => p.bundle === bundle);
      bad.push(
        found.stale.length
          ? `${shown} carries an older CA (${found.stale.length} block${found.stale.length > 1 ? 's' : ''})`
          : found.current > 1
            ? `${shown} carries the CA ${found.current} times`
            : `${shown} has no halton-meter marker${known ? ' any more (venv rebuilt or certifi upgraded?)' : ` (python ${tilde(interp.path, paths.home)})`}`,
      );
    });
    const gone = record.patched.filter((p) => !seen.has(p.bundle) && !existsSync(p.bundle)).map((p) => tilde(p.bundle, paths.home));
    if (gone.length) notes.push(`gone since the last init: ${gone.join(', ')}`);
    const tail = notes.length ? `; ${notes.join('; ')}` : '';
    if (bad.length) return warn(`${bad.join('; ')}${good.length ? `; with the marker: ${good.join(', ')}` : ''}${tail}`, initFix(f));
    if (interpreters.length === 0) return ok(`no Python interpreter found (python3 on PATH, pipx or uv tool venvs)${tail}`);
    return ok(`${good.length} certifi bundle(s) carry the meter CA${good.length ? `: ${good.join(', ')}` : ''}${tail}`);
  },
};
