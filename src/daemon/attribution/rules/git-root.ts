// Rule 5: the name of the git repository the client runs in — the directory holding `.git`, found
// by walking up from the working directory to /. That is `git rev-parse --show-toplevel`'s answer:
// a linked worktree or a submodule (where `.git` is a file) is named for its own directory. Only a
// real `.git` counts: a directory with a HEAD, or a file starting `gitdir:`.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { DirCache } from '../dir-cache.js';
import { slugFromName } from '../name-slug.js';
import type { Rule } from './rule.js';

export interface GitRootFact {
  /** The repository root's directory name, as on disk. */
  name: string;
  dir: string;
}

export function isGitMarkerSync(path: string): boolean {
  try {
    const st = statSync(path);
    if (st.isDirectory()) return statSync(join(path, 'HEAD')).isFile();
    if (!st.isFile()) return false;
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(7);
      return readSync(fd, buf, 0, 7, 0) === 7 && buf.toString('latin1') === 'gitdir:';
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

export function findGitRootSync(dir: string, cache?: DirCache<GitRootFact | null>): GitRootFact | null {
  if (!dir.startsWith('/')) return null;
  const search = (start: string): GitRootFact | null => {
    for (let d = start; ; d = dirname(d)) {
      if (isGitMarkerSync(join(d, '.git'))) return { name: basename(d), dir: d };
      if (dirname(d) === d) return null;
    }
  };
  return cache ? cache.get(dir, search) : search(dir);
}

export const gitRootRule: Rule = {
  name: 'git_root',
  slug: (input) => slugFromName(input.process?.context?.gitRoot?.name),
};
