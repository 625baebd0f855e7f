// The process supervisor (`halton-meter supervise`, started detached by init): the meter's
// supervisor on machines without systemd (containers, WSL, CI). It starts the edge and the daemon as
// detached children (their own sessions, output to files, so nothing ties their life to its own),
// writes their pid files, restarts a crashed child with back-off, and obeys the control socket:
// start, stop (held down until start or init), restart, handover, shutdown.
//
// The edge must outlive any supervisor change (SPEC §1, §10). So a supervisor that starts finds the
// edge and daemon already running (pid file, or the process listening on the component's port)
// and adopts them instead of starting new ones; it watches adopted processes through /proc. An
// upgrade's init asks the old supervisor to hand over (exit, children untouched), starts the new
// version's supervisor, which adopts the running edge, and then has it restart only the daemon.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Paths, Ports } from '../config/types.js';
import type { Logger } from '../core/log.js';
import { errorMessage } from '../core/errors.js';
import { writeTextAtomic, writeTextIfChanged } from './files.js';
import { readProcessUnit } from './process-units.js';
import { isMeterProcess, portHolder, readPid } from './procs.js';
import {
  runPaths,
  supervisorSocket,
  type ChildRunState,
  type ChildSnapshot,
  type RunPaths,
  type SupervisorRequest,
  type SupervisorResponse,
  type SupervisorSnapshot,
} from './supervisor-protocol.js';
import { COMPONENTS, type Component } from './units.js';

export interface SupervisorOptions {
  paths: Paths;
  /** Ports from config, used when a process unit does not name its component's port. */
  ports: Ports;
  version: string;
  node: string;
  bin: string;
  /** The environment children start from (each process unit adds and removes variables). */
  env: Readonly<Record<string, string | undefined>>;
  log: Logger;
  /** Poll interval for adopted children (ms). */
  pollMs?: number;
}

/** Back-off after a crash: 0.5 s, doubling to 30 s; reset once a child has run for a minute. */
export function backoffMs(consecutiveFailures: number): number {
  return Math.min(30_000, 500 * 2 ** consecutiveFailures);
}
const STABLE_MS = 60_000;
const OUT_MAX_BYTES = 1024 * 1024;

interface Slot {
  component: Component;
  held: boolean;
  pid: number | null;
  proc: ChildProcess | null;
  adopted: boolean;
  startedAt: number | null;
  restarts: number;
  failures: number;
  timer: NodeJS.Timeout | null;
  timerDue: number | null;
  stopping: boolean;
  state: ChildRunState;
  lastExit: ChildSnapshot['last_exit'];
  lastError: string | null;
  waiters: Array<() => void>;
}

const PORT_ENV: Readonly<Record<Component, { env: string; key: keyof Ports }>> = {
  edge: { env: 'HALTON_METER_EDGE_PORT', key: 'edge' },
  daemon: { env: 'HALTON_METER_API_PORT', key: 'api' },
};

