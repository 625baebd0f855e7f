// Rule 7: the name of the client's working directory — the last guess that still says something
// about the work. / has no name and falls through to the default.
import { basename } from 'node:path';
import { slugFromName } from '../name-slug.js';
import type { Rule } from './rule.js';

export interface CwdFact {
  /** The directory's name as on disk. */
  name: string;
  dir: string;
}

/** /proc/PID/cwd of a directory removed since ends in " (deleted)": the path, without that. */
export function liveCwd(cwd: string | null): string | null {
  if (!cwd || !cwd.startsWith('/')) return null;
  return cwd.endsWith(' (deleted)') ? cwd.slice(0, -' (deleted)'.length) : cwd;
}

export function cwdFact(cwd: string | null): CwdFact | null {
  const dir = liveCwd(cwd);
  if (!dir) return null;
  const name = basename(dir);
  return name ? { name, dir } : null;
}

export const cwdRule: Rule = {
  name: 'cwd',
  slug: (input) => slugFromName(input.process?.context?.cwd?.name),
};
