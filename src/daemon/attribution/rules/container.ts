// Rule 6: the container the client runs in, from /proc/PID/cgroup (read in the worker when the
// process is found). Forms recognised, cgroup v1 (`N:controller:/path`) and v2 (`0::/path`) alike:
//   k8s     .../kubepods/<qos>/pod<uid>/...                    (cgroupfs driver)
//           .../kubepods-<qos>-pod<uid with _>.slice/...       (systemd driver)   -> k8s:<pod uid>
//   docker  .../docker/<64 hex>  or  .../docker-<64 hex>.scope                  -> docker:<first 12>
//   podman  .../libpod-<64 hex>.scope                                           -> podman:<first 12>
// A pod wins over the container runtime under it (a pod's containers share the project). Docker in
// docker shows several ids: the innermost (last) one is the client's. The pod uid, not its name:
// the name is not in the cgroup, and a Deployment's pod names change on every roll-out anyway.
//
// A client in the daemon's own container is not attributed to it: when the meter itself runs in a
// container (a dev container), every client would otherwise share that one name and the working
// directory (rule 7) would never get a say.
import { readFileSync } from 'node:fs';
import { normaliseSlug } from '../../../core/slug.js';
import { PROC } from '../proc-scan.js';
import type { Rule } from './rule.js';

export interface ContainerFact {
  /** docker:<id12>, k8s:<pod uid> or podman:<id12>. */
  slug: string;
  /** The cgroup path it was read from. */
  cgroupPath: string;
}

const UUID = '[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}';
const K8S_POD = new RegExp(`(?:^|[/-])pod(${UUID}|[0-9a-f]{32})(?:\\.slice)?(?=/|$)`, 'i');
const DOCKER = /(?:^|\/)docker[-/]([0-9a-f]{64})(?:\.scope)?(?=\/|$)/gi;
const PODMAN = /(?:^|\/)libpod-([0-9a-f]{64})(?:\.scope)?(?=\/|$)/gi;

function cgroupPaths(text: string): string[] {
  const paths: string[] = [];
  for (const line of text.split('\n')) {
    // hierarchy-id:controllers:path — the path itself may contain ':'.
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second >= 0) paths.push(line.slice(second + 1).trim());
  }
  return paths;
}

function lastMatch(re: RegExp, path: string): string | null {
  let id: string | null = null;
  for (const m of path.matchAll(re)) id = m[1];
  return id;
}

/** The container a /proc/PID/cgroup text places its process in, or null (a host process). */
export function containerFromCgroup(text: string): ContainerFact | null {
  const paths = cgroupPaths(text);
  for (const path of paths) {
    if (!/kubepods/i.test(path)) continue;
    const m = K8S_POD.exec(path);
    if (m) return { slug: `k8s:${m[1].toLowerCase().replaceAll('_', '-')}`, cgroupPath: path };
  }
  for (const [prefix, re] of [['docker', DOCKER], ['podman', PODMAN]] as const) {
    for (const path of paths) {
      const id = lastMatch(re, path);
      if (id) return { slug: `${prefix}:${id.slice(0, 12).toLowerCase()}`, cgroupPath: path };
    }
  }
  return null;
}

export function readContainerSync(pid: number, procRoot = PROC): ContainerFact | null {
  try {
    return containerFromCgroup(readFileSync(`${procRoot}/${pid}/cgroup`, 'utf8'));
  } catch {
    return null;
  }
}

export const containerRule: Rule = {
  name: 'container',
  slug: (input) => normaliseSlug(input.process?.context?.container?.slug),
};
