// One interface over the two supervisors, so `init`, `start`, `stop`, `restart`, and `status`,
// `doctor`, `uninstall` say what they want (start the daemon, stop it, what runs) without caring
// whether systemd or the process supervisor does it.
import { rmSync } from 'node:fs';
import type { Paths } from '../config/types.js';
import { MeterError } from '../core/errors.js';
import { writeTextIfChanged } from './files.js';
import type { InstallMode } from './install-mode.js';
import { isMeterProcess, portHolder, readPid } from './procs.js';
import { lastSnapshot, spawnSupervisor, supervisorHello, supervisorPid, supervisorRequest } from './supervisor-client.js';
import { runPaths, type SupervisorSnapshot } from './supervisor-protocol.js';
import { Systemctl, firstLine, type UnitState } from './systemctl.js';
import { UNIT_NAMES, type Component } from './units.js';
import { waitUntil } from './health.js';

export interface ComponentView {
  /** The supervisor runs it (unit active/activating, or a live child). */
  running: boolean;
  pid: number | null;
  /** Human words: "active (running)", "backoff, restart in 2 s", "failed (start-limit-hit)". */
  detail: string;
  /** systemd gave up on it (start-limit-hit): `reset-failed` + `init --clean`. */
  startLimitHit: boolean;
  /** `stop` holds it down (process supervisor) or the unit is inactive after a stop. */
  held: boolean;
}

export interface DriverView {
  /** Why the supervisor itself could not be asked, or null. */
  problem: string | null;
  edge: ComponentView;
  daemon: ComponentView;
  /** systemd: each unit's raw state; process: the supervisor's snapshot. */
  units?: Record<Component, UnitState>;
  supervisor?: SupervisorSnapshot | null;
}

export interface Driver {
  readonly mode: InstallMode;
  view(): Promise<DriverView>;
  start(components: readonly Component[]): Promise<void>;
  stop(component: Component): Promise<void>;
  restart(component: Component): Promise<void>;
}

// ---- systemd ---------------------------------------------------------------------------------------

export function unitView(u: UnitState): ComponentView {
  const running = ['active', 'activating', 'reloading'].includes(u.activeState);
  const startLimitHit = u.result === 'start-limit-hit';
  const detail =
    u.loadState === 'not-found' || u.loadState === ''
      ? 'unit not installed'
      : `${u.activeState}${u.subState ? ` (${u.subState})` : ''}${u.result && u.result !== 'success' ? `, result ${u.result}` : ''}${u.nRestarts ? `, ${u.nRestarts} restarts` : ''}`;
  return { running, pid: u.mainPid, detail, startLimitHit, held: !running && u.activeState === 'inactive' };
}

export class SystemdDriver implements Driver {
  readonly mode = 'systemd' as const;
  constructor(readonly systemctl: Systemctl) {}

  async view(): Promise<DriverView> {
    const s = await this.systemctl.show();
    return { problem: s.error, edge: unitView(s.edge), daemon: unitView(s.daemon), units: { edge: s.edge, daemon: s.daemon } };
  }

  private async must(verb: string, components: readonly Component[]): Promise<void> {
    const r = await this.systemctl.run(verb, ...components.map((c) => UNIT_NAMES[c]));
    if (r.code !== 0) {
      throw new MeterError(
        'daemon_unreachable',
        `systemctl --user ${verb} ${components.map((c) => UNIT_NAMES[c]).join(' ')} failed: ${firstLine(r.stderr) || `exit ${r.code}`}`,
        /start-limit|too quickly/i.test(r.stderr)
          ? 'systemctl --user reset-failed halton-meter.service halton-meter-edge.service && halton-meter init --apps --clean'
          : 'see: journalctl --user -u halton-meter.service -n 50',
      );
    }
  }

  start(components: readonly Component[]): Promise<void> {
    // The edge first: apps need it; the daemon is optional for traffic.
    const ordered = (['edge', 'daemon'] as const).filter((c) => components.includes(c));
    return this.must('start', ordered);
  }

  stop(component: Component): Promise<void> {
    return this.must('stop', [component]);
  }

  restart(component: Component): Promise<void> {
    return this.must('restart', [component]);
  }
}

// ---- process supervisor ----------------------------------------------------------------------------

