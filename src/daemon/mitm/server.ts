// The intercepting listener on the internal port. CONNECT to a metered host: answer 200, terminate
// TLS with a leaf from the meter's CA, and serve the decrypted HTTP/1.1 or HTTP/2 (whichever ALPN
// chose; h2.ts) through forward.ts. CONNECT to anything else: a raw tunnel (the edge normally keeps
// those to itself).
import { Agent as HttpAgent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket, connect as tlsConnect, type SecureContext } from 'node:tls';
import type { Exchange } from '../../core/exchange.js';
import { WebSocketUsageTap } from './websocket.js';
import { clientKeyOf, isTrustRejection, UntrustingClients } from './untrusting-clients.js';
import type { MeteredHost } from '../../core/providers.js';
import { dialUpstream, parseHostPort, type UpstreamRoute } from '../../core/dial.js';
import type { Logger } from '../../core/log.js';
import { meteredHost, SELFTEST_HOST } from '../../core/providers.js';
import { findAdapter } from '../../adapters/index.js';
import type { Attribution } from '../attribution/index.js';
import { proxyUserFromHeader } from '../attribution/index.js';
import type { ClientAddress } from '../attribution/client-process.js';
import { splice } from '../../core/splice.js';
import { forwardRequest, type ConnContext, type ForwardDeps } from './forward.js';
import { createH2Front } from './h2.js';

const ESTABLISHED = 'HTTP/1.1 200 Connection established\r\n\r\n';
/** A CONNECT tunnel whose TLS handshake has not finished by then is closed (like the edge's head timeout). */
const HANDSHAKE_TIMEOUT_MS = 30_000;

export interface InterceptDeps extends ForwardDeps {
  secureContext: (host: string) => SecureContext;
  upstream: UpstreamRoute;
  /** The shared upstream TLS context (system roots + [upstream] ca_file). */
  upstreamTls: SecureContext;
  log: Logger;
  attribute: (proxyUser: string | null, client: ClientAddress | null) => Promise<Attribution>;
  selftestPort: () => number;
  stats: { intercepted: number; passthrough: number; tlsFailures: number };
  /** The edge's port: a chained client's socket is connected to it (finds the client's socket). */
  edgePort?: number;
}

export interface InterceptServer {
  server: Server;
  inner: Server;
}

export function parseClientHeader(value: string | string[] | undefined, edgePort?: number): ClientAddress | null {
  if (typeof value !== 'string') return null;
  const t = parseHostPort(value);
  return t ? { address: t.host, port: t.port, ...(edgePort === undefined ? {} : { peerPort: edgePort }) } : null;
}

function track(p: Promise<Attribution>): { attribution: Promise<Attribution>; attributionSettled: () => boolean } {
  let settled = false;
  const attribution = p.finally(() => {
    settled = true;
  });
  attribution.catch(() => undefined);
  return { attribution, attributionSettled: () => settled };
}

