// Worker thread for client-process lookups. Requests that arrive together share one /proc scan.
// Each process found is read on the spot (comm, environ, cwd, parent command lines, cgroup); the
// directory facts (.haltonrc, git root) follow once the scan is done. See context.ts.
import { parentPort } from 'node:worker_threads';
import { newContextCaches, readDirectoryFactsSync, readProcessFactsSync, withoutOwnContainer, type DirectoryFacts, type ProcessFacts } from './context.js';
import { readContainerSync } from './rules/container.js';
import { findSocketInodesSync, readProcessSync, scanOwnersSync, type ClientAddress, type ClientProcess } from './proc-scan.js';

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
// Per-directory answers for the upward searches, shared by every lookup (short TTL: dir-cache.ts).
const caches = newContextCaches();
// The daemon's own container never changes while it runs: read once per (procRoot, pid).
const ownContainers = new Map<string, string | null>();

function ownContainer(procRoot: string, ownPid: number): string | null {
  const key = `${procRoot}\0${ownPid}`;
  let slug = ownContainers.get(key);
  if (slug === undefined) {
    slug = readContainerSync(ownPid, procRoot)?.slug ?? null;
    ownContainers.set(key, slug);
  }
  return slug;
}

function lookUp(reqs: LookupRequest[], root: string): void {
  const inodes = new Map<number, number | null>();
  const found = findSocketInodesSync(reqs.map((r) => r.client), root);
  reqs.forEach((r, i) => inodes.set(r.id, found[i]));
  const wanted = new Set([...inodes.values()].filter((i): i is number => i !== null));
  if (wanted.size === 0) {
    for (const r of reqs) reply({ id: r.id, process: null });
    return;
  }
  const processFacts = new Map<number, ProcessFacts>();
  const owners = scanOwnersSync(wanted, root, (pid) => {
    const proc = readProcessSync(pid, root);
    if (proc) processFacts.set(pid, readProcessFactsSync(pid, root));
    return proc;
  });
  const directoryFacts = new Map<number, DirectoryFacts>();
  for (const r of reqs) {
    const inode = inodes.get(r.id);
    const proc = inode == null ? null : (owners.get(inode) ?? null);
    if (!proc || proc.pid === r.ownPid) {
      reply({ id: r.id, process: null });
      continue;
    }
    let dirFacts = directoryFacts.get(proc.pid);
    if (!dirFacts) {
      dirFacts = readDirectoryFactsSync(proc.cwd, caches);
      directoryFacts.set(proc.pid, dirFacts);
    }
    const facts = withoutOwnContainer(processFacts.get(proc.pid) ?? { ideWorkspace: null, container: null }, ownContainer(root, r.ownPid));
    reply({ id: r.id, process: { ...proc, context: { ...facts, ...dirFacts } } });
  }
}

function reply(r: LookupReply): void {
  parentPort?.postMessage(r);
}

function drain(): void {
  scheduled = false;
  const batch = queue.splice(0, queue.length);
  const byRoot = new Map<string, LookupRequest[]>();
  for (const r of batch) byRoot.set(r.procRoot, [...(byRoot.get(r.procRoot) ?? []), r]);
  for (const [root, reqs] of byRoot) lookUp(reqs, root);
}

parentPort?.on('message', (msg: LookupRequest) => {
  queue.push(msg);
  if (!scheduled) {
    scheduled = true;
    setImmediate(drain);
  }
});
