// The peers of the comparison as processes: finding and starting socat and mitmdump, measuring a
// proxy as a process tree (socat forks one child per connection), and making sure nothing the bench
// started outlives it. Each peer runs in its own process group (detached) so one kill by group id
// reaches socat's per-connection children too.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from '../test/helpers/meter.js';

/** Clock ticks per second of /proc/PID/stat times, as in procs.ts. */
const CLK_TCK = 100;

// ---------------------------------------------------------------------------------------------------
// Cleanup that runs however the bench ends: normal exit, a thrown error that reaches process.exit, or
// a signal. The harness's own stop() is the normal path; this is the net under it.

const groups = new Set<number>();
const dirs = new Set<string>();
let installed = false;

/** Removes `dir` (recursively) when the bench exits, if nothing removed it before. */
export function removeAtExit(dir: string): void {
  dirs.add(dir);
}

/**
 * Registers the exit, SIGINT, SIGTERM and SIGHUP hooks once. At exit it SIGKILLs the process groups
 * of the peers still registered and every direct child process of the bench still alive (edge and
 * daemon, if their harness never got to stop them), then removes the registered temp dirs.
 */
export function installExitCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      process.stderr.write(`[bench] ${sig}: stopping every process the bench started\n`);
      // exit() runs cleanupSync through the 'exit' hook.
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

function cleanupSync(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  groups.clear();
  for (const pid of childPids(process.pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

// ---------------------------------------------------------------------------------------------------
// A proxy as a process tree, read from /proc.

function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // the process is gone, or the kernel lacks CONFIG_PROC_CHILDREN: the tree is the root alone
  }
  return out;
}

/** `roots` and all their descendants that are alive now. */
export function treePids(roots: readonly number[]): number[] {
  const seen = new Set<number>();
  const todo = roots.filter((p) => p > 0);
  while (todo.length) {
    const pid = todo.pop() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    todo.push(...childPids(pid));
  }
  return [...seen];
}

/**
 * CPU seconds of a process tree: every live thread's time on a CPU (/proc/PID/task/TID/schedstat,
 * nanoseconds) plus the time of the children each process has already reaped (cutime + cstime).
 * Not utime + stime: those are whole clock ticks per process, so a relay whose work is spread over
 * 200 children, each under one tick, would read as zero. A socat child that served a connection
 * and exited is counted through its parent; one still running, directly. `ticks` reads utime +
 * stime instead, the clock /proc/stat uses, for subtracting from machine totals.
 */
export function treeCpuSeconds(roots: readonly number[], clock: 'schedstat' | 'ticks' = 'schedstat'): number {
  let sum = 0;
  for (const pid of treePids(roots)) sum += processCpuSeconds(pid, clock);
  return sum;
}

function processCpuSeconds(pid: number, clock: 'schedstat' | 'ticks'): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime stime cutime cstime are fields 14-17 of the line, 11-14 after the comm.
    const own = (Number(f[11]) + Number(f[12])) / CLK_TCK;
    const reaped = (Number(f[13]) + Number(f[14])) / CLK_TCK;
    if (clock === 'ticks') return own + reaped;
    let ns = 0;
    let threads = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        threads++;
      } catch {
        // thread gone
      }
    }
    // No schedstat (kernel without CONFIG_SCHED_INFO): fall back to the tick counts.
    return reaped + (threads > 0 && Number.isFinite(ns) ? ns / 1e9 : own);
  } catch {
    // exited between the listing and the read: its time is in its parent's cutime on the next read
    return 0;
  }
}

export interface TreeMemory {
  /** Sum of VmRSS over the tree: counts pages shared between its processes once per process. */
  rss: number;
  /** Sum of Pss: shared pages split between the processes sharing them (fair for a forking relay). */
  pss: number;
  processes: number;
}

