// Asking the edge and the daemon how they are, over loopback HTTP: what init, start/stop/restart,
// the process supervisor, status and doctor all need. (src/cli/http.ts has the CLI's own helpers;
// the service layer may not import the CLI.)
import { request } from 'node:http';

export interface JsonAnswer {
  status: number;
  body: Record<string, unknown> | null;
}

export function getJson(port: number, path: string, timeoutMs = 1000): Promise<JsonAnswer | null> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'GET', agent: false, timeout: timeoutMs, headers: { host: `127.0.0.1:${port}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let body: Record<string, unknown> | null = null;
          try {
            const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            body = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
          } catch {
            body = null;
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', () => resolve(null));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
}

export interface EdgeProbe {
  /** An edge answered /health on that port. */
  up: boolean;
  pid: number | null;
  version: string | null;
}

export interface DaemonProbe {
  /** Something answered /health on the API port. */
  reachable: boolean;
  healthy: boolean;
  version: string | null;
  startedAt: string | null;
  /** Why it is not healthy (its own reason, or "no answer"). */
  reason: string | null;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export async function probeEdge(port: number): Promise<EdgeProbe> {
  const a = await getJson(port, '/health', 800);
  if (!a || a.status !== 200 || a.body?.component !== 'edge') return { up: false, pid: null, version: null };
  const pid = a.body.pid;
  return { up: true, pid: typeof pid === 'number' ? pid : null, version: str(a.body.version) };
}

export async function probeDaemon(apiPort: number): Promise<DaemonProbe> {
  const a = await getJson(apiPort, '/health', 800);
  if (!a) return { reachable: false, healthy: false, version: null, startedAt: null, reason: `no answer on 127.0.0.1:${apiPort}` };
  const b = a.body ?? {};
  const healthy = a.status === 200 && b.status === 'ok';
  return {
    reachable: true,
    healthy,
    version: str(b.version),
    startedAt: str(b.started_at),
    reason: healthy ? null : (str(b.reason) ?? `answered ${a.status}`),
  };
}

/** The daemon's pid, from /v1/daemon/status, or null. */
export async function daemonPid(apiPort: number): Promise<number | null> {
  const a = await getJson(apiPort, '/v1/daemon/status', 800);
  const pid = a?.body?.pid;
  return typeof pid === 'number' ? pid : null;
}

export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