export function childView(snap: SupervisorSnapshot | null, c: Component): ComponentView {
  const ch = snap?.children[c];
  if (!ch) return { running: false, pid: null, detail: 'supervisor not running', startLimitHit: false, held: false };
  const detail =
    ch.state === 'backoff'
      ? `crashed, restart in ${Math.ceil((ch.backoff_ms ?? 0) / 1000)} s (${ch.restarts} restarts)${ch.last_error ? `: ${ch.last_error}` : ''}`
      : `${ch.state}${ch.pid ? ` (pid ${ch.pid}${ch.adopted ? ', adopted' : ''})` : ''}${ch.held ? ', held by stop' : ''}${ch.restarts ? `, ${ch.restarts} restarts` : ''}`;
  return { running: ch.pid !== null && ch.state !== 'stopped', pid: ch.pid, detail, startLimitHit: false, held: ch.held };
}

export class ProcessDriver implements Driver {
  readonly mode = 'process' as const;

  /** `supervisorArgv`: node, the CLI's bin, "supervise". */
  constructor(
    readonly paths: Paths,
    readonly supervisorArgv: readonly string[],
    readonly env: NodeJS.ProcessEnv,
  ) {}

  async view(): Promise<DriverView> {
    const snap = await supervisorHello(this.paths);
    if (snap) return { problem: null, edge: childView(snap, 'edge'), daemon: childView(snap, 'daemon'), supervisor: snap };
    // No supervisor: what runs anyway (children outlive it) is still worth telling.
    const last = lastSnapshot(this.paths);
    const orphan = (c: Component): ComponentView => {
      const pid = readPid(runPaths(this.paths).pid(c));
      const alive = pid !== null && isMeterProcess(pid, c);
      return { running: alive, pid: alive ? pid : null, detail: alive ? `running (pid ${pid}), unsupervised` : 'not running', startLimitHit: false, held: false };
    };
    return { problem: 'the process supervisor is not running', edge: orphan('edge'), daemon: orphan('daemon'), supervisor: last };
  }

  /** The running supervisor's snapshot, starting one when none answers. */
  async ensureSupervisor(): Promise<{ snapshot: SupervisorSnapshot; spawned: boolean }> {
    const snap = await supervisorHello(this.paths);
    if (snap) return { snapshot: snap, spawned: false };
    return { snapshot: await spawnSupervisor(this.paths, this.supervisorArgv, this.env), spawned: true };
  }

  async start(components: readonly Component[]): Promise<void> {
    const run = runPaths(this.paths);
    for (const c of components) rmSync(run.stopped(c), { force: true });
    const { spawned } = await this.ensureSupervisor();
    if (!spawned) await this.ask({ cmd: 'start', components: [...components] });
  }

  async stop(component: Component): Promise<void> {
    if (await supervisorHello(this.paths)) {
      await this.ask({ cmd: 'stop', component });
      return;
    }
    // No supervisor: hold it down and stop the process ourselves.
    const run = runPaths(this.paths);
    writeTextIfChanged(run.stopped(component), `${new Date().toISOString()}\n`, 0o644);
    let pid = readPid(run.pid(component));
    if (pid === null || !isMeterProcess(pid, component)) pid = null;
    if (pid === null) return;
    const target = pid;
    try {
      process.kill(target, 'SIGTERM');
    } catch {
      return;
    }
    const gone = await waitUntil(() => !isMeterProcess(target, component), component === 'daemon' ? 30_000 : 5000);
    if (!gone) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
  }

  async restart(component: Component): Promise<void> {
    rmSync(runPaths(this.paths).stopped(component), { force: true });
    const { spawned, snapshot } = await this.ensureSupervisor();
    // A supervisor that has just started has just started the component too, unless it adopted it.
    if (spawned && !snapshot.children[component].adopted) return;
    await this.ask({ cmd: 'restart', component });
  }

  async ask(req: Parameters<typeof supervisorRequest>[1], timeoutMs = 60_000): Promise<SupervisorSnapshot> {
    const r = await supervisorRequest(this.paths, req, timeoutMs);
    if (!r) throw new MeterError('daemon_unreachable', `the process supervisor did not answer (${req.cmd})`, 'run: halton-meter init');
    if (!r.ok) throw new MeterError('internal', `the process supervisor refused ${req.cmd}: ${r.error}`);
    return r.snapshot;
  }

  /** pid of the live supervisor (pid file), or null. */
  supervisorPid(): number | null {
    return supervisorPid(this.paths);
  }
}

/** Our edge or daemon holding `port`, found through /proc (for orphans outside any supervisor). */
export function meterProcessOn(port: number, component: Component): number | null {
  const h = portHolder(port);
  return h && h.role === component ? h.pid : null;
}
