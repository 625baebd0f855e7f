// One request through the edge to the self-test host, as any client would make it: CONNECT via the
// edge, TLS verified against the meter's CA, an Anthropic-shaped POST, then the row looked up in the
// database. Proves edge -> daemon -> TLS -> forward/tap -> adapter -> SQLite.
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { caPaths } from '../ca/index.js';
import { MeterError } from '../core/errors.js';
import { SELFTEST_HOST, SELFTEST_PROJECT } from '../core/providers.js';
import { listRequests, openDb } from '../store/index.js';
import type { CliContext } from './context.js';

export interface SelftestResult {
  rowId: string;
  requestId: string;
  ms: number;
  path: string;
}

function connectVia(edgePort: number, host: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host: '127.0.0.1', port: edgePort });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => sock.destroy(new Error('the edge did not answer CONNECT in time')), 5000);
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.once('connect', () => sock.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\n\r\n`));
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      sock.removeListener('data', onData);
      const line = buf.subarray(0, end).toString('latin1').split('\r\n')[0];
      if (!/ 200 /.test(line + ' ')) {
        sock.destroy();
        reject(new Error(`the edge answered "${line}"`));
        return;
      }
      resolve(sock);
    };
    sock.on('data', onData);
  });
}

export async function runSelftest(ctx: CliContext): Promise<SelftestResult> {
  const ports = ctx.ports();
  const started = performance.now();
  let caPem: string;
  try {
    caPem = readFileSync(caPaths(ctx.config.paths.caDir).certPem, 'utf8');
  } catch {
    throw new MeterError('selftest_failed', `no halton-meter CA in ${ctx.config.paths.caDir}`, 'start the meter first (halton-meter serve, or halton-meter init)');
  }
  let raw: Socket;
  try {
    // Right after a daemon (re)start the edge may still hold its "daemon down" verdict (re-checked
    // every 200 ms) and, unable to pass the self-test host through, answer 502: ask again briefly.
    const deadline = Date.now() + 2000;
    for (;;) {
      try {
        raw = await connectVia(ports.edge, SELFTEST_HOST);
        break;
      } catch (e) {
        if (!/ 502 /.test((e as Error).message) || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 150));
      }
    }
  } catch (e) {
    throw new MeterError('selftest_failed', `cannot go through the edge on 127.0.0.1:${ports.edge}: ${(e as Error).message}`, 'is the meter running? try: halton-meter serve');
  }
  const tlsSock: TLSSocket = tlsConnect({ socket: raw, servername: SELFTEST_HOST, ca: caPem });
  const body = JSON.stringify({ model: 'halton-selftest', max_tokens: 8, messages: [{ role: 'user', content: 'ping' }] });
  const answer = await new Promise<{ status: number; requestId: string; text: string }>((resolve, reject) => {
    const req = httpsRequest(
      {
        host: SELFTEST_HOST,
        path: '/v1/messages',
        method: 'POST',
        createConnection: () => tlsSock,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'anthropic-version': '2023-06-01' },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, requestId: String(res.headers['request-id'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  }).catch((e: Error) => {
    const hint = /certificate|self.signed|unable to verify/i.test(e.message)
      ? 'the answer was not signed by the halton-meter CA: the daemon is not intercepting (is it healthy? halton-meter serve)'
      : 'check that the daemon is running and healthy';
    throw new MeterError('selftest_failed', `self-test request failed: ${e.message}`, hint);
  });
  tlsSock.destroy();
  if (answer.status !== 200 || !answer.text.includes('self-test ok')) {
    throw new MeterError('selftest_failed', `self-test host answered ${answer.status}`, 'the daemon may be unhealthy; see halton-meter logs');
  }
  const rowId = await findRow(ctx, answer.requestId);
  return {
    rowId,
    requestId: answer.requestId,
    ms: Math.round(performance.now() - started),
    path: `client -> edge 127.0.0.1:${ports.edge} -> daemon 127.0.0.1:${ports.internal} (TLS with the halton-meter CA) -> self-test upstream -> row ${rowId} in ${ctx.config.paths.db} (project ${SELFTEST_PROJECT})`,
  };
}

async function findRow(ctx: CliContext, requestId: string): Promise<string> {
  const deadline = Date.now() + 5000;
  const db = openDb(ctx.config.paths.db, { readonly: true });
  try {
    for (;;) {
      const rows = listRequests(db, { projectSlug: SELFTEST_PROJECT, limit: 20 });
      const hit = rows.find((r) => r.providerRequestId === requestId);
      if (hit) return hit.id;
      if (Date.now() > deadline) {
        throw new MeterError('selftest_failed', 'the self-test answer arrived but no row was written within 5 s', 'see halton-meter logs for store.write_failed');
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    db.close();
  }
}
