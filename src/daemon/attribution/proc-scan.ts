// Synchronous /proc reading for the client-process lookup. It runs inside a worker thread
// (proc-worker.ts): synchronous calls are about three times faster than their promise versions for
// the thousands of readlinks of a scan, and in the worker they never block the daemon's sockets.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import type { ClientContext } from './context.js';

export interface ClientAddress {
  address: string;
  port: number;
  /**
   * The port the client is connected to (the edge's, or ours), when known. Another socket can have
   * the same local port (a server listening or accepting on it, in another process): the one whose
   * remote end is this port is the client's.
   */
  peerPort?: number;
}

export interface ClientProcess {
  pid: number;
  /** /proc/PID/comm */
  name: string | null;
  /** NUL-separated environment, parsed; empty when unreadable (another user's process). */
  env: ReadonlyMap<string, string>;
  cwd: string | null;
  /** Parent pid, for rules that look at the parent's command line. */
  ppid: number | null;
  /**
   * What the rest of the chain needs (.haltonrc, IDE workspace, git root, container, cwd name), read
   * in the worker the moment the process was found. Absent when the process came from somewhere
   * else (an injected lookup): those rules then have nothing to answer from.
   */
  context?: ClientContext;
}

export const PROC = '/proc';

/** The /proc/net/tcp local-address column for an address, e.g. 127.0.0.1:54321 -> "0100007F:D431". */
export function procNetKey(address: string, port: number): string[] {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  const v4 = address.replace(/^::ffff:/, '');
  if (isIPv4(v4)) {
    const le = v4
      .split('.')
      .map((n) => Number(n))
      .reverse()
      .map((b) => b.toString(16).toUpperCase().padStart(2, '0'))
      .join('');
    // A v4 client seen through a v6 socket shows up as ::ffff:a.b.c.d in tcp6.
    return [`${le}:${portHex}`, `0000000000000000FFFF0000${le}:${portHex}`];
  }
  return [`${ipv6ProcHex(address)}:${portHex}`];
}

function ipv6ProcHex(address: string): string {
  const parts = expandV6(address);
  // /proc prints each 32-bit word in host (little-endian) order.
  let out = '';
  for (let w = 0; w < 4; w++) {
    const hi = parts[w * 2];
    const lo = parts[w * 2 + 1];
    out += [lo & 0xff, (lo >> 8) & 0xff, hi & 0xff, (hi >> 8) & 0xff].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join('');
  }
  return out;
}

function expandV6(address: string): number[] {
  const [head, tail] = address.split('::');
  const h = head ? head.split(':').filter(Boolean) : [];
  const t = tail !== undefined && tail ? tail.split(':').filter(Boolean) : [];
  const fill = new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0');
  return [...h, ...(tail !== undefined ? fill : []), ...t].map((x) => parseInt(x, 16) || 0);
}

/** Socket inode of the connection whose local end is `client`, or null. */
export function findSocketInodeSync(client: ClientAddress, procRoot = PROC): number | null {
  return findSocketInodesSync([client], procRoot)[0];
}

/**
 * Socket inodes for several clients from one read of /proc/net/tcp{,6}: with many sockets open the
 * kernel takes several milliseconds to produce those files, so a burst of connections shares a read.
 */
export function findSocketInodesSync(clients: readonly ClientAddress[], procRoot = PROC): Array<number | null> {
  const keyOf = new Map<string, number>();
  clients.forEach((c, i) => {
    for (const k of procNetKey(c.address, c.port)) keyOf.set(k, i);
  });
  const found: Array<number | null> = clients.map(() => null);
  // A socket with the right local end but another remote end: used only when no better one is seen.
  const fallback: Array<number | null> = clients.map(() => null);
  let left = clients.length;
  for (const file of ['net/tcp', 'net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(`${procRoot}/${file}`, 'latin1');
    } catch {
      continue;
    }
    const lines = text.split('\n');
    for (let i = 1; i < lines.length && left > 0; i++) {
      const cols = lines[i].trim().split(/\s+/);
      if (cols.length < 10 || cols[3] === LISTEN) continue;
      const at = keyOf.get(cols[1]);
      if (at === undefined || found[at] !== null) continue;
      const inode = Number(cols[9]);
      if (!(inode > 0)) continue;
      const want = clients[at].peerPort;
      if (want === undefined || remotePort(cols[2]) === want) {
        found[at] = inode;
        left--;
      } else {
        fallback[at] ??= inode;
      }
    }
    if (left === 0) break;
  }
  return found.map((f, i) => f ?? fallback[i]);
}

/** The st column of a listening socket: never a client's end. */
const LISTEN = '0A';

/** The port of a /proc/net/tcp address column ("0100007F:1F91" -> 8081). */
function remotePort(col: string): number {
  return parseInt(col.slice(col.lastIndexOf(':') + 1), 16);
}

/**
 * Owners of the wanted socket inodes. Walks every process's fd links and stops as soon as all
 * wanted inodes are found; each found process is read at once, before it can exit.
 */
export function scanOwnersSync(
  wanted: ReadonlySet<number>,
  procRoot = PROC,
  read: (pid: number) => ClientProcess | null = (pid) => readProcessSync(pid, procRoot),
): Map<number, ClientProcess> {
  const found = new Map<number, ClientProcess>();
  let pids: string[];
  try {
    // Newest first: a client that just connected is usually a young process.
    pids = readdirSync(procRoot)
      .filter((e) => /^\d+$/.test(e))
      .sort((a, b) => Number(b) - Number(a));
  } catch {
    return found;
  }
  for (const pid of pids) {
    if (found.size === wanted.size) break;
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`${procRoot}/${pid}/fd/${fd}`);
      } catch {
        continue; // The fd closed between readdir and readlink: normal churn.
      }
      if (!link.startsWith('socket:[')) continue;
      const inode = Number(link.slice(8, -1));
      if (wanted.has(inode) && !found.has(inode)) {
        const proc = read(Number(pid));
        if (proc) found.set(inode, proc);
      }
    }
  }
  return found;
}

export function readProcessSync(pid: number, procRoot = PROC): ClientProcess | null {
  const base = `${procRoot}/${pid}`;
  const read = <T>(fn: () => T): T | null => {
    try {
      return fn();
    } catch {
      return null;
    }
  };
  const comm = read(() => readFileSync(`${base}/comm`, 'utf8'));
  const stat = read(() => readFileSync(`${base}/stat`, 'utf8'));
  if (comm === null && stat === null) return null;
  const environ = read(() => readFileSync(`${base}/environ`));
  const cwd = read(() => readlinkSync(`${base}/cwd`));
  const env = new Map<string, string>();
  if (environ) {
    for (const entry of environ.toString('utf8').split('\0')) {
      const eq = entry.indexOf('=');
      if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
  }
  return { pid, name: comm ? comm.trim() : null, env, cwd, ppid: stat ? ppidFromStat(stat) : null };
}

function ppidFromStat(stat: string): number | null {
  // Field 4 comes after the parenthesised comm, which may itself contain spaces or parentheses.
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const p = Number(stat.slice(close + 2).split(' ')[1]);
  return Number.isInteger(p) && p >= 0 ? p : null;
}

export function readPpidSync(pid: number, procRoot = PROC): number | null {
  try {
    return ppidFromStat(readFileSync(`${procRoot}/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** /proc/PID/cmdline as argv (NUL-separated), or null when the process is gone or unreadable. */
export function readCmdlineSync(pid: number, procRoot = PROC): string[] | null {
  try {
    const raw = readFileSync(`${procRoot}/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((a) => a.length > 0);
  } catch {
    return null;
  }
}
