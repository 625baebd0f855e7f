// ~/.halton-meter/effective-ports.json: the ports actually in use (SPEC §1). config.toml says
// what the user wants; this file says what is bound (init may have picked a fallback because a
// wanted port was held by something else). Every component and command reads ports from here.
//
// The interface mirrors the JSON. Each port is optional because the edge and the daemon are
// separate processes that each record their own ports when they bind (updateEffectivePorts); a
// reader falls back to config for a port not recorded yet (mergeEffective).
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MeterError, errorMessage } from '../core/errors.js';
import { portProblem, samePorts, type Config, type Ports } from './types.js';

export interface EffectivePorts {
  edge_port?: number;
  internal_port?: number;
  api_port?: number;
  /** The component that last wrote the file: "daemon", "edge", "init"... ("unknown" if absent). */
  written_by: string;
  /** That writer's process id, or null. */
  pid: number | null;
  /** ISO-8601 UTC, or null. */
  written_at: string | null;
}

export type EffectivePortKey = 'edge_port' | 'internal_port' | 'api_port';
export type EffectivePortsPatch = Partial<Record<EffectivePortKey, number>>;

export type EffectivePortsState =
  | { state: 'missing' }
  | { state: 'ok'; value: EffectivePorts }
  | { state: 'corrupt'; problem: string };

const KEYS: readonly { json: EffectivePortKey; port: keyof Ports }[] = [
  { json: 'edge_port', port: 'edge' },
  { json: 'internal_port', port: 'internal' },
  { json: 'api_port', port: 'api' },
];

/** What is in the file, for `doctor` and `status`. Never throws. */
export function inspectEffectivePorts(path: string): EffectivePortsState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return { state: 'missing' };
    return { state: 'corrupt', problem: `${path}: cannot read: ${errorMessage(e)}` };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { state: 'corrupt', problem: `${path}: not valid JSON` };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { state: 'corrupt', problem: `${path}: expected a JSON object` };
  }
  const obj = data as Record<string, unknown>;
  const pid = obj.pid;
  // The metadata only informs status output: an older or hand-written file without it still counts.
  const value: EffectivePorts = {
    written_by: typeof obj.written_by === 'string' ? obj.written_by : 'unknown',
    pid: typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : null,
    written_at: typeof obj.written_at === 'string' ? obj.written_at : null,
  };
  for (const { json } of KEYS) {
    const v = obj[json];
    if (v === undefined || v === null) continue;
    const problem = portProblem(v);
    if (problem) return { state: 'corrupt', problem: `${path}: ${json} ${problem}, got ${JSON.stringify(v)}` };
    value[json] = v as number;
  }
  const clash = clashOf(value);
  if (clash) return { state: 'corrupt', problem: `${path}: ${clash}` };
  return { state: 'ok', value };
}

/**
 * The effective ports, or null when the file is missing or unusable. Never throws: the edge
 * calls this at start and must come up on config ports rather than not at all (fail-open,
 * STYLE §7). A corrupt file is passed to `onCorrupt` so the caller can log it.
 */
export function readEffectivePorts(path: string, onCorrupt?: (problem: string) => void): EffectivePorts | null {
  const s = inspectEffectivePorts(path);
  if (s.state === 'ok') return s.value;
  if (s.state === 'corrupt') onCorrupt?.(s.problem);
  return null;
}

/**
 * Replaces the file atomically (temp file in the same directory, fsync, rename), so a reader sees
 * the old content or the new, never half a file. Throws MeterError('io') when it cannot.
 */
export function writeEffectivePorts(path: string, value: EffectivePorts): void {
  const bad = KEYS.find(({ json }) => value[json] !== undefined && portProblem(value[json]) !== null);
  const clash = clashOf(value);
  if (bad || clash) {
    throw new MeterError(
      'internal',
      `refusing to write invalid ports to ${path}: ${bad ? `${bad.json} = ${String(value[bad.json])}` : clash}`,
      'This is a bug in halton-meter: ports are validated before they are bound. Please report it.',
    );
  }
  const body = {
    edge_port: value.edge_port,
    internal_port: value.internal_port,
    api_port: value.api_port,
    written_by: value.written_by,
    pid: value.pid,
    written_at: value.written_at,
  };
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeSync(fd, `${JSON.stringify(body)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // The directory itself is unusable (ENOTDIR, EACCES): there is no temp file to clean up.
    }
    throw new MeterError('io', `cannot write ${path}: ${errorMessage(e)}`, `Check that ${dir} is a directory you can write to.`);
  }
}

/**
 * Records the ports one component has just bound, keeping the others' entries. A recorded port
 * that now equals one of ours is dropped (it is stale: we hold that port). The edge and the
 * daemon may start at the same moment, so after writing we read back and retry if the other's
 * write replaced ours. A corrupt file is simply replaced. Throws MeterError('io') when it cannot
 * write.
 */
export function updateEffectivePorts(
  path: string,
  patch: EffectivePortsPatch,
  writtenBy: string,
  opts: { pid?: number; now?: () => Date } = {},
): void {
  const now = opts.now ?? (() => new Date());
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = readEffectivePorts(path);
    const next: EffectivePorts = { written_by: writtenBy, pid: opts.pid ?? process.pid, written_at: now().toISOString() };
    const ours = new Set(Object.values(patch));
    for (const { json } of KEYS) {
      const mine = patch[json];
      const theirs = current?.[json];
      if (mine !== undefined) next[json] = mine;
      else if (theirs !== undefined && !ours.has(theirs)) next[json] = theirs;
    }
    writeEffectivePorts(path, next);
    const after = readEffectivePorts(path);
    if (after && KEYS.every(({ json }) => patch[json] === undefined || after[json] === patch[json])) return;
  }
}

/**
 * The ports a component should use. Precedence, highest first:
 * 1. a port set by flag or environment variable (an explicit request for this run, e.g. tests);
 * 2. effective-ports.json (what is bound; init may have chosen a fallback there);
 * 3. config.toml, then the defaults (what is wanted; it takes effect when `init` re-validates
 *    and rewrites effective-ports.json).
 * If mixing them would make two ports equal, the config ports are used as they are.
 */
export function mergeEffective(config: Config, eff: EffectivePorts | null): Ports {
  const merged = { ...config.ports };
  if (!eff) return merged;
  for (const { json, port } of KEYS) {
    const source = config.portSources?.[port];
    const explicit = source === 'env' || source === 'flag';
    const recorded = eff[json];
    if (!explicit && recorded !== undefined) merged[port] = recorded;
  }
  return samePorts(merged) ? { ...config.ports } : merged;
}

/** Why the recorded ports clash, or null. */
function clashOf(eff: EffectivePorts): string | null {
  const seen = new Map<number, EffectivePortKey>();
  for (const { json } of KEYS) {
    const v = eff[json];
    if (v === undefined) continue;
    const other = seen.get(v);
    if (other) return `${other} and ${json} are both ${v}`;
    seen.set(v, json);
  }
  return null;
}

function isErrno(e: unknown, code: string): boolean {
  return e instanceof Error && (e as NodeJS.ErrnoException).code === code;
}
