// Load generation with undici: the same client code, the same TLS and the same keep-alive for both
// sides. "direct" connects to the fake provider at 127.0.0.1:<port> with SNI api.anthropic.com and
// trusts the test CA; "metered" goes through the edge with CONNECT api.anthropic.com:443 (the
// daemon terminates TLS with the meter's CA and forwards to the same fake).
import { Client, Pool, ProxyAgent, type Dispatcher } from 'undici';

export const HOST = 'api.anthropic.com';
export const MODEL = 'claude-sonnet-4-5';

/** A host the edge tunnels raw (resolved to the same fake): the cost of the edge hop alone. */
export const PASSTHROUGH_HOST = 'plain.example.test';

export type SideName = 'direct' | 'metered' | 'passthrough';

export interface Side<N extends SideName = SideName> {
  name: N;
  dispatcher: Dispatcher;
  origin: string;
  headers: Record<string, string>;
}

export interface Endpoints {
  fakePort: number;
  /** The fake provider's CA (PEM). */
  upstreamCa: string;
  edgePort: number;
  /** Meter CA + fake CA (PEM), what a metered client trusts. */
  clientBundle: string;
}

const BASE_HEADERS = {
  'content-type': 'application/json',
  'x-api-key': 'sk-ant-bench-not-a-secret',
  'anthropic-version': '2023-06-01',
};

/** `connections` keep-alive connections (1 = a single undici Client, pipelining off). */
export function makeSide<N extends SideName>(name: N, ep: Endpoints, connections: number): Side<N> {
  if (name === 'direct') {
    const origin = `https://127.0.0.1:${ep.fakePort}`;
    const connect = { ca: ep.upstreamCa, servername: HOST };
    const dispatcher = connections === 1 ? new Client(origin, { connect, pipelining: 1 }) : new Pool(origin, { connections, connect, pipelining: 1 });
    return { name, dispatcher, origin, headers: { host: HOST, ...BASE_HEADERS } };
  }
  const host = name === 'metered' ? HOST : PASSTHROUGH_HOST;
  const dispatcher = new ProxyAgent({
    uri: `http://127.0.0.1:${ep.edgePort}`,
    connections,
    pipelining: 1,
    requestTls: { ca: ep.clientBundle, servername: host },
  });
  return { name, dispatcher, origin: `https://${host}`, headers: { host, ...BASE_HEADERS } };
}

const JSON_BODY = JSON.stringify({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello.' }] });
const STREAM_BODY = JSON.stringify({ model: MODEL, max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'Say hello.' }] });

/** Successful metered calls to a metered path: each must become exactly one row. */
export const meteredCalls = { ok: 0, failed: 0 };

function count(side: Side, ok: boolean): void {
  if (side.name !== 'metered') return;
  if (ok) meteredCalls.ok++;
  else meteredCalls.failed++;
}

/** One non-streamed Messages call; wall time from send to the last body byte (ms), NaN on failure. */
export async function jsonCall(side: Side): Promise<number> {
  const t0 = performance.now();
  try {
    const res = await side.dispatcher.request({ origin: side.origin, path: '/v1/messages', method: 'POST', headers: side.headers, body: JSON_BODY });
    await res.body.arrayBuffer();
    const ok = res.statusCode === 200;
    count(side, ok);
    return ok ? performance.now() - t0 : Number.NaN;
  } catch {
    count(side, false);
    return Number.NaN;
  }
}

export interface StreamTiming {
  /** Send to first body byte (ms). */
  ttfb: number;
  /** Send to last body byte (ms). */
  total: number;
  bytes: number;
}

/**
 * One streamed Messages call. `events` > 0 asks the bench's fake for a long stream of that many
 * deltas (see fake-worker.ts); otherwise the helper's standard 8-event stream with `delayMs` gaps.
 */
export async function streamCall(side: Side, delayMs: number, events = 0): Promise<StreamTiming | null> {
  const headers: Record<string, string> = { ...side.headers, 'x-fake-delay-ms': String(delayMs) };
  if (events > 0) {
    headers['x-bench-events'] = String(events);
    headers['x-bench-delay-ms'] = String(delayMs);
  }
  const t0 = performance.now();
  try {
    const res = await side.dispatcher.request({ origin: side.origin, path: '/v1/messages', method: 'POST', headers, body: STREAM_BODY });
    let ttfb = Number.NaN;
    let bytes = 0;
    for await (const chunk of res.body) {
      if (bytes === 0) ttfb = performance.now() - t0;
      bytes += (chunk as Buffer).length;
    }
    const ok = res.statusCode === 200 && bytes > 0;
    count(side, ok);
    return ok ? { ttfb, total: performance.now() - t0, bytes } : null;
  } catch {
    count(side, false);
    return null;
  }
}

export interface ThroughputResult {
  ok: number;
  errors: number;
  seconds: number;
  perSecond: number;
}

/**
 * `workers` concurrent loops of non-streamed calls on `side` for `durationMs`. Bounded twice: by the
 * clock and by a hard cap on calls per worker.
 */
export async function throughput(side: Side, workers: number, durationMs: number): Promise<ThroughputResult> {
  const t0 = performance.now();
  const end = t0 + durationMs;
  const capPerWorker = Math.ceil((durationMs / 1000) * 20_000);
  let ok = 0;
  let errors = 0;
  const loop = async (): Promise<void> => {
    for (let i = 0; i < capPerWorker && performance.now() < end; i++) {
      const t = await jsonCall(side);
      if (Number.isNaN(t)) errors++;
      else ok++;
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
  const seconds = (performance.now() - t0) / 1000;
  return { ok, errors, seconds, perSecond: ok / seconds };
}

export async function closeSide(side: Side): Promise<void> {
  await side.dispatcher.close().catch(() => undefined);
}
