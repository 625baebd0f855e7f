// Opening TCP connections to an upstream, shared by the edge (raw passthrough) and the daemon
// (the socket under its upstream TLS). Honours [upstream] resolve (curl --resolve style, used by
// tests to send provider hosts to local fakes) and [upstream] proxy (a corporate HTTP proxy,
// tunnelled with CONNECT). Environment proxies are deliberately ignored: the daemon must never route
// through itself, whatever HTTPS_PROXY its own environment holds.
import { connect, isIP, type Socket } from 'node:net';

export interface UpstreamRoute {
  /** host:port -> ip:port overrides. */
  resolve: Readonly<Record<string, string>>;
  /** http://[user:pass@]host:port or null. */
  proxy: string | null;
}

export interface Target {
  host: string;
  port: number;
}

/** Splits "host:port" / "[v6]:port"; null when malformed. */
export function parseHostPort(value: string, defaultPort?: number): Target | null {
  const v = value.trim();
  let host: string;
  let portText: string | undefined;
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    if (end < 0) return null;
    host = v.slice(1, end);
    const rest = v.slice(end + 1);
    if (rest === '') portText = undefined;
    else if (rest.startsWith(':')) portText = rest.slice(1);
    else return null;
  } else {
    const idx = v.lastIndexOf(':');
    if (idx < 0) {
      host = v;
      portText = undefined;
    } else {
      host = v.slice(0, idx);
      portText = v.slice(idx + 1);
      if (host.includes(':')) return null;
    }
  }
  if (!host || !/^[A-Za-z0-9._\-:]+$/.test(host)) return null;
  let port: number;
  if (portText === undefined) {
    if (defaultPort === undefined) return null;
    port = defaultPort;
  } else {
    if (!/^\d{1,5}$/.test(portText)) return null;
    port = Number(portText);
  }
  if (port < 1 || port > 65535) return null;
  return { host: host.toLowerCase(), port };
}

/** Where a connection for host:port really goes after [upstream] resolve. */
export function routeTarget(target: Target, resolve: Readonly<Record<string, string>>): Target & { resolved: boolean } {
  const mapped = resolve[`${target.host}:${target.port}`];
  if (mapped) {
    const t = parseHostPort(mapped);
    if (t) return { ...t, resolved: true };
  }
  return { ...target, resolved: false };
}

export interface DialOptions {
  timeoutMs?: number;
}

/**
 * Opens a TCP connection to `target` (after resolve), through the upstream proxy when one is set and
 * the target was not explicitly resolved. Resolves once connected; the socket has no timeout set.
 */
export function dialUpstream(target: Target, route: UpstreamRoute, opts: DialOptions = {}): Promise<Socket> {
  const dest = routeTarget(target, route.resolve);
  if (route.proxy && !dest.resolved) return dialViaProxy(target, route.proxy, opts);
  return dialDirect(dest, opts);
}

function dialDirect(dest: Target, opts: DialOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: dest.host, port: dest.port });
    sock.setNoDelay(true);
    const timer = setTimeout(() => sock.destroy(new Error(`connect timeout to ${dest.host}:${dest.port}`)), opts.timeoutMs ?? 15_000);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeListener('error', reject);
      resolve(sock);
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function dialViaProxy(target: Target, proxyUrl: string, opts: DialOptions): Promise<Socket> {
  const url = new URL(proxyUrl);
  const proxy: Target = { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) };
  return dialDirect(proxy, opts).then(
    (sock) =>
      new Promise<Socket>((resolve, reject) => {
        const authority = isIP(target.host) === 6 ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
        let head = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
        if (url.username) {
          const cred = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
          head += `Proxy-Authorization: Basic ${Buffer.from(cred).toString('base64')}\r\n`;
        }
        sock.write(head + '\r\n');
        let buf = Buffer.alloc(0);
        const onData = (chunk: Buffer): void => {
          buf = Buffer.concat([buf, chunk]);
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) {
            if (buf.length > 16_384) fail(new Error('upstream proxy sent an oversized response'));
            return;
          }
          sock.removeListener('data', onData);
          sock.removeListener('error', fail);
          const status = /^HTTP\/1\.[01] (\d{3})/.exec(buf.subarray(0, end).toString('latin1'));
          if (!status || status[1] !== '200') {
            fail(new Error(`upstream proxy refused CONNECT ${authority}: ${status ? status[1] : 'bad response'}`));
            return;
          }
          sock.removeListener('close', onClose);
          // Paused so bytes the proxy sent with its 200 wait for the caller's reader, in order.
          sock.pause();
          const rest = buf.subarray(end + 4);
          if (rest.length) sock.unshift(rest);
          resolve(sock);
        };
        const fail = (err: Error): void => {
          sock.removeListener('close', onClose);
          sock.destroy();
          reject(err);
        };
        const onClose = (): void => fail(new Error(`upstream proxy closed the connection before answering CONNECT ${authority}`));
        sock.on('data', onData);
        sock.once('error', fail);
        sock.once('close', onClose);
      }),
  );
}
