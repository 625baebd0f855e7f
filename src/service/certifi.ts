// Python's `requests` (and everything built on certifi) trusts only certifi's bundle, whatever the
// system store says. init appends the meter's CA to the certifi bundle of each Python interpreter it
// finds, after a marker line naming the CA's fingerprint:
//
//   # halton-meter local CA AB:CD:...
//   -----BEGIN CERTIFICATE-----
//   ...
//   -----END CERTIFICATE-----
//
// The text functions are pure: exactly one block for the current CA is the goal, so a bundle that
// already has it is left alone, one replaced by a venv rebuild or a certifi upgrade (no marker) gets
// it again, a block for an older CA is replaced, and duplicates collapse to one.
import { execFile } from 'node:child_process';
import { accessSync, constants, readdirSync, realpathSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { errorMessage } from '../core/errors.js';
import { fileMode, readText, writeTextAtomic } from './files.js';

export const CERTIFI_MARKER = '# halton-meter local CA';

export function markerLine(fingerprint: string): string {
  return `${CERTIFI_MARKER} ${fingerprint}`;
}

interface Block {
  start: number;
  /** Index after the block's last line. */
  end: number;
  fingerprint: string;
}

function blocks(lines: readonly string[]): Block[] {
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith(CERTIFI_MARKER)) continue;
    let end = i + 1;
    if (lines[end]?.startsWith('-----BEGIN CERTIFICATE-----')) {
      while (end < lines.length && !lines[end].startsWith('-----END CERTIFICATE-----')) end++;
      end = Math.min(end + 1, lines.length);
    }
    out.push({ start: i, end, fingerprint: lines[i].slice(CERTIFI_MARKER.length).trim() });
    i = end - 1;
  }
  return out;
}

export interface BundleInspection {
  /** Blocks for the current CA. */
  current: number;
  /** Fingerprints of blocks for other (older) CAs. */
  stale: string[];
}

export function inspectBundleText(text: string, fingerprint: string): BundleInspection {
  const bs = blocks(text.split('\n'));
  return { current: bs.filter((b) => b.fingerprint === fingerprint).length, stale: bs.filter((b) => b.fingerprint !== fingerprint).map((b) => b.fingerprint) };
}

/** The bundle without any halton-meter block. */
export function unpatchBundleText(text: string): { text: string; removed: number } {
  const lines = text.split('\n');
  const bs = blocks(lines);
  if (bs.length === 0) return { text, removed: 0 };
  const drop = new Set<number>();
  for (const b of bs) for (let i = b.start; i < b.end; i++) drop.add(i);
  return { text: lines.filter((_, i) => !drop.has(i)).join('\n'), removed: bs.length };
}

export type PatchAction = 'unchanged' | 'appended' | 'replaced-stale' | 'deduplicated';

/** The bundle with exactly one block for the current CA, at the end. */
export function patchBundleText(text: string, fingerprint: string, caPem: string): { text: string; action: PatchAction } {
  const found = inspectBundleText(text, fingerprint);
  if (found.current === 1 && found.stale.length === 0) return { text, action: 'unchanged' };
  const base = unpatchBundleText(text).text;
  const sep = base === '' || base.endsWith('\n') ? '' : '\n';
  const next = `${base}${sep}${markerLine(fingerprint)}\n${caPem.trim()}\n`;
  const action: PatchAction = found.stale.length > 0 ? 'replaced-stale' : found.current > 1 ? 'deduplicated' : 'appended';
  return { text: next, action };
}

// ---- interpreters --------------------------------------------------------------------------------

export type InterpreterSource = 'PATH' | 'pipx' | 'uv' | 'user';