export async function runSupervisor(opts: SupervisorOptions): Promise<number> {
  const { paths, log } = opts;
  const run: RunPaths = runPaths(paths);
  mkdirSync(run.dir, { recursive: true, mode: 0o700 });
  const other = readPid(run.supervisorPid);
  if (other !== null && other !== process.pid && isMeterProcess(other, 'supervise')) {
    log.error('supervisor.already_running', { pid: other });
    process.stderr.write(`halton-meter supervise: another supervisor is running (pid ${other})\n`);
    return 1;
  }
  writeTextAtomic(run.supervisorPid, `${process.pid}\n`, 0o644);
  const startedAt = new Date().toISOString();
  const slots: Record<Component, Slot> = {
    edge: newSlot('edge', existsSync(run.stopped('edge'))),
    daemon: newSlot('daemon', existsSync(run.stopped('daemon'))),
  };
  let exiting = false;

  const snapshot = (): SupervisorSnapshot => ({
    pid: process.pid,
    version: opts.version,
    node: opts.node,
    bin: opts.bin,
    started_at: startedAt,
    children: { edge: childSnapshot(slots.edge), daemon: childSnapshot(slots.daemon) },
  });
  const saveState = (): void => {
    try {
      writeTextIfChanged(run.state, JSON.stringify(snapshot(), null, 2) + '\n', 0o644);
    } catch (e) {
      log.warn('supervisor.state_write_failed', { error: errorMessage(e) });
    }
  };

  const portOf = (c: Component): number => {
    const unit = readProcessUnit(paths, c);
    const fromUnit = 'problem' in unit ? undefined : unit.env[PORT_ENV[c].env];
    const n = fromUnit === undefined ? Number.NaN : Number.parseInt(fromUnit, 10);
    return Number.isInteger(n) ? n : opts.ports[PORT_ENV[c].key];
  };

  const settle = (slot: Slot, pid: number, code: number | null, signal: string | null): void => {
    if (slot.pid !== pid) return;
    slot.pid = null;
    slot.proc = null;
    slot.adopted = false;
    slot.lastExit = { code, signal, at: new Date().toISOString() };
    if (readPid(run.pid(slot.component)) === pid) rmSync(run.pid(slot.component), { force: true });
    log.info('supervisor.child_exit', { component: slot.component, pid, code, signal, intended: slot.stopping || slot.held });
    const waiters = slot.waiters.splice(0);
    for (const w of waiters) w();
    if (slot.stopping || exiting) {
      slot.state = 'stopped';
    } else if (slot.held) {
      slot.state = 'stopped';
    } else {
      scheduleRestart(slot);
    }
    saveState();
  };

  const scheduleRestart = (slot: Slot): void => {
    if (slot.startedAt !== null && Date.now() - slot.startedAt > STABLE_MS) slot.failures = 0;
    const delay = backoffMs(slot.failures);
    slot.failures++;
    slot.restarts++;
    slot.state = 'backoff';
    slot.timerDue = Date.now() + delay;
    log.warn('supervisor.restart_scheduled', { component: slot.component, in_ms: delay, restarts: slot.restarts });
    slot.timer = setTimeout(() => {
      slot.timer = null;
      slot.timerDue = null;
      if (!slot.held && !exiting && slot.pid === null) startChild(slot);
    }, delay);
  };

  const startChild = (slot: Slot): void => {
    const c = slot.component;
    const unit = readProcessUnit(paths, c);
    if ('problem' in unit) {
      slot.lastError = unit.problem;
      log.error('supervisor.spawn_failed', { component: c, error: unit.problem });
      scheduleRestart(slot);
      saveState();
      return;
    }
    const env: Record<string, string | undefined> = { ...opts.env };
    for (const k of unit.unset_env) delete env[k];
    Object.assign(env, unit.env);
    rotate(run.out(c));
    let fd: number | null = null;
    let child: ChildProcess;
    try {
      fd = openSync(run.out(c), 'a', 0o600);
      // Detached: its own session and process group, so signals meant for the supervisor (or its
      // process group) never reach it, and it outlives the supervisor.
      child = spawn(unit.argv[0], unit.argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], env: env as NodeJS.ProcessEnv, cwd: '/' });
    } catch (e) {
      slot.lastError = errorMessage(e);
      log.error('supervisor.spawn_failed', { component: c, error: slot.lastError });
      scheduleRestart(slot);
      saveState();
      return;
    } finally {
      if (fd !== null) closeSync(fd);
    }
    const pid = child.pid;
    if (pid === undefined) {
      child.once('error', (e) => {
        slot.lastError = errorMessage(e);
        log.error('supervisor.spawn_failed', { component: c, error: slot.lastError });
        scheduleRestart(slot);
        saveState();
      });
      return;
    }
    slot.pid = pid;
    slot.proc = child;
    slot.adopted = false;
    slot.startedAt = Date.now();
    slot.state = 'running';
    slot.lastError = null;
    writeTextAtomic(run.pid(c), `${pid}\n`, 0o644);
    child.on('exit', (code, signal) => settle(slot, pid, code, signal));
    log.info('supervisor.child_started', { component: c, pid, argv: unit.argv });
    saveState();
  };

  const adopt = (slot: Slot): boolean => {
    const c = slot.component;
    let pid = readPid(run.pid(c));
    if (pid === null || !isMeterProcess(pid, c)) {
      const holder = portHolder(portOf(c));
      pid = holder && holder.role === c ? holder.pid : null;
    }
    if (pid === null) return false;
    slot.pid = pid;
    slot.adopted = true;
    slot.startedAt = Date.now();
    slot.state = 'running';
    writeTextIfChanged(run.pid(c), `${pid}\n`, 0o644);
    log.info('supervisor.child_adopted', { component: c, pid });
    return true;
  };

  const stopChild = async (slot: Slot): Promise<void> => {
    if (slot.timer) {
      clearTimeout(slot.timer);
      slot.timer = null;
      slot.timerDue = null;
    }
    const pid = slot.pid;
    if (pid === null) {
      slot.state = 'stopped';
      return;
    }
    const unit = readProcessUnit(paths, slot.component);
    const timeoutMs = 'problem' in unit ? 30_000 : unit.stop_timeout_ms;
    slot.stopping = true;
    slot.state = 'stopping';
    saveState();
    const exited = new Promise<void>((r) => slot.waiters.push(r));
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone: the poll or the exit event settles it.
    }
    const kill = setTimeout(() => {
      log.warn('supervisor.kill', { component: slot.component, pid, after_ms: timeoutMs });
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone.
      }
    }, timeoutMs);
    await exited;
    clearTimeout(kill);
    slot.stopping = false;
    slot.state = 'stopped';
  };

  // Adopted children are not ours to wait for: watch them through /proc.
  const poll = setInterval(() => {
    for (const slot of Object.values(slots)) {
      if (slot.pid !== null && slot.proc === null && !isMeterProcess(slot.pid, slot.component)) settle(slot, slot.pid, null, null);
    }
  }, opts.pollMs ?? 200);

  // Children write to their .out files for months: keep each under OUT_MAX_BYTES (see trim()).
  const trimmer = setInterval(() => {
    for (const c of COMPONENTS) trim(run.out(c));
    trim(run.supervisorOut);
  }, 30_000);

  for (const c of COMPONENTS) {
    const slot = slots[c];
    if (!adopt(slot) && !slot.held) startChild(slot);
    else if (slot.held && slot.pid === null) slot.state = 'stopped';
  }
  saveState();

  // One request at a time: a stop and a restart must not interleave.
  let queue: Promise<unknown> = Promise.resolve();
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((r) => (finish = r));

  const leave = (reason: string): void => {
    if (exiting) return;
    exiting = true;
    clearInterval(poll);
    clearInterval(trimmer);
    for (const slot of Object.values(slots)) if (slot.timer) clearTimeout(slot.timer);
    server.close();
    if (readPid(run.supervisorPid) === process.pid) rmSync(run.supervisorPid, { force: true });
    log.info('supervisor.exit', { reason, edge_pid: slots.edge.pid, daemon_pid: slots.daemon.pid });
    finish(0);
  };

  const handle = async (req: SupervisorRequest): Promise<SupervisorResponse> => {
    switch (req.cmd) {
      case 'hello':
        return { ok: true, snapshot: snapshot() };
      case 'start':
        for (const c of req.components) {
          const slot = slots[c];
          slot.held = false;
          rmSync(run.stopped(c), { force: true });
          if (slot.pid !== null) continue;
          if (slot.timer) {
            clearTimeout(slot.timer);
            slot.timer = null;
            slot.timerDue = null;
          }
          slot.failures = 0;
          startChild(slot);
        }
        saveState();
        return { ok: true, snapshot: snapshot() };
      case 'stop': {
        const slot = slots[req.component];
        slot.held = true;
        writeTextIfChanged(run.stopped(req.component), `${new Date().toISOString()}\n`, 0o644);
        await stopChild(slot);
        saveState();
        return { ok: true, snapshot: snapshot() };
      }
      case 'restart': {
        const slot = slots[req.component];
        slot.held = false;
        rmSync(run.stopped(req.component), { force: true });
        await stopChild(slot);
        slot.failures = 0;
        startChild(slot);
        return { ok: true, snapshot: snapshot() };
      }
      case 'handover':
        setImmediate(() => leave('handover'));
        return { ok: true, snapshot: snapshot() };
      case 'shutdown': {
        exiting = true;
        await stopChild(slots.daemon);
        await stopChild(slots.edge);
        exiting = false;
        const snap = snapshot();
        setImmediate(() => leave('shutdown'));
        return { ok: true, snapshot: snap };
      }
      default: {
        const never: never = req;
        return { ok: false, error: `unknown request ${JSON.stringify(never)}` };
      }
    }
  };

  const onConnection = (sock: Socket): void => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => sock.destroy());
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      let req: SupervisorRequest;
      try {
        req = JSON.parse(line) as SupervisorRequest;
      } catch {
        sock.end(JSON.stringify({ ok: false, error: 'bad request' }) + '\n');
        return;
      }
      const p = queue.then(() => handle(req));
      queue = p.catch(() => undefined);
      p.then(
        (res) => sock.end(JSON.stringify(res) + '\n'),
        (e: unknown) => sock.end(JSON.stringify({ ok: false, error: errorMessage(e) }) + '\n'),
      );
    });
  };

  const address = supervisorSocket(paths);
  if (!address.startsWith('\0')) rmSync(address, { force: true });
  const server: Server = createServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address, () => resolve());
  });
  log.info('supervisor.ready', { pid: process.pid, version: opts.version, edge_pid: slots.edge.pid, daemon_pid: slots.daemon.pid });

  // Stopping the supervisor never stops the meter: fail-open for traffic (STYLE §7). `shutdown`
  // over the socket (uninstall) is the way to stop everything.
  const onSignal = (sig: string): void => leave(sig);
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGHUP', () => undefined);
  process.on('uncaughtException', (e) => log.error('supervisor.uncaught', { error: errorMessage(e) }));

  return done;
}

