// Hands one CONNECT to the daemon: a new connection to its intercepting port, the same CONNECT with
// the client's address attached (X-Halton-Client, so the daemon can find the client process), and
// the daemon's answer read before anything is said to the client. Until the daemon has said 200 the
// client has seen nothing, so any failure here can still fall back to passthrough.
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';

export const CLIENT_HEADER = 'x-halton-client';
const ANSWER_TIMEOUT_MS = 3000;
const MAX_ANSWER_BYTES = 8192;

export type ChainResult = { ok: true; daemon: Socket; leftover: Buffer } | { ok: false; reason: string; refused: boolean };

export function chainConnect(req: IncomingMessage, clientSocket: Socket, internalPort: number): Promise<ChainResult> {
  return new Promise((resolve) => {
    const daemon = connect({ host: '127.0.0.1', port: internalPort });
    daemon.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    let settled = false;
    const finish = (r: ChainResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      daemon.removeListener('data', onData);
      daemon.removeListener('error', onError);
      daemon.removeListener('close', onClose);
      if (!r.ok) daemon.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: 'daemon did not answer in time', refused: false }), ANSWER_TIMEOUT_MS);
    const onError = (err: NodeJS.ErrnoException): void =>
      finish({ ok: false, reason: err.code ?? err.message, refused: err.code === 'ECONNREFUSED' });
    const onClose = (): void => finish({ ok: false, reason: 'daemon closed the connection', refused: false });
    const onData = (chunk: Buffer): void => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > MAX_ANSWER_BYTES) finish({ ok: false, reason: 'daemon answer too large', refused: false });
        return;
      }
      const statusLine = buf.subarray(0, Math.min(end, 64)).toString('latin1');
      if (!/^HTTP\/1\.[01] 200\b/.test(statusLine)) {
        finish({ ok: false, reason: `daemon answered ${statusLine.split('\r\n')[0]}`, refused: false });
        return;
      }
      finish({ ok: true, daemon, leftover: buf.subarray(end + 4) });
    };
    daemon.on('data', onData);
    daemon.on('error', onError);
    daemon.on('close', onClose);
    daemon.once('connect', () => {
      const target = req.url ?? '';
      let head = `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n`;
      head += `X-Halton-Client: ${formatAddress(clientSocket.remoteAddress, clientSocket.remotePort)}\r\n`;
      const auth = req.headers['proxy-authorization'];
      if (typeof auth === 'string' && !/[\r\n]/.test(auth)) head += `Proxy-Authorization: ${auth}\r\n`;
      daemon.write(head + '\r\n');
    });
  });
}

export function formatAddress(address: string | undefined, port: number | undefined): string {
  const a = address ?? '';
  const host = a.includes(':') && !a.startsWith('::ffff:') ? `[${a}]` : a.replace(/^::ffff:/, '');
  return `${host}:${port ?? 0}`;
}
