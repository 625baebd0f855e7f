// Talking to the process supervisor: one request per connection over its control socket, and
// starting a new supervisor detached. What init, start/stop/restart, status, doctor and uninstall use.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { connect } from 'node:net';
import type { Paths } from '../config/types.js';
import { MeterError } from '../core/errors.js';
import { readText } from './files.js';
import { isMeterProcess, readPid } from './procs.js';
import {
  runPaths,
  supervisorSocket,
  type SupervisorRequest,
  type SupervisorResponse,
  type SupervisorSnapshot,
} from './supervisor-protocol.js';

/** The supervisor's answer, or null when none answers on the socket. */
export function supervisorRequest(paths: Paths, req: SupervisorRequest, timeoutMs = 60_000): Promise<SupervisorResponse | null> {
  return new Promise((resolve) => {
    const sock = connect(supervisorSocket(paths));
    let buf = '';
    let settled = false;
    const done = (v: SupervisorResponse | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      try {
        done(JSON.parse(buf.slice(0, nl)) as SupervisorResponse);
      } catch {
        done({ ok: false, error: 'unreadable answer from the supervisor' });
      }
    });
    sock.on('error', () => done(null));
    sock.on('close', () => done(null));
  });
}

/** The running supervisor's snapshot, or null when it does not answer. */
export async function supervisorHello(paths: Paths, timeoutMs = 3000): Promise<SupervisorSnapshot | null> {
  const r = await supervisorRequest(paths, { cmd: 'hello' }, timeoutMs);
  return r && r.ok ? r.snapshot : null;
}

/** The supervisor's pid when one is alive (per its pid file), else null. */
export function supervisorPid(paths: Paths): number | null {
  const pid = readPid(runPaths(paths).supervisorPid);
  return pid !== null && isMeterProcess(pid, 'supervise') ? pid : null;
}

/** The last snapshot the supervisor wrote (status when it is down), or null. */
export function lastSnapshot(paths: Paths): SupervisorSnapshot | null {
  const text = readText(runPaths(paths).state);
  if (text === null) return null;
  try {
    return JSON.parse(text) as SupervisorSnapshot;
  } catch {
    return null;
  }
}

/**
 * Starts a supervisor detached (`argv` = node, bin, "supervise") and waits until it answers. Its
 * own output goes to run/supervisor.out; its log lines to supervisor.log.
 */
export async function spawnSupervisor(paths: Paths, argv: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 15_000): Promise<SupervisorSnapshot> {
  const run = runPaths(paths);
  mkdirSync(run.dir, { recursive: true, mode: 0o700 });
  const fd = openSync(run.supervisorOut, 'a', 0o600);
  let exited: string | null = null;
  try {
    const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], env, cwd: '/' });
    child.once('exit', (code, signal) => (exited = `exited ${signal ?? code}`));
    child.once('error', (e) => (exited = e.message));
    child.unref();
  } finally {
    closeSync(fd);
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const snap = await supervisorHello(paths, 1000);
    if (snap) return snap;
    if (exited) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const tail = (readText(run.supervisorOut) ?? '').trim().split('\n').slice(-2).join(' / ');
  throw new MeterError(
    'daemon_unreachable',
    `the process supervisor did not come up${exited ? ` (${exited})` : ` within ${timeoutMs / 1000} s`}${tail ? `: ${tail}` : ''}`,
    `see ${run.supervisorOut} and ~/.halton-meter/supervisor.log`,
  );
}
