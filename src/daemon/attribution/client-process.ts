// Finds the process on the other end of a client connection (Linux): the client's source address
// -> /proc/net/tcp{,6} -> socket inode -> the /proc/PID/fd link to that inode. Runs off the hot path:
// started when the CONNECT arrives, awaited only when the row is written. One /proc scan at a time,
// shared by everyone waiting, because a scan walks every process's fds.
import { readdir, readFile, readlink } from 'node:fs/promises';
import { isIPv4 } from 'node:net';

export interface ClientAddress {
  address: string;
  port: number;
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
}

const PROC = '/proc';

/** The /proc/net/tcp local-address column for an address, e.g. 127.0.0.1:54321 -> "0100007F:D431". */
export function procNetKey(address: string, port: number): string[] {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  const v4 = address.replace(/^::ffff:/, '');
  if (isIPv4(v4)) {
    const bytes = v4.split('.').map((n) => Number(n));
    const le = bytes
      .reverse()
      .map((b) => b.toString(16).toUpperCase().padStart(2, '0'))
      .join('');
    // A v4 client seen through a v6 socket shows up as ::ffff:a.b.c.d in tcp6.
    const mapped = `0000000000000000FFFF0000${le}`;
    return [`${le}:${portHex}`, `${mapped}:${portHex}`];
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
    const word = [(hi >> 8) & 0xff, hi & 0xff, (lo >> 8) & 0xff, lo & 0xff];
    out += word
      .reverse()
      .map((b) => b.toString(16).toUpperCase().padStart(2, '0'))
      .join('');
  }
  return out;
}

function expandV6(address: string): number[] {
  const [head, tail] = address.split('::');
  const h = head ? head.split(':').filter(Boolean) : [];
  const t = tail !== undefined && tail ? tail.split(':').filter(Boolean) : [];
  const fill = new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...(tail !== undefined ? fill : []), ...t].map((x) => parseInt(x, 16) || 0);
}

/** Socket inode of the connection whose local end is `client`, or null. */
export async function findSocketInode(client: ClientAddress, procRoot = PROC): Promise<number | null> {
  const keys = new Set(procNetKey(client.address, client.port));
  for (const file of ['net/tcp', 'net/tcp6']) {
    let text: string;
    try {
      text = await readFile(`${procRoot}/${file}`, 'latin1');
    } catch {
      continue;
    }
    const lines = text.split('\n');
    for (let i = 1; i < lines.length; i++) {
      const cols = lines[i].trim().split(/\s+/);
      if (cols.length < 10) continue;
      if (keys.has(cols[1])) {
        const inode = Number(cols[9]);
        if (inode > 0) return inode;
      }
    }
  }
  return null;
}

// Lookups waiting for a /proc scan, by socket inode. A scan walks pids newest first (clients are
// usually young processes) and stops as soon as every waiting inode has an owner, so a lookup
// usually finishes before a short-lived client has exited.
const waiting = new Map<number, Array<(pid: number | null) => void>>();
let scanning = false;

function ownerOf(inode: number, procRoot: string): Promise<number | null> {
  return new Promise((resolve) => {
    const list = waiting.get(inode);
    if (list) list.push(resolve);
    else waiting.set(inode, [resolve]);
    if (!scanning) void scan(procRoot);
  });
}

function settle(inode: number, pid: number | null): void {
  const list = waiting.get(inode);
  if (!list) return;
  waiting.delete(inode);
  for (const r of list) r(pid);
}

async function scan(procRoot: string): Promise<void> {
  scanning = true;
  try {
    // Inodes that arrive mid-scan may belong to pids already passed: scan again for them.
    for (let pass = 0; waiting.size > 0 && pass < 3; pass++) {
      const wanted = new Set(waiting.keys());
      let entries: string[];
      try {
        entries = await readdir(procRoot);
      } catch {
        break;
      }
      const pids = entries.filter((e) => /^\d+$/.test(e)).map(Number).sort((a, b) => b - a);
      for (const pid of pids) {
        if (![...wanted].some((i) => waiting.has(i))) break;
        let fds: string[];
        try {
          fds = await readdir(`${procRoot}/${pid}/fd`);
        } catch {
          continue;
        }
        for (const fd of fds) {
          let link: string;
          try {
            link = await readlink(`${procRoot}/${pid}/fd/${fd}`);
          } catch {
            continue; // The fd closed between readdir and readlink: normal churn.
          }
          if (!link.startsWith('socket:[')) continue;
          const inode = Number(link.slice(8, -1));
          if (waiting.has(inode)) settle(inode, pid);
        }
      }
      for (const inode of wanted) settle(inode, null);
    }
  } finally {
    scanning = false;
    for (const inode of [...waiting.keys()]) settle(inode, null);
  }
}

export async function findClientProcess(client: ClientAddress, ownPid: number, procRoot = PROC): Promise<ClientProcess | null> {
  const inode = await findSocketInode(client, procRoot);
  if (inode === null) return null;
  const pid = await ownerOf(inode, procRoot);
  if (pid === null || pid === ownPid) return null;
  return readProcess(pid, procRoot);
}

export async function readProcess(pid: number, procRoot = PROC): Promise<ClientProcess | null> {
  const base = `${procRoot}/${pid}`;
  const [comm, environ, cwd, stat] = await Promise.all([
    readFile(`${base}/comm`, 'utf8').catch(() => null),
    readFile(`${base}/environ`).catch(() => null),
    readlink(`${base}/cwd`).catch(() => null),
    readFile(`${base}/stat`, 'utf8').catch(() => null),
  ]);
  if (comm === null && stat === null) return null;
  const env = new Map<string, string>();
  if (environ) {
    for (const entry of environ.toString('utf8').split('\0')) {
      const eq = entry.indexOf('=');
      if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
  }
  let ppid: number | null = null;
  if (stat) {
    // Field 4 after the parenthesised comm, which may itself contain spaces or parentheses.
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    const p = Number(fields[1]);
    ppid = Number.isFinite(p) ? p : null;
  }
  return { pid, name: comm ? comm.trim() : null, env, cwd, ppid };
}
