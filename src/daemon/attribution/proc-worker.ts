// Worker thread for client-process lookups. Requests that arrive together share one /proc scan.
import { parentPort } from 'node:worker_threads';
import { findSocketInodeSync, scanOwnersSync, type ClientAddress, type ClientProcess } from './proc-scan.js';

export interface LookupRequest {
  id: number;
  client: ClientAddress;
  ownPid: number;
  procRoot: string;
}

export interface LookupReply {
  id: number;
  process: ClientProcess | null;
}

const queue: LookupRequest[] = [];
let scheduled = false;

function drain(): void {
  scheduled = false;
  const batch = queue.splice(0, queue.length);
  const byRoot = new Map<string, LookupRequest[]>();
  for (const r of batch) byRoot.set(r.procRoot, [...(byRoot.get(r.procRoot) ?? []), r]);
  for (const [root, reqs] of byRoot) {
    const inodes = new Map<number, number | null>();
    for (const r of reqs) inodes.set(r.id, findSocketInodeSync(r.client, root));
    const wanted = new Set([...inodes.values()].filter((i): i is number => i !== null));
    const owners = wanted.size ? scanOwnersSync(wanted, root) : new Map<number, ClientProcess>();
    for (const r of reqs) {
      const inode = inodes.get(r.id);
      const proc = inode == null ? null : (owners.get(inode) ?? null);
      const reply: LookupReply = { id: r.id, process: proc && proc.pid !== r.ownPid ? proc : null };
      parentPort?.postMessage(reply);
    }
  }
}

parentPort?.on('message', (msg: LookupRequest) => {
  queue.push(msg);
  if (!scheduled) {
    scheduled = true;
    setImmediate(drain);
  }
});
