// The edge's view of the daemon: GET /health on the API port, cached 1000 ms when healthy and
// 200 ms when not (SPEC §1). One check in flight at a time; a refused chain connection drops the
// cache at once so the next connection asks again.
import { request } from 'node:http';
import { interceptHostNames } from '../core/providers.js';

export interface DaemonPorts {
  internal: number;
  api: number;
}

export interface HealthState {
  healthy: boolean;
  /** Hosts the daemon decrypts: its own list once it has answered, the built-in table before. */
  interceptHosts: ReadonlySet<string>;
  version: string | null;
  ports: DaemonPorts;
  reason: string | null;
}

const HEALTHY_TTL_MS = 1000;
const UNHEALTHY_TTL_MS = 200;
const CHECK_TIMEOUT_MS = 500;

export class DaemonHealth {
  private state: HealthState;
  private expiresAt = 0;
  private inFlight: Promise<HealthState> | null = null;

  constructor(
    private readonly ports: () => DaemonPorts,
    private readonly now: () => number = Date.now,
  ) {
    this.state = {
      healthy: false,
      interceptHosts: new Set(interceptHostNames()),
      version: null,
      ports: ports(),
      reason: 'not checked yet',
    };
  }

  /** The cached state when fresh; null when a check is due (call `check()`). */
  cached(): HealthState | null {
    return this.now() < this.expiresAt ? this.state : null;
  }

  /** Latest known state, fresh or not. */
  last(): HealthState {
    return this.state;
  }

  check(): Promise<HealthState> {
    const fresh = this.cached();
    if (fresh) return Promise.resolve(fresh);
    if (!this.inFlight) {
      this.inFlight = this.probe().finally(() => {
        this.inFlight = null;
      });
    }
    return this.inFlight;
  }

  /** A chain attempt was refused: forget the cached verdict right away. */
  markDown(reason: string): void {
    this.state = { ...this.state, healthy: false, reason };
    this.expiresAt = 0;
  }

  private async probe(): Promise<HealthState> {
    const ports = this.ports();
    const result = await getHealth(ports.api);
    const hosts =
      result.ok && result.hosts && result.hosts.length > 0 ? new Set(result.hosts.map((h) => h.toLowerCase())) : this.state.interceptHosts;
    this.state = {
      healthy: result.ok,
      interceptHosts: hosts,
      version: result.version,
      ports,
      reason: result.ok ? null : result.reason,
    };
    this.expiresAt = this.now() + (result.ok ? HEALTHY_TTL_MS : UNHEALTHY_TTL_MS);
    return this.state;
  }
}

interface HealthAnswer {
  ok: boolean;
  hosts: string[] | null;
  version: string | null;
  reason: string | null;
}

function getHealth(port: number): Promise<HealthAnswer> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/health', method: 'GET', headers: { host: `127.0.0.1:${port}` }, agent: false, timeout: CHECK_TIMEOUT_MS },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= 65_536) chunks.push(c);
        });
        res.on('end', () => {
          let body: unknown = null;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            body = null;
          }
          const rec = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
          const hosts = Array.isArray(rec.intercept_hosts) ? rec.intercept_hosts.filter((h): h is string => typeof h === 'string') : null;
          const version = typeof rec.version === 'string' ? rec.version : null;
          const ok = res.statusCode === 200 && rec.status === 'ok';
          resolve({ ok, hosts, version, reason: ok ? null : `health answered ${res.statusCode}` });
        });
        res.on('error', () => resolve({ ok: false, hosts: null, version: null, reason: 'health response broken' }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('health check timed out')));
    req.on('error', (err) => resolve({ ok: false, hosts: null, version: null, reason: err.message }));
    req.end();
  });
}