export function createInterceptServer(deps: InterceptDeps): InterceptServer {
  const contexts = new WeakMap<Socket, ConnContext>();
  const untrusting = new UntrustingClients();
  const localAgent = new HttpAgent({ keepAlive: true });
  const inner = createServer({ keepAlive: true, keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 });
  const server = createServer({ keepAlive: true, requestTimeout: 0, headersTimeout: 30_000 });
  // `inner` never listens: decrypted sockets are handed to it. Node arms an http.Server's connection
  // tracking on 'listening' (the headersTimeout check, closeIdleConnections, closeAllConnections), so
  // without this a client sending its decrypted head a byte at a time was held forever, and the
  // daemon's shutdown could neither close idle connections nor cut streams at its deadline (issue 6).
  inner.emit('listening');
  const h2 = createH2Front(deps);

  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    const target = parseHostPort(req.url ?? '', 443);
    if (!target) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      return;
    }
    const metered = meteredHost(target.host);
    if (!metered) {
      rawTunnel(socket, head, target);
      return;
    }
    // Through the edge, the client's socket is connected to the edge's port; straight to us, to ours.
    const client = parseClientHeader(req.headers['x-halton-client'], deps.edgePort) ?? {
      address: socket.remoteAddress ?? '',
      port: socket.remotePort ?? 0,
      peerPort: socket.localPort,
    };
    const { attribution, attributionSettled } = track(deps.attribute(proxyUserFromHeader(req.headers['proxy-authorization']), client));
    if (!untrusting.anyFor(target.host)) {
      intercept(socket, head, target, metered, attribution, attributionSettled);
      return;
    }
    // Someone refused our certificate for this host lately: is it this client?
    void Promise.race([attribution, new Promise<null>((r) => setTimeout(() => r(null), 500))]).then((who) => {
      const key = who ? clientKeyOf(who.clientName, who.slug) : null;
      if (key && untrusting.has(key, target.host)) {
        deps.log.info('intercept.untrusted_passthrough', { host: target.host, client_pid: who?.clientPid ?? null, client_name: who?.clientName ?? null });
        rawTunnel(socket, head, target);
      } else {
        intercept(socket, head, target, metered, attribution, attributionSettled);
      }
    });
  });

  function intercept(
    socket: Socket,
    head: Buffer,
    target: { host: string; port: number },
    metered: MeteredHost,
    attribution: Promise<Attribution>,
    attributionSettled: () => boolean,
  ): void {
    if (socket.destroyed) return;
    deps.stats.intercepted++;
    socket.write(ESTABLISHED);
    if (head.length) socket.unshift(head);
    const tlsSocket = new TLSSocket(socket, {
      isServer: true,
      secureContext: deps.secureContext(target.host),
      SNICallback: (name, cb) => {
        try {
          cb(null, deps.secureContext(name));
        } catch (err) {
          cb(err instanceof Error ? err : new Error(String(err)));
        }
      },
      // h2 first: a client that offers it gets it (Node's http2 client offers nothing else);
      // WebSocket clients offer http/1.1 only and keep it.
      ALPNProtocols: ['h2', 'http/1.1'],
    });
    // Handshake failures (a client that does not trust the CA) and resets end here, never in a throw.
    let rejected = false;
    tlsSocket.on('error', (err) => {
      if (isTrustRejection(err)) rejected = true;
      tlsSocket.destroy();
    });
    const ctx: ConnContext = {
      host: target.host,
      port: target.port,
      metered,
      attribution,
      attributionSettled,
      local: target.host === SELFTEST_HOST ? { port: deps.selftestPort(), agent: localAgent } : null,
    };
    contexts.set(tlsSocket, ctx);
    let secured = false;
    // Until the handshake has chosen a protocol no HTTP server owns this socket, so nothing would
    // close it: a client that leaves before or during the handshake (EOF: the edge passes the
    // client's FIN on) or never sends a ClientHello would hold it, and the edge's side, forever
    // (issue 6: 10,000 dropped connections left some 5,600 descriptors open in the edge).
    const leftEarly = (): void => {
      tlsSocket.destroy();
    };
    tlsSocket.once('end', leftEarly);
    tlsSocket.setTimeout(HANDSHAKE_TIMEOUT_MS, leftEarly);
    // Dispatch once ALPN is known. Bytes the client sends right after its handshake wait in the
    // socket's buffer; both protocol handlers read them from there.
    tlsSocket.once('secure', () => {
      secured = true;
      tlsSocket.removeListener('end', leftEarly);
      tlsSocket.setTimeout(0);
      if (tlsSocket.alpnProtocol === 'h2') h2.serve(tlsSocket, ctx);
      else inner.emit('connection', tlsSocket);
    });
    tlsSocket.once('close', () => {
      if (secured) return;
      deps.stats.tlsFailures++;
      void attribution.then((who) => {
        const key = clientKeyOf(who.clientName, who.slug);
        if (rejected && key) untrusting.remember(key, target.host);
        deps.log.warn('intercept.tls_failed', {
          host: target.host,
          client_pid: who.clientPid,
          client_name: who.clientName,
          rejected_certificate: rejected,
          hint: rejected
            ? 'the client does not trust the halton-meter CA; its next connections to this host pass through unmetered for 10 minutes (see halton-meter env)'
            : 'the client left before TLS completed',
        });
      });
    });
  }

  inner.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const ctx = contexts.get(req.socket);
    if (!ctx) {
      res.writeHead(500).end();
      return;
    }
    const match = findAdapter(ctx.host, req.method ?? 'GET', req.url ?? '/');
    forwardRequest(req, res, ctx, match, deps);
  });

  inner.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const ctx = contexts.get(socket);
    if (!ctx || ctx.local) {
      socket.destroy();
      return;
    }
    upgradePassthrough(req, socket, head, ctx);
  });

  // Absolute-form HTTP chained by the edge: only the self-test host is served this way.
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    let url: URL | null = null;
    try {
      url = new URL(req.url ?? '');
    } catch {
      url = null;
    }
    if (!url || url.hostname !== SELFTEST_HOST) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('halton-meter daemon: only CONNECT is served here\n');
      return;
    }
    const client = parseClientHeader(req.headers['x-halton-client'], deps.edgePort);
    const metered = meteredHost(SELFTEST_HOST);
    if (!metered) return;
    const { attribution, attributionSettled } = track(deps.attribute(proxyUserFromHeader(req.headers['proxy-authorization']), client));
    const ctx: ConnContext = { host: SELFTEST_HOST, port: 80, metered, attribution, attributionSettled, local: { port: deps.selftestPort(), agent: localAgent } };
    req.url = url.pathname + url.search;
    forwardRequest(req, res, ctx, findAdapter(SELFTEST_HOST, req.method ?? 'GET', req.url), deps);
  });

  function rawTunnel(socket: Socket, head: Buffer, target: { host: string; port: number }): void {
    dialUpstream(target, deps.upstream).then(
      (up) => {
        deps.stats.passthrough++;
        socket.write(ESTABLISHED);
        if (head.length) up.write(head);
        splice(socket, up);
      },
      (err: NodeJS.ErrnoException) => {
        socket.end(`HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\ncannot reach ${target.host}:${target.port} (${err.code ?? err.message})\n`);
      },
    );
  }

  function upgradePassthrough(req: IncomingMessage, socket: Socket, head: Buffer, ctx: ConnContext): void {
    dialUpstream({ host: ctx.host, port: ctx.port }, deps.upstream).then(
      (raw) => {
        const up = tlsConnect({ socket: raw, servername: ctx.host, secureContext: deps.upstreamTls, ALPNProtocols: ['http/1.1'] });
        let headText = `${req.method} ${req.url} HTTP/1.1\r\n`;
        for (let i = 0; i < req.rawHeaders.length; i += 2) {
          if (req.rawHeaders[i].toLowerCase() === 'x-halton-client') continue;
          headText += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
        }
        up.write(headText + '\r\n');
        if (head.length) up.write(head);
        deps.log.info('intercept.upgrade', { host: ctx.host, path: (req.url ?? '').split('?')[0] });
        meterWebSocket(req, up, ctx);
        splice(socket, up);
      },
      () => socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n'),
    );
  }

  /** Rows for the responses a WebSocket carries, when its path is one a metering adapter knows. */
  function meterWebSocket(req: IncomingMessage, up: TLSSocket, ctx: ConnContext): void {
    const path = req.url ?? '/';
    // The upgrade is a GET; the same path's POST form tells which API family the frames speak.
    const match = findAdapter(ctx.host, 'POST', path);
    if (!match) return;
    const tap = new WebSocketUsageTap((x) => {
      const exchange: Exchange = {
        host: ctx.host,
        method: 'GET',
        path,
        requestJson: null,
        // Status 200: the upgrade worked and each response on it is its own exchange.
        response: { status: 200, headers: {}, bodyText: null, events: x.events, truncated: false, outcome: x.terminal ? 'completed' : 'aborted' },
      };
      const p = deps.onFinished({
        exchange,
        metered: ctx.metered,
        adapter: match.adapter,
        kind: match.kind,
        outcome: x.terminal ? 'completed' : 'aborted',
        failure: x.terminal ? null : 'connection_closed',
        stream: true,
        requestedAt: x.startedAt,
        latencyMs: Date.now() - x.startedAt.getTime(),
        ttfbMs: null,
        attribution: ctx.attribution,
        undecodable: null,
      });
      deps.inFlight.add(p);
    });
    up.on('data', (chunk: Buffer) => tap.push(chunk));
    up.once('close', () => {
      void tap.end();
    });
  }

  return { server, inner };
}
