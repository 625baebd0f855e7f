// Loads the recorded wire fixtures (../shared/fixtures/wire, see its README) as the `Exchange` the
// daemon would hand an adapter: request.json gives host/path/method/body, response.txt the decoded
// body (split into SSE events by our own splitter, fed in awkward chunks), meta.json status/headers.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Exchange, SseEvent } from '../../src/core/exchange.js';
import type { AdapterId } from '../../src/adapters/index.js';
import { SseSplitter } from '../../src/adapters/sse.js';
import { isRecord } from '../../src/adapters/json-util.js';

export interface FixtureMeta {
  provider: string;
  api: string;
  stream: boolean;
  status: number;
  model: string | null;
  model_source: string;
  usage: unknown;
  content_encoding: string | null;
  response_headers?: Record<string, string>;
  stream_framing?: string;
  notes?: string;
}

export interface WireFixture {
  /** `<provider>/<short-name>` */
  id: string;
  dir: string;
  meta: FixtureMeta;
  request: Record<string, unknown>;
  responseBytes: Buffer;
  /** Path of response.body.gz when the provider sent gzip. */
  gzipPath: string | null;
}

/** The directory holding package.json, walking up from this (compiled) file. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above the test file');
    dir = up;
  }
}

let shared: string | null = null;

/**
 * `../shared` beside the checkout (HALTON_SHARED_DIR overrides). A clone made somewhere else
 * (`git clone . /tmp/x`, as CI does) has no `../shared`: it finds the one beside the repository it
 * was cloned from, when that is a local directory.
 */
export function sharedDir(): string {
  if (process.env.HALTON_SHARED_DIR) return process.env.HALTON_SHARED_DIR;
  if (shared !== null) return shared;
  const beside = join(repoRoot(), '..', 'shared');
  shared = beside;
  if (!existsSync(beside)) {
    const r = spawnSync('git', ['-C', repoRoot(), 'config', '--get', 'remote.origin.url'], { encoding: 'utf8' });
    const origin = (r.stdout ?? '').trim().replace(/^file:\/\//, '');
    if (origin !== '' && isAbsolute(origin) && existsSync(join(origin, '..', 'shared'))) shared = join(origin, '..', 'shared');
  }
  return shared;
}

export function wireFixturesRoot(): string {
  return join(sharedDir(), 'fixtures', 'wire');
}

/** Every fixture id (`provider/name`), sorted. */
export function listFixtures(root = wireFixturesRoot()): string[] {
  const ids: string[] = [];
  for (const provider of readdirSync(root).sort()) {
    const pdir = join(root, provider);
    if (!statSync(pdir).isDirectory()) continue;
    for (const name of readdirSync(pdir).sort()) {
      if (existsSync(join(pdir, name, 'meta.json'))) ids.push(`${provider}/${name}`);
    }
  }
  return ids;
}

export function loadFixture(id: string, root = wireFixturesRoot()): WireFixture {
  const dir = join(root, id);
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as FixtureMeta;
  const request: unknown = JSON.parse(readFileSync(join(dir, 'request.json'), 'utf8'));
  const gz = join(dir, 'response.body.gz');
  return {
    id,
    dir,
    meta,
    request: isRecord(request) ? request : {},
    responseBytes: readFileSync(join(dir, 'response.txt')),
    gzipPath: existsSync(gz) ? gz : null,
  };
}

// Where a fixture did not record its request (vercel/ai chunk files, the Anthropic-compatible
// capture), the endpoint its API implies.
const DEFAULT_TARGET: Record<string, { host: string; path: string }> = {
  'anthropic-messages': { host: 'api.anthropic.com', path: '/v1/messages' },
  'anthropic-count-tokens': { host: 'api.anthropic.com', path: '/v1/messages/count_tokens' },
  'openai-chat': { host: 'api.openai.com', path: '/v1/chat/completions' },
  'openai-completions': { host: 'api.openai.com', path: '/v1/completions' },
  'openai-responses': { host: 'api.openai.com', path: '/v1/responses' },
  'openai-embeddings': { host: 'api.openai.com', path: '/v1/embeddings' },
};

function target(fx: WireFixture): { host: string; path: string } {
  const r = fx.request;
  if (typeof r.host === 'string' && typeof r.path === 'string') {
    const q = typeof r.query === 'string' && r.query.length > 0 ? `?${r.query}` : '';
    return { host: r.host, path: r.path + q };
  }
  if (typeof r.url === 'string') {
    try {
      const u = new URL(r.url);
      return { host: u.host, path: u.pathname + u.search };
    } catch {
      // templated URLs like https://{resource}.openai.azure.com: fall through to the default
    }
  }
  return DEFAULT_TARGET[fx.meta.api] ?? { host: 'unknown.invalid', path: '/' };
}

export interface ExchangeOptions {
  /** Feed the SSE splitter this many bytes at a time (default 977: splits UTF-8 and CRLF pairs). */
  chunkSize?: number;
}

export function isSseFixture(fx: WireFixture): boolean {
  return fx.meta.stream && fx.meta.stream_framing !== 'json-array';
}

export function fixtureExchange(fx: WireFixture, opts: ExchangeOptions = {}): Exchange {
  const { host, path } = target(fx);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(fx.meta.response_headers ?? {})) headers[k.toLowerCase()] = v;
  let events: SseEvent[] | null = null;
  let bodyText: string | null = null;
  if (isSseFixture(fx)) {
    const splitter = new SseSplitter(Number.POSITIVE_INFINITY);
    const size = opts.chunkSize ?? 977;
    for (let i = 0; i < fx.responseBytes.length; i += size) splitter.feed(fx.responseBytes.subarray(i, i + size));
    splitter.end();
    events = splitter.events;
  } else {
    bodyText = fx.responseBytes.toString('utf8');
  }
  return {
    host,
    method: typeof fx.request.method === 'string' ? fx.request.method : 'POST',
    path,
    requestJson: fx.request.body ?? null,
    response: { status: fx.meta.status, headers, bodyText, events, truncated: false, outcome: 'completed' },
  };
}

/** The adapter a fixture's shape calls for, from its meta alone (provider and api). */
export function fixtureAdapter(meta: FixtureMeta): AdapterId | null {
  const { provider, api } = meta;
  switch (api) {
    case 'anthropic-messages':
      return provider === 'xai' ? 'xai-messages' : 'anthropic';
    case 'anthropic-count-tokens':
      return 'anthropic';
    case 'anthropic-batch-results':
      return 'anthropic-batch-results';
    case 'openai-chat':
      // Compatible servers speak the chat shape; xAI counts reasoning outside completion_tokens.
      return provider === 'xai' ? 'xai-chat' : 'openai-chat';
    case 'openai-completions':
      return 'openai-completions';
    case 'openai-responses':
      if (provider === 'xai') return 'xai-responses';
      return provider === 'codex' ? 'codex' : 'openai-responses';
    case 'openai-embeddings':
      return 'openai-embeddings';
    case 'gemini-generate':
    case 'gemini-embed':
    case 'gemini-count-tokens':
      // Vertex captures share the Gemini API's body shape.
      return provider === 'gemini-code-assist' ? 'gemini-code-assist' : 'gemini';
    default:
      return null;
  }
}
