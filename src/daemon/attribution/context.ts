// The facts rules 3-7 answer from, gathered in the worker thread, synchronously, as soon as the
// client process is found: it may exit a moment later, and so may its parents. The order is the
// order things disappear in: process-bound facts (parent command lines, cgroup) are read inside the
// /proc scan, right after the process's own comm/environ/cwd; directory facts (.haltonrc, git root)
// outlive the process and are read after the scan, through a short per-directory cache. The main
// thread receives only these facts and never touches the file system for attribution.
import { findGitRootSync, type GitRootFact } from './rules/git-root.js';
import { findHaltonrcSync, type HaltonrcFact } from './rules/haltonrc.js';
import { findIdeWorkspaceSync, type IdeWorkspaceFact } from './rules/ide-workspace.js';
import { readContainerSync, type ContainerFact } from './rules/container.js';
import { cwdFact, liveCwd, type CwdFact } from './rules/cwd.js';
import { DirCache } from './dir-cache.js';
import { PROC } from './proc-scan.js';

export interface ClientContext {
  haltonrc: HaltonrcFact | null;
  ideWorkspace: IdeWorkspaceFact | null;
  gitRoot: GitRootFact | null;
  container: ContainerFact | null;
  cwd: CwdFact | null;
}

export type ProcessFacts = Pick<ClientContext, 'ideWorkspace' | 'container'>;
export type DirectoryFacts = Pick<ClientContext, 'haltonrc' | 'gitRoot' | 'cwd'>;

export interface ContextCaches {
  haltonrc: DirCache<HaltonrcFact | null>;
  gitRoot: DirCache<GitRootFact | null>;
}

export function newContextCaches(): ContextCaches {
  return { haltonrc: new DirCache(), gitRoot: new DirCache() };
}

/** Facts that vanish with the process or its parents. */
export function readProcessFactsSync(pid: number, procRoot = PROC): ProcessFacts {
  return { ideWorkspace: findIdeWorkspaceSync(pid, procRoot), container: readContainerSync(pid, procRoot) };
}

/**
 * A client in the daemon's own container (`ownContainer`, its slug) is not attributed to that
 * container: see rules/container.ts.
 */
export function withoutOwnContainer(facts: ProcessFacts, ownContainer: string | null): ProcessFacts {
  return facts.container && facts.container.slug === ownContainer ? { ...facts, container: null } : facts;
}

/** Facts about the working directory; they outlive the process. */
export function readDirectoryFactsSync(cwd: string | null, caches?: ContextCaches): DirectoryFacts {
  const dir = liveCwd(cwd);
  if (!dir) return { haltonrc: null, gitRoot: null, cwd: null };
  return {
    haltonrc: findHaltonrcSync(dir, caches?.haltonrc),
    gitRoot: findGitRootSync(dir, caches?.gitRoot),
    cwd: cwdFact(dir),
  };
}
