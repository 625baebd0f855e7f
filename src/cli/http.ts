// Small loopback HTTP helpers for commands that talk to the edge or the daemon.
import { request } from 'node:http';

export interface JsonAnswer {
  status: number;
  body: unknown;
}

export function getJson(port: number, path: string, timeoutMs = 1000): Promise<JsonAnswer | null> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', agent: false, timeout: timeoutMs, headers: { host: `127.0.0.1:${port}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let body: unknown = null;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = null;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function edgeUp(port: number): Promise<boolean> {
  const a = await getJson(port, '/health', 500);
  return a !== null && a.status === 200 && (a.body as { component?: unknown } | null)?.component === 'edge';
}

export async function daemonHealthy(apiPort: number): Promise<boolean> {
  const a = await getJson(apiPort, '/health', 500);
  return a !== null && a.status === 200 && (a.body as { status?: unknown } | null)?.status === 'ok';
}
