// What of a request path may be stored. Query strings can carry credentials (Gemini's `?key=`), so
// only parameters known to be harmless and useful are kept.
const KEPT_QUERY_PARAMS = new Set(['alt', 'beta', 'api-version']);

export function storablePath(path: string): string {
  const q = path.indexOf('?');
  if (q < 0) return path;
  const params = new URLSearchParams(path.slice(q + 1));
  const kept: string[] = [];
  for (const [k, v] of params) if (KEPT_QUERY_PARAMS.has(k)) kept.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  return kept.length ? `${path.slice(0, q)}?${kept.join('&')}` : path.slice(0, q);
}
