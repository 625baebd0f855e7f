// Finding the meter's own processes through /proc: whether a pid is alive (a zombie is not: PID 1 in
// a container often never reaps orphans), whether it is our edge, daemon or supervisor, and which
// process listens on a loopback port. Linux only, like the meter.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export type MeterRole = 'edge' | 'daemon' | 'supervise';

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: alive, but someone else's.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // Field 3 of /proc/<pid>/stat, after the parenthesised command name (which may hold spaces).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export function cmdline(pid: number): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((s, i, all) => s !== '' || i < all.length - 1);
  } catch {
    return null;
  }
}

/** The meter role of a command line (`node …/bin/halton-meter.js edge`), or null. */
export function roleOf(argv: readonly string[]): MeterRole | null {
  for (let i = 0; i < argv.length - 1; i++) {
    if (/(^|\/)halton-meter(\.js)?$/.test(argv[i])) {
      const next = argv[i + 1];
      if (next === 'edge' || next === 'daemon' || next === 'supervise') return next;
      return null;
    }
  }
  return null;
}

/** Whether `pid` is alive and is the meter's `role` process (guards against a recycled pid). */
export function isMeterProcess(pid: number, role: MeterRole): boolean {
  if (!pidAlive(pid)) return false;
  const argv = cmdline(pid);
  return argv !== null && roleOf(argv) === role;
}

/** The first line of a pid file as a pid, or null. */
export function readPid(path: string): number | null {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** Socket inodes listening on `port` on any address (/proc/net/tcp and tcp6, state 0A = LISTEN). */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (f[3] === '0A' && f[1].endsWith(`:${hexPort}`)) inodes.add(f[9]);
    }
  }
  return inodes;
}

export interface PortHolder {
  pid: number;
  argv: string[];
  role: MeterRole | null;
}

/**
 * The process listening on `port`, when /proc lets us see it (only our own user's processes show
 * their sockets), or null.
 */
export function portHolder(port: number): PortHolder | null {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return null;
  const wanted = new Set([...inodes].map((i) => `socket:[${i}]`));
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  // Newest first: the meter's processes are usually younger than most of the system.
  pids.sort((a, b) => Number(b) - Number(a));
  for (const p of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${p}/fd/${fd}`);
      } catch {
        continue;
      }
      if (wanted.has(target)) {
        const pid = Number(p);
        const argv = cmdline(pid) ?? [];
        return { pid, argv, role: roleOf(argv) };
      }
    }
  }
  return null;
}

/** A short name for a process, for messages: its comm, or "pid N". */
export function processName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() || `pid ${pid}`;
  } catch {
    return `pid ${pid}`;
  }
}
