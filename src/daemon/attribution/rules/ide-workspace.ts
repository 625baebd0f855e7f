// Rule 4: the workspace folder of an IDE the client was started from. VS Code and its forks
// (Cursor, Windsurf, VSCodium) carry the folder on their command line as
// `--folder-uri <uri>` (or `--folder-uri=<uri>`); a terminal, task or extension host started from
// that window is a descendant. The worker reads the client's own command line and then up to
// MAX_ANCESTORS parents', the moment the client is found (parents can exit too).
//
// The project is the URI's last path segment, percent-decoded:
//   file:///home/u/My%20App                        -> "My App"  (slug my-app)
//   vscode-remote://ssh-remote%2Bbox/srv/api       -> "api"
//   vscode-remote://dev-container%2B7b22...7d/workspaces/shop -> "shop"
// The first --folder-uri found wins (the nearest process; the first one on a multi-root line).
import { readCmdlineSync, readPpidSync, PROC } from '../proc-scan.js';
import { slugFromName } from '../name-slug.js';
import type { Rule } from './rule.js';

export const MAX_ANCESTORS = 8;
const FLAG = '--folder-uri';

export interface IdeWorkspaceFact {
  /** The workspace folder's name, decoded. */
  name: string;
  uri: string;
  /** The process whose command line carried it. */
  pid: number;
}

/** The first --folder-uri value on a command line, or null. */
export function folderUriFromArgv(argv: readonly string[]): string | null {
  // Electron rewrites its helpers' cmdline into one space-joined string, so split on whitespace
  // too; a URI has no raw whitespace, so this cannot cut one.
  const tokens = argv.flatMap((a) => a.split(/\s+/)).filter((t) => t.length > 0);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === FLAG && i + 1 < tokens.length && !tokens[i + 1].startsWith('--')) return tokens[i + 1];
    if (t.startsWith(`${FLAG}=`) && t.length > FLAG.length + 1) return t.slice(FLAG.length + 1);
  }
  return null;
}

/** The folder name a workspace URI points at: its last non-empty path segment, decoded. */
export function workspaceNameFromUri(uri: string): string | null {
  const m = /^[a-z][a-z0-9+.-]*:(?:\/\/[^/?#]*)?([^?#]*)/i.exec(uri.trim());
  if (!m) return null;
  const last = m[1].split('/').filter((s) => s.length > 0).at(-1);
  if (!last) return null;
  let name: string;
  try {
    name = decodeURIComponent(last);
  } catch {
    name = last;
  }
  // A bare Windows drive (file:///c%3A/) names no folder.
  return /^[a-z]:$/i.test(name) || name.trim() === '' ? null : name;
}

/** Walks from `pid` up its parents (at most MAX_ANCESTORS of them) for an IDE workspace. */
export function findIdeWorkspaceSync(pid: number, procRoot = PROC, maxAncestors = MAX_ANCESTORS): IdeWorkspaceFact | null {
  const seen = new Set<number>();
  let cur: number | null = pid;
  for (let depth = 0; depth <= maxAncestors && cur !== null && cur > 0 && !seen.has(cur); depth++) {
    seen.add(cur);
    const argv = readCmdlineSync(cur, procRoot);
    const uri = argv ? folderUriFromArgv(argv) : null;
    const name = uri ? workspaceNameFromUri(uri) : null;
    if (uri && name) return { name, uri, pid: cur };
    cur = readPpidSync(cur, procRoot);
  }
  return null;
}

export const ideWorkspaceRule: Rule = {
  name: 'ide_workspace',
  slug: (input) => slugFromName(input.process?.context?.ideWorkspace?.name),
};
