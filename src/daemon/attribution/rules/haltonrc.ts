// Rule 3: a `.haltonrc` file (TOML, `project = "slug"`) in the client's working directory or the
// nearest directory above it that has one. The search runs in the worker, synchronously, when the
// process is found.
//
// Which file counts: walking up from the working directory to /, the first `.haltonrc` that is a
// readable regular file of at most 64 KiB, parses as TOML and has a string `project` decides. Files
// that fail any of those are passed over (the search goes on upward): an unreadable file is someone
// else's, and a file without `project` may hold other settings. A `project` that is not a valid
// slug ends this rule without an answer (the chain falls through to rule 4); a .haltonrc further up
// is not consulted, because the nearer file was plainly meant to apply here.
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseToml } from '../../../config/toml.js';
import { normaliseSlug } from '../../../core/slug.js';
import type { DirCache } from '../dir-cache.js';
import type { Rule } from './rule.js';

export const HALTONRC = '.haltonrc';
const MAX_HALTONRC_BYTES = 64 * 1024;

export interface HaltonrcFact {
  /** The `project` value as written. */
  project: string;
  /** The file it came from. */
  file: string;
  /** `body_capture = "on"` (or `true`) in the same file: docs/body-capture.md. */
  bodyCapture?: boolean;
}

/** `body_capture` values that turn capture on; anything else (or nothing) leaves it off. */
export function bodyCaptureOn(v: unknown): boolean {
  if (v === true) return true;
  return typeof v === 'string' && ['on', 'true', 'yes', '1'].includes(v.trim().toLowerCase());
}

/** The `project` (and `body_capture`) of one .haltonrc, or null when it names no project. */
export function readHaltonrcFileSync(file: string): { project: string; bodyCapture: boolean } | null {
  try {
    const st = statSync(file);
    if (!st.isFile() || st.size > MAX_HALTONRC_BYTES) return null;
    const doc = parseToml(readFileSync(file, 'utf8'));
    return typeof doc.project === 'string' ? { project: doc.project, bodyCapture: bodyCaptureOn(doc.body_capture) } : null;
  } catch {
    return null; // missing, unreadable, or not TOML
  }
}

/** The `project` of one .haltonrc, or null when the file does not name one (see the header). */
export function readHaltonrcSync(file: string): string | null {
  return readHaltonrcFileSync(file)?.project ?? null;
}

/** Searches `dir` and its ancestors for the nearest .haltonrc naming a project. */
export function findHaltonrcSync(dir: string, cache?: DirCache<HaltonrcFact | null>): HaltonrcFact | null {
  if (!dir.startsWith('/')) return null;
  const search = (start: string): HaltonrcFact | null => {
    for (let d = start; ; d = dirname(d)) {
      const file = join(d, HALTONRC);
      const found = readHaltonrcFileSync(file);
      if (found !== null) return found.bodyCapture ? { project: found.project, file, bodyCapture: true } : { project: found.project, file };
      if (dirname(d) === d) return null;
    }
  };
  return cache ? cache.get(dir, search) : search(dir);
}

export const haltonrcRule: Rule = {
  name: 'haltonrc',
  slug: (input) => normaliseSlug(input.process?.context?.haltonrc?.project),
};
