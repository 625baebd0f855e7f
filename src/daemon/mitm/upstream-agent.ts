// The daemon's keep-alive pool to the real providers. Connections are dialled by core/dial (so
// [upstream] resolve and [upstream] proxy apply) and verified against the system roots plus
// [upstream] ca_file. Upstream TLS always verifies: the meter never weakens what the client asked for.
import { Agent, type AgentOptions } from 'node:https';
import { connect as tlsConnect, createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import type { Duplex } from 'node:stream';
import { dialUpstream, type UpstreamRoute } from '../../core/dial.js';

type CreateCallback = (err: Error | null, socket?: Duplex) => void;

interface ConnectionOptions {
  host?: string | null;
  hostname?: string | null;
  port?: number | string | null;
  servername?: string;
}

export function upstreamCaList(extraPem: string | null): string[] {
  return extraPem ? [...rootCertificates, extraPem] : [...rootCertificates];
}

/**
 * One TLS context for every upstream connection. Passing `ca` per connection makes Node parse the
 * whole root store each time (~19 ms of blocked event loop and ~1 MB per connection, measured by
 * the bench): a burst of new connections would stall every stream in flight.
 */
export function upstreamTlsContext(ca: string[]): SecureContext {
  return createSecureContext({ ca });
}

export class UpstreamAgent extends Agent {
  constructor(
    private readonly route: UpstreamRoute,
    private readonly context: SecureContext,
    opts: AgentOptions = {},
  ) {
    super({ keepAlive: true, keepAliveMsecs: 1000, maxSockets: Infinity, maxFreeSockets: 256, scheduling: 'lifo', ...opts });
  }

  // Node's Agent accepts an asynchronous createConnection that answers through the callback.
  override createConnection(options: ConnectionOptions, callback: CreateCallback): Duplex {
    const host = options.servername || options.hostname || options.host || 'localhost';
    const port = Number(options.port || 443);
    dialUpstream({ host, port }, this.route).then(
      (socket) => {
        const tlsSocket = tlsConnect({ socket, servername: host, secureContext: this.context, ALPNProtocols: ['http/1.1'] });
        callback(null, tlsSocket);
      },
      (err: Error) => callback(err),
    );
    return undefined as unknown as Duplex;
  }
}
