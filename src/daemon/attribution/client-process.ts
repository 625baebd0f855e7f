// Finds the process on the other end of a client connection (Linux): the client's source address
// -> /proc/net/tcp{,6} -> socket inode -> the /proc/PID/fd link to that inode. Runs off the hot path,
// in a worker thread (proc-worker.ts): started when the CONNECT arrives, awaited only when the row
// is written. The process is read the moment it is found, because short-lived clients (curl) may
// exit right after their response.
import { Worker } from 'node:worker_threads';
import type { LookupReply, LookupRequest } from './proc-worker.js';
import { PROC, findSocketInodeSync, readProcessSync, type ClientAddress, type ClientProcess } from './proc-scan.js';

export { procNetKey, type ClientAddress, type ClientProcess } from './proc-scan.js';

let worker: Worker | null = null;
let nextId = 1;
const pending = new Map<number, (p: ClientProcess | null) => void>();

function getWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(new URL('./proc-worker.js', import.meta.url));
  w.on('message', (reply: LookupReply) => {
    const resolve = pending.get(reply.id);
    pending.delete(reply.id);
    if (pending.size === 0) w.unref();
    resolve?.(reply.process);
  });
  const fail = (): void => {
    // A dead worker must not strand lookups: they resolve as "not found" and the next one restarts it.
    worker = null;
    for (const resolve of pending.values()) resolve(null);
    pending.clear();
  };
  w.on('error', fail);
  w.on('exit', fail);
  // The worker keeps the process alive only while a lookup is pending (see findClientProcess).
  // unref() after the listeners: adding a 'message' listener refs the worker again, and a process
  // that once looked a client up must still be able to exit on its own (the CLI, tests).
  w.unref();
  worker = w;
  return w;
}

/** Starts the worker ahead of the first connection, so that lookup does not pay its start-up. */
export function warmUpClientLookup(): void {
  getWorker();
}

export function findClientProcess(client: ClientAddress, ownPid: number, procRoot = PROC): Promise<ClientProcess | null> {
  return new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    const req: LookupRequest = { id, client, ownPid, procRoot };
    try {
      const w = getWorker();
      // A pending lookup is work in progress: it keeps the process alive until it answers.
      w.ref();
      w.postMessage(req);
    } catch {
      pending.delete(id);
      resolve(null);
    }
  });
}

export async function findSocketInode(client: ClientAddress, procRoot = PROC): Promise<number | null> {
  return findSocketInodeSync(client, procRoot);
}

export async function readProcess(pid: number, procRoot = PROC): Promise<ClientProcess | null> {
  return readProcessSync(pid, procRoot);
}
