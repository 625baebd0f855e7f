// Client-side faults and process facts shared by test/e2e/faults.test.ts and bench/faults.ts: raw
// CONNECT tunnels through the edge, slowloris heads, connections opened and dropped at every stage,
// and what /proc says about a process (descriptors, resident memory).
import type { ChildProcess } from 'node:child_process';
import type { MeterProcs } from './meter.js';
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export const HOST = 'api.anthropic.com';

export interface RawRequestOptions {
  /** The model in the body: tests and the bench find the request's row by it (model_requested). */
  marker: string;
  /** `x-fault` for the fault upstream (test/helpers/fault-upstream.ts). */
  fault?: string;
  stream?: boolean;
  headers?: Record<string, string>;
}

export function requestBody(o: RawRequestOptions): string {
  return JSON.stringify({ model: o.marker, max_tokens: 10, stream: o.stream ?? false, messages: [{ role: 'user', content: 'x' }] });
}

export function requestHeaders(o: RawRequestOptions): Record<string, string> {
  return { 'content-type': 'application/json', 'x-api-key': 'sk-test', 'x-fault': o.fault ?? 'ok', ...(o.headers ?? {}) };
}

/** One HTTP/1.1 Messages request as bytes, for a client written on a raw (TLS) socket. */
export function rawRequest(o: RawRequestOptions): string {
  const body = requestBody(o);
  const head = Object.entries(requestHeaders(o))
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `POST /v1/messages HTTP/1.1\r\nHost: ${HOST}\r\n${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

export interface Tunnel {
  socket: TLSSocket;
  /** Who answered the TLS handshake: the daemon (the meter's CA signed the leaf) or the provider itself (passthrough). */
  path: 'daemon' | 'passthrough';
}

/** CONNECT through the edge, then TLS inside, trusting `ca` (the meter's CA and the provider's). */
export function tunnel(edgePort: number, ca: string, host = HOST): Promise<Tunnel> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host: '127.0.0.1', port: edgePort }, () => sock.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\n\r\n`));
    const fail = (e: Error): void => {
      sock.destroy();
      reject(e);
    };
    sock.once('error', fail);
    sock.once('data', (d: Buffer) => {
      if (!d.toString('latin1').startsWith('HTTP/1.1 200')) return fail(new Error(`edge answered ${d.toString('latin1').split('\r\n')[0]}`));
      sock.removeListener('error', fail);
      const t = tlsConnect({ socket: sock, servername: host, ca, ALPNProtocols: ['http/1.1'] });
      t.once('error', fail);
      t.once('secureConnect', () => {
        t.removeListener('error', fail);
        // The meter's CA is mitmproxy-compatible, down to its name.
        resolve({ socket: t, path: t.getPeerCertificate().issuer?.CN === 'mitmproxy' ? 'daemon' : 'passthrough' });
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// Slowloris: heads sent one byte at a time that never end, and connections that never say anything

export interface Slowloris {
  total: number;
  /** Connections the edge has closed (we never close them ourselves until stop()). */
  closedByEdge(): number;
  /** What the edge answered on them before closing (a 408 or 400 is fine). */
  answers(): string[];
  stop(): void;
}

export function startSlowloris(port: number, slowHeads: number, silent: number, everyMs = 250): Slowloris {
  const head = Buffer.from(`CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n`);
  const filler = Buffer.from('X-Slow: aaaaaaaaaaaaaaaa\r\n');
  const socks: Array<{ s: Socket; sent: number; slow: boolean; closed: boolean; answer: string }> = [];
  let stopping = false;
  for (let i = 0; i < slowHeads + silent; i++) {
    const s = netConnect({ host: '127.0.0.1', port });
    const entry = { s, sent: 0, slow: i < slowHeads, closed: false, answer: '' };
    s.on('data', (d: Buffer) => (entry.answer += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      if (!stopping) entry.closed = true;
    });
    socks.push(entry);
  }
  const timer = setInterval(() => {
    for (const e of socks) {
      if (!e.slow || e.closed || e.s.destroyed || e.s.connecting) continue;
      const pos = e.sent;
      const byte = pos < head.length ? head[pos] : filler[(pos - head.length) % filler.length];
      e.s.write(Buffer.of(byte));
      e.sent++;
    }
  }, everyMs);
  return {
    total: socks.length,
    closedByEdge: () => socks.filter((e) => e.closed).length,
    answers: () => socks.map((e) => e.answer).filter(Boolean),
    stop: () => {
      stopping = true;
      clearInterval(timer);
      for (const e of socks) e.s.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Connections opened and dropped

export const DROP_KINDS = ['tcp-close', 'tcp-reset', 'half-connect', 'connect-drop', 'tls-hello-drop', 'tls-drop', 'half-request', 'request-drop'] as const;
export type DropKind = (typeof DROP_KINDS)[number];

/** 10,000 connections, every stage a client can vanish at; `request-drop` sends a whole request (it gets a row). */
export const DROP_MIX: ReadonlyArray<{ kind: DropKind; n: number }> = [
  { kind: 'tcp-close', n: 3000 },
  { kind: 'tcp-reset', n: 1500 },
  { kind: 'half-connect', n: 1500 },
  { kind: 'connect-drop', n: 2000 },
  { kind: 'tls-hello-drop', n: 1000 },
  { kind: 'tls-drop', n: 600 },
  { kind: 'half-request', n: 200 },
  { kind: 'request-drop', n: 200 },
];

/** Runs `plan` `batch` connections at a time; returns the ones that could not even be set up. */
export async function openAndDropAll(edgePort: number, ca: string, markerPrefix: string, batch = 200): Promise<string[]> {
  const plan = DROP_MIX.flatMap((k) => Array.from({ length: k.n }, () => k.kind));
  const failures: string[] = [];
  for (let i = 0; i < plan.length; i += batch) {
    await Promise.all(
      plan.slice(i, i + batch).map((kind) => openAndDrop(edgePort, kind, ca, `${markerPrefix}-${kind}`).catch((e: Error) => void failures.push(`${kind}: ${e.message}`))),
    );
  }
  return failures;
}

/** One connection to the edge, taken as far as `kind` says, then dropped without a goodbye. */
export function openAndDrop(edgePort: number, kind: DropKind, ca: string, marker: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host: '127.0.0.1', port: edgePort });
    const fail = (e: Error): void => {
      sock.destroy();
      reject(e);
    };
    sock.once('error', fail);
    sock.once('connect', () => {
      switch (kind) {
        case 'tcp-close':
          sock.end();
          sock.destroy();
          return resolve();
        case 'tcp-reset':
          sock.resetAndDestroy();
          return resolve();
        case 'half-connect':
          sock.write(`CONNECT ${HOST}:443 HTTP/1.1\r\nHost: api.an`, () => {
            sock.destroy();
            resolve();
          });
          return;
        default:
          break;
      }
      sock.write(`CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n\r\n`);
      sock.once('data', (d: Buffer) => {
        if (!d.toString('latin1').startsWith('HTTP/1.1 200')) return fail(new Error(`edge answered ${d.toString('latin1').slice(0, 40)}`));
        if (kind === 'connect-drop') {
          sock.destroy();
          return resolve();
        }
        sock.removeListener('error', fail);
        const t = tlsConnect({ socket: sock, servername: HOST, ca });
        t.on('error', () => undefined);
        if (kind === 'tls-hello-drop') {
          // The ClientHello is out once the socket has written something; drop before the handshake ends.
          setImmediate(() => {
            t.destroy();
            sock.destroy();
            resolve();
          });
          return;
        }
        t.once('secureConnect', () => {
          if (kind === 'tls-drop') {
            t.destroy();
            return resolve();
          }
          const req = rawRequest({ marker });
          t.write(kind === 'half-request' ? req.slice(0, 60) : req, () => {
            t.destroy();
            resolve();
          });
        });
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// Process facts

export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export function rssMb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Everything `child` prints to stderr from now on (the daemon's log lines, even when its log file cannot be written). */
export function collectStderr(child: ChildProcess | null): () => string {
  let text = '';
  child?.stderr?.on('data', (d: Buffer) => (text += d.toString('utf8')));
  return () => text;
}

/** The JSON log lines of one event in `text`. */
export function logEvents(text: string, event: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return null;
      }
    })
    .filter((x): x is Record<string, unknown> => x !== null);
}

/** Appends to `path` until its filesystem is full (ENOSPC), down to the last 512 bytes. Returns the bytes written. */
export function fillFilesystem(path: string): number {
  const fd = openSync(path, 'a');
  const block = Buffer.alloc(64 * 1024, 1);
  let written = 0;
  try {
    for (const size of [block.length, 512]) {
      try {
        for (;;) written += writeSync(fd, block, 0, size);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/**
 * meter.stop(), but a process that has not exited after `graceMs` (a fault that wedged it: what these
 * suites look for) is SIGKILLed, so it cannot outlive the run spinning on a shared machine.
 */
export async function stopMeterHard(m: MeterProcs | undefined, graceMs = 30_000): Promise<void> {
  if (!m) return;
  const procs = [m.edge, m.daemon].filter((p): p is ChildProcess => p !== null);
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([m.stop(), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
  clearTimeout(timer);
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}
