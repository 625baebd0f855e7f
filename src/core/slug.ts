// Project slugs (SPEC §4): lowercased, [a-z0-9._:/-], at most 64 characters. A bad one is refused so
// the attribution chain can fall through to the next rule.
const SLUG_RE = /^[a-z0-9._:/-]{1,64}$/;

export function normaliseSlug(raw: string | null | undefined): string | null {
  if (typeof raw !== 'string') return null;
  const s = raw.trim().toLowerCase();
  return SLUG_RE.test(s) ? s : null;
}