function newSlot(component: Component, held: boolean): Slot {
  return {
    component,
    held,
    pid: null,
    proc: null,
    adopted: false,
    startedAt: null,
    restarts: 0,
    failures: 0,
    timer: null,
    timerDue: null,
    stopping: false,
    state: 'stopped',
    lastExit: null,
    lastError: null,
    waiters: [],
  };
}

function childSnapshot(s: Slot): ChildSnapshot {
  return {
    component: s.component,
    state: s.state,
    held: s.held,
    pid: s.pid,
    adopted: s.adopted,
    started_at: s.startedAt === null ? null : new Date(s.startedAt).toISOString(),
    restarts: s.restarts,
    backoff_ms: s.timerDue === null ? null : Math.max(0, s.timerDue - Date.now()),
    last_exit: s.lastExit,
    last_error: s.lastError,
  };
}

/**
 * A running child keeps its output file open (O_APPEND), so it cannot be renamed away: copy it to
 * `.1` and truncate it in place; the child's next write lands at the new end. A few lines written
 * between the copy and the truncation may be lost; the JSON log files have them too.
 */
function trim(path: string): void {
  try {
    if (statSync(path).size <= OUT_MAX_BYTES) return;
    copyFileSync(path, `${path}.1`);
    truncateSync(path, 0);
  } catch {
    // Missing or unwritable: nothing to do.
  }
}

/** Before a start: keeps one previous generation of the output file. */
function rotate(path: string): void {
  try {
    if (statSync(path).size > OUT_MAX_BYTES) renameSync(path, `${path}.1`);
  } catch {
    // Missing: nothing to rotate.
  }
}