export interface Interpreter {
  path: string;
  source: InterpreterSource;
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function venvPythons(root: string): string[] {
  let names: string[];
  try {
    names = readdirSync(root).sort();
  } catch {
    return [];
  }
  return names.map((n) => join(root, n, 'bin', 'python')).filter(executable);
}

/**
 * python3 on PATH (the first, as the shell would run it), every pipx venv (~/.local/pipx/venvs and
 * the newer ~/.local/share/pipx/venvs), every `uv tool` venv, and any the user named.
 */
export function findInterpreters(opts: { home: string; pathVar: string | undefined; extra: readonly string[] }): Interpreter[] {
  const out: Interpreter[] = [];
  const seen = new Set<string>();
  const add = (path: string, source: InterpreterSource): void => {
    if (seen.has(path)) return;
    seen.add(path);
    out.push({ path, source });
  };
  for (const dir of (opts.pathVar ?? '').split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const p = join(dir, 'python3');
    if (executable(p)) {
      add(p, 'PATH');
      break;
    }
  }
  for (const root of [join(opts.home, '.local', 'pipx', 'venvs'), join(opts.home, '.local', 'share', 'pipx', 'venvs')]) {
    for (const p of venvPythons(root)) add(p, 'pipx');
  }
  for (const p of venvPythons(join(opts.home, '.local', 'share', 'uv', 'tools'))) add(p, 'uv');
  for (const p of opts.extra) add(p, 'user');
  return out;
}

export type WhereResult = { ok: true; bundle: string } | { ok: false; reason: string };

/** Asks the interpreter for certifi.where(). */
export function certifiWhere(python: string, env: NodeJS.ProcessEnv, timeoutMs = 10_000): Promise<WhereResult> {
  const script = 'import sys\ntry:\n import certifi\nexcept ImportError:\n sys.exit(3)\nsys.stdout.write(certifi.where())\n';
  return new Promise((resolve) => {
    execFile(python, ['-c', script], { env, timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err && stdout.trim()) return resolve({ ok: true, bundle: stdout.trim() });
      const code = (err as { code?: unknown } | null)?.code;
      if (code === 3) return resolve({ ok: false, reason: 'certifi is not installed' });
      if (code === 'ENOENT') return resolve({ ok: false, reason: 'not found' });
      resolve({ ok: false, reason: (stderr.trim().split('\n').pop() ?? '') || (err ? errorMessage(err) : 'no answer') });
    });
  });
}

// ---- applying ------------------------------------------------------------------------------------

export type CertifiOutcome =
  | { kind: 'patched'; action: Exclude<PatchAction, 'unchanged'> }
  | { kind: 'already' }
  | { kind: 'skipped'; reason: string }
  | { kind: 'failed'; reason: string };

/** Ensures exactly one current block in the bundle file. Never throws. */
export function applyCertifiPatch(bundle: string, fingerprint: string, caPem: string): CertifiOutcome {
  if (!/(^|\/)certifi\/cacert\.pem$/.test(bundle)) {
    // Distribution builds of certifi point at the system store; that file belongs to the OS.
    return { kind: 'skipped', reason: `certifi uses ${bundle} (not certifi's own bundle); trust the CA there with your OS tools if needed` };
  }
  const text = readText(bundle);
  if (text === null) return { kind: 'failed', reason: `cannot read ${bundle}` };
  const next = patchBundleText(text, fingerprint, caPem);
  if (next.action === 'unchanged') return { kind: 'already' };
  try {
    writeTextAtomic(bundle, next.text, fileMode(bundle) ?? 0o644);
  } catch (e) {
    return { kind: 'failed', reason: errorMessage(e) };
  }
  return { kind: 'patched', action: next.action };
}

/** Removes our block from a bundle (uninstall). */
export function removeCertifiPatch(bundle: string): { removed: number } | { failed: string } {
  const text = readText(bundle);
  if (text === null) return { removed: 0 };
  const next = unpatchBundleText(text);
  if (next.removed === 0) return { removed: 0 };
  try {
    writeTextAtomic(bundle, next.text, fileMode(bundle) ?? 0o644);
  } catch (e) {
    return { failed: errorMessage(e) };
  }
  return { removed: next.removed };
}

export function realBundlePath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

// ---- the record ----------------------------------------------------------------------------------
// ~/.halton-meter/certifi.json: which bundles init patched, so a bundle that lost its block is
// reported as re-applied (venv rebuilt), and uninstall knows what to clean; plus the interpreters the
// user named with `init --python`, remembered for the next init (an upgrade's init takes no flags).

export function certifiRecordPath(dataDir: string): string {
  return join(dataDir, 'certifi.json');
}

export interface CertifiRecord {
  pythons: string[];
  patched: Array<{ python: string; bundle: string; fingerprint: string }>;
}

export function parseCertifiRecord(text: string | null): CertifiRecord {
  if (text === null) return { pythons: [], patched: [] };
  try {
    const v = JSON.parse(text) as Partial<CertifiRecord>;
    return {
      pythons: Array.isArray(v.pythons) ? v.pythons.filter((p): p is string => typeof p === 'string') : [],
      patched: Array.isArray(v.patched)
        ? v.patched.filter((p) => typeof p?.bundle === 'string' && typeof p.fingerprint === 'string' && typeof p.python === 'string')
        : [],
    };
  } catch {
    return { pythons: [], patched: [] };
  }
}

export function renderCertifiRecord(r: CertifiRecord): string {
  return JSON.stringify({ pythons: r.pythons, patched: r.patched }, null, 2) + '\n';
}
