// Header surgery between client and upstream: hop-by-hop headers stay on their hop, our own
// X-Halton-Client never leaves the machine, and Accept-Encoding only offers what the meter can decode.

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'x-halton-client',
]);

const DECODABLE = new Set(['gzip', 'x-gzip', 'deflate', 'br', 'identity']);

/** Raw header pairs [name, value, name, value, ...] minus hop-by-hop ones (and those Connection names). */
export function forwardableRawHeaders(raw: readonly string[], opts: { meteredAcceptEncoding: boolean }): Array<[string, string]> {
  const named = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].toLowerCase() === 'connection') for (const t of raw[i + 1].split(',')) named.add(t.trim().toLowerCase());
  }
  const out: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    if (lower === 'accept-encoding' && opts.meteredAcceptEncoding) {
      const v = filterAcceptEncoding(raw[i + 1]);
      if (v) out.push([raw[i], v]);
      continue;
    }
    out.push([raw[i], raw[i + 1]]);
  }
  return out;
}

/**
 * Drops codings Node cannot decode (zstd, compress, ...) so the upstream never picks them. When
 * nothing decodable is left the answer is `identity`: an absent header would mean "anything".
 */
export function filterAcceptEncoding(value: string): string {
  const kept = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s && DECODABLE.has(s.split(';')[0].trim().toLowerCase()))
    .join(', ');
  return kept || 'identity';
}

/** Flattens pairs for writeHead / request headers (Node accepts the raw array form). */
export function flatten(pairs: Array<[string, string]>): string[] {
  const out: string[] = [];
  for (const [k, v] of pairs) out.push(k, v);
  return out;
}

export function headerMap(raw: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    out[k] = out[k] === undefined ? raw[i + 1] : `${out[k]}, ${raw[i + 1]}`;
  }
  return out;
}
