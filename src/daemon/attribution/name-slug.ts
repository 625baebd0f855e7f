// Names the developer did not write as a slug (a directory, a git root, an IDE workspace folder)
// are turned into one by a fixed recipe before the slug check (core/slug.ts). The recipe is lossy on
// purpose — "My Project" should land in `my-project`, not fall through — but never truncates: two
// long names sharing their first 64 characters must not merge, so a name still too long afterwards
// falls through to the next rule. Explicit values (proxy user, HALTON_PROJECT, .haltonrc) are not
// put through this: a typo there should be visible, not silently repaired.
import { normaliseSlug } from '../../core/slug.js';

/**
 * 1. lower-case; 2. Unicode NFKD and drop combining marks ("Café" -> "cafe"); 3. each run of
 * whitespace -> "-"; 4. drop every character outside [a-z0-9._:-] ("/" included: a name is one path
 * segment); 5. collapse runs of "-", trim "-" at both ends; 6. empty or only dots -> null; then the
 * slug check (1-64 characters).
 */
export function slugFromName(name: string | null | undefined): string | null {
  if (typeof name !== 'string') return null;
  const s = name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/\s+/gu, '-')
    .replace(/[^a-z0-9._:-]/g, '')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
  if (/^\.*$/.test(s)) return null;
  return normaliseSlug(s);
}
