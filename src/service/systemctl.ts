// Thin runners for `systemctl --user ...` and `loginctl`. The binaries come from
// HALTON_METER_SYSTEMCTL / HALTON_METER_LOGINCTL when set, else from PATH, so tests can put a
// recording stand-in first. Every call goes through `run`, which returns what happened instead of
// throwing: callers decide what a failure means.
import { execFile } from 'node:child_process';
import { UNIT_NAMES, type Component } from './units.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface CommandResult {
  argv: string[];
  code: number;
  stdout: string;
  stderr: string;
}

function exec(bin: string, args: string[], env: Env, timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(bin, args, { env: env as NodeJS.ProcessEnv, timeout: timeoutMs, encoding: 'utf8', maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      const c = (err as { code?: unknown } | null)?.code;
      const code = err ? (typeof c === 'number' ? c : 127) : 0;
      resolve({ argv: [bin, ...args], code, stdout: String(stdout ?? ''), stderr: err && typeof c !== 'number' ? `${stderr ?? ''}${(err as Error).message}` : String(stderr ?? '') });
    });
  });
}

/** Unit properties init, status and doctor read (`systemctl --user show -p ...`). */
export const SHOW_PROPERTIES = [
  'Id',
  'LoadState',
  'ActiveState',
  'SubState',
  'Result',
  'MainPID',
  'UnitFileState',
  'NeedDaemonReload',
  'NRestarts',
  'FragmentPath',
] as const;

export interface UnitState {
  id: string;
  /** loaded | not-found | bad-setting | error | masked | "" */
  loadState: string;
  /** active | reloading | inactive | failed | activating | deactivating */
  activeState: string;
  subState: string;
  /** success | start-limit-hit | exit-code | signal | ... */
  result: string;
  mainPid: number | null;
  /** enabled | disabled | static | "" */
  unitFileState: string;
  needDaemonReload: boolean;
  nRestarts: number;
  fragmentPath: string;
}

/** Parses `systemctl show` output: blocks of KEY=VALUE lines separated by a blank line. */
export function parseShow(stdout: string): UnitState[] {
  const out: UnitState[] = [];
  for (const block of stdout.split(/\n\s*\n/)) {
    const kv = new Map<string, string>();
    for (const line of block.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) kv.set(line.slice(0, eq), line.slice(eq + 1));
    }
    if (!kv.has('Id')) continue;
    const pid = Number.parseInt(kv.get('MainPID') ?? '0', 10);
    out.push({
      id: kv.get('Id') ?? '',
      loadState: kv.get('LoadState') ?? '',
      activeState: kv.get('ActiveState') ?? '',
      subState: kv.get('SubState') ?? '',
      result: kv.get('Result') ?? '',
      mainPid: Number.isInteger(pid) && pid > 0 ? pid : null,
      unitFileState: kv.get('UnitFileState') ?? '',
      needDaemonReload: kv.get('NeedDaemonReload') === 'yes',
      nRestarts: Number.parseInt(kv.get('NRestarts') ?? '0', 10) || 0,
      fragmentPath: kv.get('FragmentPath') ?? '',
    });
  }
  return out;
}

export const UNKNOWN_UNIT = (id: string): UnitState => ({
  id,
  loadState: '',
  activeState: 'unknown',
  subState: '',
  result: '',
  mainPid: null,
  unitFileState: '',
  needDaemonReload: false,
  nRestarts: 0,
  fragmentPath: '',
});

export class Systemctl {
  readonly bin: string;
  /** Every call made, in order (init prints nothing of it; tests and doctor may). */
  readonly calls: string[][] = [];

  constructor(
    private readonly env: Env,
    private readonly timeoutMs = 60_000,
  ) {
    this.bin = env.HALTON_METER_SYSTEMCTL || 'systemctl';
  }

  async run(...args: string[]): Promise<CommandResult> {
    const argv = ['--user', ...args];
    this.calls.push(argv);
    return exec(this.bin, argv, this.env, this.timeoutMs);
  }

  /** Both units' state; a unit systemctl did not report comes back with activeState "unknown". */
  async show(components: readonly Component[] = ['daemon', 'edge']): Promise<Record<Component, UnitState> & { ok: boolean; error: string | null }> {
    const names = components.map((c) => UNIT_NAMES[c]);
    const r = await this.run('show', ...names, `--property=${SHOW_PROPERTIES.join(',')}`);
    const states = parseShow(r.stdout);
    const pick = (c: Component): UnitState => states.find((s) => s.id === UNIT_NAMES[c]) ?? UNKNOWN_UNIT(UNIT_NAMES[c]);
    return { daemon: pick('daemon'), edge: pick('edge'), ok: r.code === 0, error: r.code === 0 ? null : firstLine(r.stderr) || `exit ${r.code}` };
  }

  /**
   * Whether a systemd user manager answers: `is-system-running` prints a state when it can reach
   * it (exit 1 for "degraded" is still an answer), "offline" or an error when it cannot.
   */
  async userManagerState(): Promise<{ reachable: boolean; state: string }> {
    const r = await this.run('is-system-running');
    const state = r.stdout.trim().split('\n')[0] ?? '';
    return { reachable: ['running', 'degraded', 'starting', 'initializing', 'maintenance', 'stopping'].includes(state), state: state || firstLine(r.stderr) };
  }
}

export function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

/** `loginctl show-user USER -p Linger`: true, false, or null with the reason it could not tell. */
export async function lingerEnabled(user: string, env: Env): Promise<{ linger: boolean | null; detail: string }> {
  const bin = env.HALTON_METER_LOGINCTL || 'loginctl';
  const r = await exec(bin, ['show-user', user, '-p', 'Linger'], env, 10_000);
  const m = /^Linger=(yes|no)$/m.exec(r.stdout);
  if (m) return { linger: m[1] === 'yes', detail: `Linger=${m[1]}` };
  return { linger: null, detail: firstLine(r.stderr) || `loginctl exited ${r.code}` };
}
