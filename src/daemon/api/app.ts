// The daemon's loopback HTTP API (SPEC §8). createApp(deps) returns a request handler; routes are a
// table. This part serves /health and /v1/daemon/status; reports and the dashboard build on it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isLoopbackHost } from './host-check.js';

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

export interface ApiDeps {
  version: string;
  startedAt: string;
  interceptHosts: readonly string[];
  health: () => HealthInfo;
  status: () => DaemonStatus;
}

type Handler = (req: IncomingMessage, url: URL) => { status: number; body: unknown };

export function createApp(deps: ApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const routes: Array<{ method: string; path: string; handler: Handler }> = [
    {
      method: 'GET',
      path: '/health',
      handler: () => {
        const h = deps.health();
        return {
          status: h.ok ? 200 : 503,
          body: {
            status: h.ok ? 'ok' : 'unhealthy',
            version: deps.version,
            started_at: deps.startedAt,
            intercept_hosts: deps.interceptHosts,
            ...(h.ok ? {} : { reason: h.reason }),
          },
        };
      },
    },
    { method: 'GET', path: '/v1/daemon/status', handler: () => ({ status: 200, body: deps.status() }) },
  ];

  return (req, res) => {
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
      res.end(text);
    };
    if (!isLoopbackHost(req.headers.host)) {
      send(403, { error: { code: 'forbidden', message: 'Host header must name a loopback address' } });
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://127.0.0.1');
    } catch {
      send(400, { error: { code: 'bad_request', message: 'bad request target' } });
      return;
    }
    const route = routes.find((r) => r.path === url.pathname);
    if (!route) {
      send(404, { error: { code: 'not_found', message: `no route ${url.pathname}` } });
      return;
    }
    if (req.method !== route.method && !(req.method === 'HEAD' && route.method === 'GET')) {
      send(405, { error: { code: 'method_not_allowed', message: `${req.method} not allowed on ${url.pathname}` } });
      return;
    }
    try {
      const out = route.handler(req, url);
      send(out.status, out.body);
    } catch (err) {
      send(500, { error: { code: 'internal', message: err instanceof Error ? err.message : String(err) } });
    }
  };
}
