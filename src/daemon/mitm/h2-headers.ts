// Header translation between an HTTP/2 client and the HTTP/1.1 upstream (RFC 9113 §8.2-8.3).
// The connection-specific headers h2 forbids are hop-by-hop in HTTP/1.1, so forwardableRawHeaders
// (headers.ts) already drops them; what is left here is what only h2 has: pseudo-headers, split
// cookies, and response headers as an object (Node's h2 response takes no flat array).
import type { OutgoingHttpHeaders } from 'node:http';

/**
 * An h2 request's raw header pairs as HTTP/1.1 would carry them: pseudo-headers dropped (the
 * method and path travel in the request line), `:authority` as `Host` when the client sent no
 * Host of its own, and the cookie crumbs h2 allows joined back into one `Cookie` header.
 */
export function h1RequestRawHeaders(raw: readonly string[]): string[] {
  let authority: string | null = null;
  let hasHost = false;
  const cookies: string[] = [];
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const lower = name.toLowerCase();
    if (lower === ':authority') authority = raw[i + 1];
    if (name.startsWith(':')) continue;
    if (lower === 'host') hasHost = true;
    if (lower === 'cookie') {
      cookies.push(raw[i + 1]);
      continue;
    }
    out.push(name, raw[i + 1]);
  }
  if (cookies.length) out.push('cookie', cookies.join('; '));
  if (!hasHost && authority !== null) out.unshift('Host', authority);
  return out;
}

/** Headers h2 refuses in a response even though HTTP/1.1 allows them end to end. */
const H2_FORBIDDEN = new Set(['http2-settings']);

/**
 * HTTP/1.1 response header pairs (hop-by-hop ones already dropped) as an h2 response header
 * object: names lowercased, repeated names (set-cookie, ...) kept as arrays.
 */
export function h2ResponseHeaders(pairs: ReadonlyArray<readonly [string, string]>): OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of pairs) {
    const lower = name.toLowerCase();
    if (H2_FORBIDDEN.has(lower) || lower.startsWith(':')) continue;
    const prev = out[lower];
    if (prev === undefined) out[lower] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[lower] = [prev, value];
  }
  return out;
}
