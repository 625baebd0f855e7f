// The daemon's loopback HTTP API (SPEC §8, ../shared/docs/api.md) and the dashboard's files.
// createApp(deps) returns a request handler; routes are a table. Data routes ask the query thread
// (deps.query), so nothing here touches SQLite. No auth: the API is loopback only, refuses Host
// headers that are not loopback names (DNS rebinding) and any Origin not configured in
// [cors] allow_origins (or its own).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { REQUEST_CSV_COLUMNS, type RequestItemJson } from '../../core/api-shapes.js';
import { csvLine } from '../../core/csv.js';
import { errorMessage, HTTP_STATUS, isMeterError, MeterError } from '../../core/errors.js';
import { isLoopbackHost } from './host-check.js';
import type { QueryRunner } from './query-client.js';

export interface HealthInfo {
  ok: boolean;
  reason: string | null;
}

export interface DaemonStatus {
  last_seen_at: string | null;
  request_count_last_hour: number;
  uptime_s: number;
  version: string;
  rows_written: number;
  rows_failed: number;
  passthrough_connections: number;
  intercepted_connections: number;
  [extra: string]: unknown;
}

/** A static file (the dashboard's), or null when the path is not one. */
export type StaticFiles = (pathname: string) => { status: number; headers: Record<string, string>; body: Buffer } | null;

export interface ApiDeps {
  version: string;
  startedAt: string;
  interceptHosts: readonly string[];
  health: () => HealthInfo;
  status: () => DaemonStatus;
  /** Runs the data queries (query-worker.ts); without it the data routes answer 503. */
  query?: QueryRunner;
  /** Origins allowed to read the API from a browser, besides the API's own. */
  corsOrigins?: readonly string[];
  dashboard?: StaticFiles;
}

type Reply =
  | { status: number; json: unknown }
  | { status: number; csv: AsyncIterable<string>; filename: string };

interface Ctx {
  url: URL;
  params: string[];
}

type Handler = (ctx: Ctx) => Reply | Promise<Reply>;

const ok = (json: unknown): Reply => ({ status: 200, json });
const q = (url: URL, name: string): string | null => url.searchParams.get(name);

// Slugs may hold "/" (org/repo): the project routes match the suffix on the raw path and decode the
// slug after, so "%2F" and a bare "/" both work.
function projectPath(suffix: string): RegExp {
  return new RegExp(`^/v1/projects/(.+?)${suffix.replace('.', '\\.')}$`);
}

type CsvPage = { items: RequestItemJson[]; next_cursor: string | null };
const CSV_PAGE = '500';

/** Every page of a request listing as CSV lines (header first), from the first page on. */
async function* csvPages(query: QueryRunner, project: string | null, provider: string | null, first: CsvPage): AsyncGenerator<string> {
  yield `${REQUEST_CSV_COLUMNS.join(',')}\n`;
  let page = first;
  for (;;) {
    yield page.items.map((it) => `${csvLine(REQUEST_CSV_COLUMNS.map((c) => it[c]))}\n`).join('');
    if (page.next_cursor === null) return;
    page = await query.run('requests', { project, provider, limit: CSV_PAGE, cursor: page.next_cursor });
  }
}