function kbField(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

export function treeMemory(roots: readonly number[]): TreeMemory {
  const mem: TreeMemory = { rss: 0, pss: 0, processes: 0 };
  for (const pid of treePids(roots)) {
    try {
      mem.rss += kbField(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS');
      mem.pss += kbField(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss');
      mem.processes++;
    } catch {
      // exited meanwhile
    }
  }
  return mem;
}

export interface TreeSampler {
  /** Peak of each named tree over the window (the sample with the highest RSS sum). */
  stop(): Record<string, TreeMemory>;
}

/** Samples the memory of each named tree every `everyMs` until stop(). */
export function sampleTrees(trees: Record<string, readonly number[]>, everyMs = 100): TreeSampler {
  const peak: Record<string, TreeMemory> = Object.fromEntries(Object.keys(trees).map((k) => [k, { rss: 0, pss: 0, processes: 0 }]));
  const take = (): void => {
    for (const [k, roots] of Object.entries(trees)) {
      const m = treeMemory(roots);
      if (m.rss > peak[k].rss) peak[k] = m;
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return peak;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Starting the peers.

/** Full path of `name` on PATH, or null: a missing peer is skipped, not an error. */
export function findExecutable(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

/** First line of `<bin> <flag>` (a version banner), or 'unknown'. */
export function versionOf(bin: string, flag: string, pattern: RegExp): string {
  try {
    const out = execFileSync(bin, [flag], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    return pattern.exec(out)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export interface PeerProc {
  pid: number;
  port: number;
  /** The command line it runs with, for the report. */
  argv: string[];
  stop(): Promise<void>;
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Spawns `bin` in its own process group, registered for the exit cleanup; stderr is kept (tail). */
function spawnGroup(bin: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; stderr: () => string } {
  const child = spawn(bin, args, { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  if (child.pid) groups.add(child.pid);
  let tail = '';
  child.stderr?.on('data', (c: Buffer) => {
    tail = (tail + c.toString('utf8')).slice(-4000);
  });
  // A spawn failure (ENOENT, EACCES) surfaces through waitReady as an early exit.
  child.on('error', () => undefined);
  return { child, stderr: () => tail };
}

async function waitReady(child: ChildProcess, ready: () => Promise<boolean>, what: string, stderr: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) {
      throw new Error(`${what} exited at start (${child.exitCode ?? child.signalCode ?? 'spawn failed'}): ${stderr().trim().split('\n').slice(-3).join(' | ')}`);
    }
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms: ${stderr().trim().split('\n').slice(-3).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM to the group, SIGKILL after `graceMs`; then the group is forgotten and `dir` removed. */
async function stopGroup(child: ChildProcess, graceMs: number, dir?: string): Promise<void> {
  const pgid = child.pid;
  if (pgid) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      try {
        process.kill(-pgid, 'SIGTERM');
      } catch {
        // already gone
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
    }
    // The leader may be gone while per-connection children linger: the group kill reaches them.
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // nothing left in the group
    }
    groups.delete(pgid);
  }
  if (dir) {
    rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
  }
}

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  // A proxy variable from the caller's shell must not turn a peer into a chained proxy.
  for (const k of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy']) delete env[k];
  return env;
}

/**
 * socat as a plain TCP relay in front of the fake's TLS port: the client's TLS goes through it
 * untouched, so it is the cost of one extra userspace byte hop and nothing else. `fork` serves many
 * connections (a child each); `backlog` well above the 200 concurrent connects so none waits for a
 * SYN retry; `nodelay` on both legs as every Node socket in the path has it; `-b` a buffer as large
 * as the fake's writes so the relay is not held to socat's default 8 KiB per read.
 */
export async function startRelay(bin: string, targetPort: number): Promise<PeerProc> {
  const port = await freePort();
  const argv = ['-b', '262144', `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork,backlog=1024,nodelay`, `TCP:127.0.0.1:${targetPort},nodelay`];
  const { child, stderr } = spawnGroup(bin, argv, cleanEnv());
  try {
    await waitReady(child, () => tcpOpen(port), 'socat', stderr, 10_000);
  } catch (err) {
    await stopGroup(child, 500);
    throw err;
  }
  return { pid: child.pid as number, port, argv: [bin, ...argv], stop: () => stopGroup(child, 2000) };
}

export interface MitmProc extends PeerProc {
  /** The CA mitmproxy generated in its confdir: what its clients trust. */
  caCert: string;
}

/**
 * How mitmproxy handles bodies. `buffered` (its default) reads a whole body before sending it on,
 * what an addon that reads bodies needs, and measured ~10% less CPU per small call than streaming;
 * but mitmproxy 8 then holds an SSE response until it ends. `streamed` (stream_large_bodies=1)
 * passes every body through as it arrives: SSE works, nothing is kept.
 */
export type MitmBodies = 'buffered' | 'streamed';

/**
 * mitmdump as a regular (HTTPS_PROXY-style) proxy with its own temporary confdir. Options chosen to
 * give it its best honest showing, matched to what halton-meter does (see docs/performance.md):
 * no addons and no flow output; lazy upstream connections and leaf certificates from the SNI
 * instead of the upstream's certificate, as halton-meter's daemon does; upstream TLS verified
 * against the fake's CA; `ignoreHostPattern` (matched against the SNI) tunnelled raw.
 */
export async function startMitm(bin: string, bodies: MitmBodies, upstreamCaPath: string, ignoreHostPattern: string): Promise<MitmProc> {
  const dir = mkdtempSync(join(tmpdir(), 'hm-peer-mitm-'));
  dirs.add(dir);
  const port = await freePort();
  const argv = [
    '--listen-host', '127.0.0.1',
    '--listen-port', String(port),
    '--set', `confdir=${dir}`,
    '--set', 'flow_detail=0',
    '--set', 'termlog_verbosity=warn',
    ...(bodies === 'streamed' ? ['--set', 'stream_large_bodies=1'] : []),
    '--set', 'connection_strategy=lazy',
    '--set', 'upstream_cert=false',
    '--set', `ssl_verify_upstream_trusted_ca=${upstreamCaPath}`,
    '--set', `ignore_hosts=${ignoreHostPattern}`,
  ];
  // HOME too: nothing of the run may land in the user's own ~/.mitmproxy.
  const { child, stderr } = spawnGroup(bin, argv, cleanEnv({ HOME: dir }));
  const caPath = join(dir, 'mitmproxy-ca-cert.pem');
  try {
    // The CA is generated on first start, before the listener opens.
    await waitReady(child, async () => existsSync(caPath) && (await tcpOpen(port)), 'mitmdump', stderr, 30_000);
  } catch (err) {
    await stopGroup(child, 500, dir);
    throw err;
  }
  return { pid: child.pid as number, port, argv: [bin, ...argv], caCert: readFileSync(caPath, 'utf8'), stop: () => stopGroup(child, 3000, dir) };
}
