// HTTP/2 towards the client on metered hosts. A client that negotiates h2 in ALPN (curl --http2,
// Node's http2, gRPC-style SDKs) gets real h2: each stream is served through forward.ts like an
// HTTP/1.1 request (Node's compatibility request/response), so it is metered the same way and gives
// one row. Upstream stays HTTP/1.1 on the shared agent.
import { createServer as createH2Server, type Http2ServerRequest, type Http2ServerResponse, type Http2Session, type ServerHttp2Session } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { findAdapter } from '../../adapters/index.js';
import { forwardRequest, type ConnContext, type ForwardDeps } from './forward.js';

/** An idle session (no open stream) is closed after this long, like the HTTP/1.1 keep-alive timeout. */
const IDLE_SESSION_MS = 65_000;

export interface H2Front {
  /** Serves a TLS connection whose ALPN chose h2 (its handshake done). */
  serve(socket: TLSSocket, ctx: ConnContext): void;
}

export function createH2Front(deps: ForwardDeps): H2Front {
  const sessions = new WeakMap<Http2Session, ConnContext>();
  // Never listens: connections are handed in. It is the only public way to get the compatibility
  // request/response objects for a session's streams.
  const server = createH2Server({
    // A bound like common servers (nginx: 128): clients queue further requests themselves.
    settings: { maxConcurrentStreams: 128 },
  });

  let handingIn: ConnContext | null = null;
  server.on('session', (session: ServerHttp2Session) => {
    const ctx = handingIn;
    if (!ctx) {
      session.destroy();
      return;
    }
    sessions.set(session, ctx);
    let open = 0;
    session.on('stream', (stream) => {
      open++;
      stream.once('close', () => open--);
    });
    // Inactivity counts for the whole session: a stream waiting minutes for a model's first byte
    // is idle too, and must not lose its session.
    session.setTimeout(IDLE_SESSION_MS, () => {
      if (open === 0) session.close();
    });
  });

  server.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
    const session = req.stream.session;
    const ctx = session ? sessions.get(session) : undefined;
    if (!session || !ctx) {
      res.writeHead(500).end();
      return;
    }
    // Draining for shutdown (HTTP/1.1 answers `Connection: close`): GOAWAY lets the streams already
    // open finish and sends the client's next requests to a new connection, which the edge then
    // tunnels past the stopping daemon. Checked again at the end, for streams begun before the drain.
    const goawayIfDraining = (): void => {
      if (deps.draining() && !session.closed) session.close();
    };
    goawayIfDraining();
    req.stream.once('close', goawayIfDraining);
    forwardRequest(req, res, ctx, findAdapter(ctx.host, req.method, req.url), deps);
  });

  return {
    serve(socket: TLSSocket, ctx: ConnContext): void {
      // A TLSSocket made by hand (not by a tls.Server) stays `secureConnecting` after its
      // handshake, and an h2 session over such a socket would wait for a 'secureConnect' that never
      // comes. tls.Server clears the flag the same way when it hands a socket on.
      (socket as TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
      // The session is created synchronously inside the server's 'connection' listener; its
      // `socket` is a proxy, so the context is attached here rather than looked up by socket.
      handingIn = ctx;
      try {
        server.emit('connection', socket);
      } finally {
        handingIn = null;
      }
    },
  };
}
