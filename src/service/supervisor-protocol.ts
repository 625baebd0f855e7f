// What the process supervisor and its clients (init, start, stop, restart, status, doctor, uninstall)
// share: the files under ~/.halton-meter/run/ and the control protocol, one JSON line each way over
// a unix socket.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Paths } from '../config/types.js';
import type { Component } from './units.js';

export interface RunPaths {
  dir: string;
  supervisorPid: string;
  /** The supervisor's last snapshot (SupervisorSnapshot as JSON), for status when it is down. */
  state: string;
  /** Where the supervisor's own stdout/stderr go. */
  supervisorOut: string;
  pid(c: Component): string;
  /** stdout/stderr of a child (its JSON log lines go to daemon.log / edge.log too). */
  out(c: Component): string;
  /** Present while `stop` holds the component down; survives a supervisor restart. */
  stopped(c: Component): string;
}

export function runPaths(paths: Paths): RunPaths {
  const dir = join(paths.dataDir, 'run');
  return {
    dir,
    supervisorPid: join(dir, 'supervisor.pid'),
    state: join(dir, 'supervisor.json'),
    supervisorOut: join(dir, 'supervisor.out'),
    pid: (c) => join(dir, `${c}.pid`),
    out: (c) => join(dir, `${c}.out`),
    stopped: (c) => join(dir, `${c}.stopped`),
  };
}

/**
 * The control socket: run/supervisor.sock, or an abstract socket named after the data directory when
 * that path is longer than a unix socket path may be (108 bytes).
 */
export function supervisorSocket(paths: Paths): string {
  const p = join(paths.dataDir, 'run', 'supervisor.sock');
  if (Buffer.byteLength(p) < 100) return p;
  return `\0halton-meter-${createHash('sha256').update(paths.dataDir).digest('hex').slice(0, 16)}`;
}

export type ChildRunState = 'running' | 'starting' | 'stopping' | 'stopped' | 'backoff';

export interface ChildSnapshot {
  component: Component;
  state: ChildRunState;
  /** `stop` holds it down (init and `start` lift that). */
  held: boolean;
  pid: number | null;
  /** Found running when the supervisor started (a survivor of the previous supervisor), not spawned by it. */
  adopted: boolean;
  started_at: string | null;
  /** Restarts after a crash since the supervisor started. */
  restarts: number;
  /** Milliseconds until the next restart attempt, when in back-off. */
  backoff_ms: number | null;
  last_exit: { code: number | null; signal: string | null; at: string } | null;
  last_error: string | null;
}

export interface SupervisorSnapshot {
  pid: number;
  version: string;
  node: string;
  bin: string;
  started_at: string;
  children: Record<Component, ChildSnapshot>;
}

export type SupervisorRequest =
  | { cmd: 'hello' }
  | { cmd: 'start'; components: Component[] }
  | { cmd: 'stop'; component: Component }
  | { cmd: 'restart'; component: Component }
  /** Exit now, leaving the children running (a new supervisor adopts them). */
  | { cmd: 'handover' }
  /** Stop the children (daemon first), then exit. */
  | { cmd: 'shutdown' };

export type SupervisorResponse = { ok: true; snapshot: SupervisorSnapshot } | { ok: false; error: string; snapshot?: SupervisorSnapshot };