export function createApp(deps: ApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const data = (): QueryRunner => {
    if (!deps.query) throw new MeterError('unavailable', 'the data routes are not available in this process');
    return deps.query;
  };
  const health: Handler = () => {
    const h = deps.health();
    return {
      status: h.ok ? 200 : 503,
      json: {
        status: h.ok ? 'ok' : 'unhealthy',
        version: deps.version,
        started_at: deps.startedAt,
        intercept_hosts: deps.interceptHosts,
        ...(h.ok ? {} : { reason: h.reason }),
      },
    };
  };
  const projectList: Handler = async () => ok(await data().run('projects', undefined));
  const pricing: Handler = async () => ok(await data().run('pricing', undefined));
  const requestList = (project: string | null, url: URL): Promise<Reply> =>
    data()
      .run('requests', { project, provider: q(url, 'provider'), limit: q(url, 'limit'), cursor: q(url, 'cursor') })
      .then(ok);
  const stats = (project: string | null, url: URL): Promise<Reply> =>
    data()
      .run('stats', { since: q(url, 'since'), until: q(url, 'until'), project })
      .then(ok);

  const routes: Array<{ path: string | RegExp; handler: Handler }> = [
    { path: '/health', handler: health },
    { path: '/v1/daemon/status', handler: () => ok(deps.status()) },
    { path: '/v1/stats', handler: ({ url }) => stats(q(url, 'project'), url) },
    { path: '/v1/projects', handler: projectList },
    { path: '/api/projects', handler: projectList },
    { path: '/v1/pricing', handler: pricing },
    { path: '/api/pricing', handler: pricing },
    { path: '/api/calls', handler: ({ url }) => requestList(q(url, 'project'), url) },
    { path: projectPath('/stats'), handler: ({ url, params }) => stats(params[0], url) },
    {
      path: projectPath('/requests.csv'),
      handler: async ({ url, params }) => {
        const slug = params[0];
        const provider = q(url, 'provider');
        // The first page is read before the headers go, so an unknown project or a bad provider is a
        // 404/400, not a cut-off file.
        const first = await data().run('requests', { project: slug, provider, limit: CSV_PAGE, cursor: null });
        return { status: 200, csv: csvPages(data(), slug, provider, first), filename: `${slug.replace(/[^a-z0-9._-]+/g, '_')}-requests.csv` };
      },
    },
    { path: projectPath('/requests'), handler: ({ url, params }) => requestList(params[0], url) },
    { path: projectPath(''), handler: async ({ params }) => ok(await data().run('project', { slug: params[0] })) },
    { path: /^\/v1\/requests\/([^/]+)$/, handler: async ({ params }) => ok(await data().run('request', { id: params[0] })) },
  ];

  const match = (pathname: string): { handler: Handler; params: string[] } | null => {
    for (const r of routes) {
      if (typeof r.path === 'string') {
        if (r.path === pathname) return { handler: r.handler, params: [] };
        continue;
      }
      const m = r.path.exec(pathname);
      if (m) return { handler: r.handler, params: m.slice(1).map((p) => decodeURIComponent(p)) };
    }
    return null;
  };

  return (req, res) => {
    const base: Record<string, string> = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
    const sendJson = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { ...base, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    const fail = (status: number, code: string, message: string): void => sendJson(status, { error: { code, message } });

    if (!isLoopbackHost(req.headers.host)) return fail(403, 'forbidden', 'Host header must name a loopback address');
    const origin = req.headers.origin;
    if (origin !== undefined) {
      const own = `http://${req.headers.host}`;
      if (origin !== own && !(deps.corsOrigins ?? []).includes(origin)) {
        return fail(403, 'forbidden', `origin ${origin} is not allowed; add it to [cors] allow_origins in config.toml`);
      }
      base['access-control-allow-origin'] = origin;
      base.vary = 'Origin';
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...base, 'access-control-allow-methods': 'GET, HEAD, OPTIONS', 'access-control-allow-headers': 'content-type', 'access-control-max-age': '600' });
      res.end();
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://127.0.0.1');
    } catch {
      return fail(400, 'bad_request', 'bad request target');
    }
    const pathname = url.pathname;
    let found: { handler: Handler; params: string[] } | null;
    try {
      found = match(pathname);
    } catch {
      return fail(400, 'bad_request', 'bad escape in path');
    }
    if (!found) {
      const isApi = pathname.startsWith('/v1/') || pathname.startsWith('/api/');
      const file = !isApi && (req.method === 'GET' || req.method === 'HEAD') ? (deps.dashboard?.(pathname) ?? null) : null;
      if (file) {
        res.writeHead(file.status, { ...base, ...file.headers, 'content-length': String(file.body.length) });
        res.end(req.method === 'HEAD' ? undefined : file.body);
        return;
      }
      return fail(404, 'not_found', `no route ${pathname}`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405, 'method_not_allowed', `${req.method} not allowed on ${pathname}`);

    Promise.resolve()
      .then(() => found.handler({ url, params: found.params }))
      .then(
        (reply) => {
          if ('json' in reply) return sendJson(reply.status, reply.json);
          return streamCsv(req, res, base, reply);
        },
        (err: unknown) => {
          if (isMeterError(err)) fail(HTTP_STATUS[err.code], err.code, err.hint ? `${err.message} (${err.hint})` : err.message);
          else fail(500, 'internal', errorMessage(err));
        },
      )
      .catch(() => res.destroy());
  };
}

async function streamCsv(req: IncomingMessage, res: ServerResponse, base: Record<string, string>, reply: Extract<Reply, { csv: unknown }>): Promise<void> {
  res.writeHead(reply.status, { ...base, 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${reply.filename}"` });
  if (req.method === 'HEAD') return void res.end();
  try {
    for await (const chunk of reply.csv) {
      if (res.destroyed) return;
      // Back-pressure: a slow reader pauses the paging instead of piling pages up in memory.
      if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', resolve).once('close', resolve));
    }
    res.end();
  } catch {
    // Headers are gone: a cut-off body is the only honest signal left.
    res.destroy();
  }
}
