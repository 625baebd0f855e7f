// The edge: what apps connect to (HTTPS_PROXY). It moves bytes and decides chain-or-passthrough,
// nothing else (STYLE §1). CONNECT to a host the daemon decrypts goes to the daemon while it is
// healthy; every other CONNECT, and every CONNECT while the daemon is down, is a raw tunnel straight
// to the upstream. Plain absolute-form HTTP is forwarded as is (no LLM provider speaks plain HTTP),
// except the self-test host, which only the daemon answers.
import { createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { dialUpstream, parseHostPort, routeTarget, type UpstreamRoute } from '../core/dial.js';
import type { Logger } from '../core/log.js';
import { SELFTEST_HOST } from '../core/providers.js';
import { chainConnect, CLIENT_HEADER, formatAddress } from './chain.js';
import { DaemonHealth, type DaemonPorts } from './health.js';
import { splice } from '../core/splice.js';

export interface EdgeDeps {
  upstream: UpstreamRoute;
  daemonPorts: () => DaemonPorts;
  log: Logger;
  version: string;
  now?: () => number;
}

export interface EdgeStats {
  chained: number;
  passthrough: number;
  fallbacks: number;
  httpForwarded: number;
  errors: number;
}

export interface Edge {
  server: Server;
  health: DaemonHealth;
  stats: EdgeStats;
}

const ESTABLISHED = 'HTTP/1.1 200 Connection established\r\n\r\n';
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
  CLIENT_HEADER,
]);

/** Headers a Connection header names are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionNamed(value: string | string[] | undefined): Set<string> {
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(
    text
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

export function createEdge(deps: EdgeDeps): Edge {
  const health = new DaemonHealth(deps.daemonPorts, deps.now);
  const stats: EdgeStats = { chained: 0, passthrough: 0, fallbacks: 0, httpForwarded: 0, errors: 0 };
  const startedAt = new Date().toISOString();
  const server = createServer({ keepAlive: true, headersTimeout: 30_000, requestTimeout: 0 });

  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    const target = parseHostPort(req.url ?? '', 443);
    if (!target) {
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nhalton-meter edge: CONNECT needs host:port\n');
      return;
    }
    const known = health.cached() ?? health.last();
    if (!known.interceptHosts.has(target.host)) {
      passthrough(socket, head, target, 'not metered');
      return;
    }
    void health.check().then(async (state) => {
      if (!state.healthy || !state.interceptHosts.has(target.host)) {
        passthrough(socket, head, target, state.healthy ? 'not metered' : 'daemon down');
        return;
      }
      const res = await chainConnect(req, socket, state.ports.internal);
      if (!res.ok) {
        if (res.refused) health.markDown(res.reason);
        stats.fallbacks++;
        deps.log.warn('edge.fallback', { host: target.host, reason: res.reason });
        passthrough(socket, head, target, 'daemon refused');
        return;
      }
      if (socket.destroyed) {
        res.daemon.destroy();
        return;
      }
      stats.chained++;
      deps.log.debug('edge.chain', { host: target.host });
      socket.write(ESTABLISHED);
      if (res.leftover.length) socket.write(res.leftover);
      if (head.length) res.daemon.write(head);
      splice(socket, res.daemon);
    });
  });

  function passthrough(socket: Socket, head: Buffer, target: { host: string; port: number }, why: string): void {
    dialUpstream(target, deps.upstream).then(
      (upstream) => {
        if (socket.destroyed) {
          upstream.destroy();
          return;
        }
        stats.passthrough++;
        deps.log.info('edge.passthrough', { host: target.host, port: target.port, reason: why });
        socket.write(ESTABLISHED);
        if (head.length) upstream.write(head);
        splice(socket, upstream);
      },
      (err: NodeJS.ErrnoException) => {
        stats.errors++;
        deps.log.warn('edge.upstream_failed', { host: target.host, port: target.port, error: err.code ?? err.message });
        if (!socket.destroyed) {
          socket.end(
            `HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nhalton-meter edge: cannot reach ${target.host}:${target.port} (${err.code ?? err.message})\n`,
          );
        }
      },
    );
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    if (url.startsWith('/')) {
      answerOriginForm(req, res);
      return;
    }
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('halton-meter edge: bad request target\n');
      return;
    }
    if (parsed.protocol !== 'http:') {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('halton-meter edge: only http:// URLs are proxied without CONNECT\n');
      return;
    }
    const host = parsed.hostname.toLowerCase();
    if (host === SELFTEST_HOST) {
      void health.check().then((state) => {
        if (!state.healthy) {
          res.writeHead(503, { 'content-type': 'application/json' }).end(
            JSON.stringify({ error: { type: 'daemon_down', message: `halton-meter daemon is not healthy: ${state.reason ?? 'unknown'}` } }),
          );
          return;
        }
        forwardHttp(req, res, { host: '127.0.0.1', port: state.ports.internal }, url, true);
      });
      return;
    }
    const target = { host, port: Number(parsed.port || 80) };
    const route = routeTarget(target, deps.upstream.resolve);
    if (deps.upstream.proxy && !route.resolved) {
      const proxy = new URL(deps.upstream.proxy);
      forwardHttp(req, res, { host: proxy.hostname, port: Number(proxy.port || 80) }, url, false);
    } else {
      forwardHttp(req, res, route, parsed.pathname + parsed.search, false);
    }
  });

  function forwardHttp(req: IncomingMessage, res: ServerResponse, to: { host: string; port: number }, path: string, toDaemon: boolean): void {
    const headers: OutgoingHttpHeaders = {};
    const named = connectionNamed(req.headers.connection);
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k) || named.has(k)) continue;
      if (k === 'proxy-authorization' && toDaemon) continue;
      headers[k] = v;
    }
    if (toDaemon) {
      headers[CLIENT_HEADER] = formatAddress(req.socket.remoteAddress, req.socket.remotePort);
      const auth = req.headers['proxy-authorization'];
      if (auth) headers['proxy-authorization'] = auth;
    }
    stats.httpForwarded++;
    const up = httpRequest({ host: to.host, port: to.port, method: req.method, path, headers, setHost: false }, (ures) => {
      const out: OutgoingHttpHeaders = {};
      const upNamed = connectionNamed(ures.headers.connection);
      for (const [k, v] of Object.entries(ures.headers)) if (v !== undefined && !HOP_BY_HOP.has(k) && !upNamed.has(k)) out[k] = v;
      res.writeHead(ures.statusCode ?? 502, ures.statusMessage, out);
      ures.pipe(res);
      ures.on('error', () => res.destroy());
    });
    up.on('error', (err: NodeJS.ErrnoException) => {
      stats.errors++;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`halton-meter edge: cannot reach ${to.host}:${to.port} (${err.code ?? err.message})\n`);
    });
    req.pipe(up);
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
  }

  function answerOriginForm(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'GET' && (req.url === '/health' || req.url === '/edge/health')) {
      const last = health.last();
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          status: 'ok',
          component: 'edge',
          version: deps.version,
          pid: process.pid,
          started_at: startedAt,
          daemon: { healthy: last.healthy, version: last.version, reason: last.reason },
          stats,
        }),
      );
      return;
    }
    res.writeHead(400, { 'content-type': 'text/plain' }).end(
      'halton-meter edge is an HTTP proxy: set HTTPS_PROXY=http://127.0.0.1:<this port> in the client\n',
    );
  }

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable && err.code !== 'ECONNRESET') socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  return { server, health, stats };
}
