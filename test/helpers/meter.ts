// Real edge and daemon processes, started the way the CLI starts them (bin/halton-meter.js edge|daemon)
// in a fresh temporary HOME, on free loopback ports, with provider hosts resolved to a local fake.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { repoRoot } from './fake-provider.js';
import { PROVIDER_TEST_HOSTS, type TestPki } from './pki.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface MeterProcs {
  home: string;
  edgePort: number;
  internalPort: number;
  apiPort: number;
  dbPath: string;
  /** The meter's CA certificate (created by the daemon in $HOME/.mitmproxy). */
  meterCaPath: string;
  /** Meter CA + the fake upstream's CA: what a client trusts to reach both metered and other hosts. */
  clientBundlePath: string;
  env: NodeJS.ProcessEnv;
  edge: ChildProcess;
  daemon: ChildProcess | null;
  startDaemon(): Promise<void>;
  stopDaemon(signal?: NodeJS.Signals): Promise<number | null>;
  stop(): Promise<void>;
  rows(where?: string): Array<Record<string, unknown>>;
  waitForRows(n: number, where?: string, timeoutMs?: number): Promise<Array<Record<string, unknown>>>;
  daemonLog(): string;
}

export interface MeterOptions {
  pki: TestPki;
  upstreamPort: number;
  extraToml?: string;
  /** Called with the data directory (~/.halton-meter) before anything is written there, e.g. to mount a small tmpfs on it. */
  prepareDataDir?: (dataDir: string) => void;
}

const BIN = (): string => join(repoRoot(), 'bin', 'halton-meter.js');

export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function httpOk(port: number, path: string): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1000) });
    return res.status === 200;
  } catch {
    return false;
  }
}

export async function startMeter(opts: MeterOptions): Promise<MeterProcs> {
  const home = mkdtempSync(join(tmpdir(), 'hm-home-'));
  const [edgePort, internalPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const resolve = PROVIDER_TEST_HOSTS.filter((h) => h !== 'localhost')
    .map((h) => `"${h}:443" = "127.0.0.1:${opts.upstreamPort}"`)
    .join(', ');
  mkdirSync(join(home, '.halton-meter'), { recursive: true });
  opts.prepareDataDir?.(join(home, '.halton-meter'));
  writeFileSync(
    join(home, '.halton-meter', 'config.toml'),
    `[daemon]\nedge_port = ${edgePort}\ninternal_port = ${internalPort}\napi_port = ${apiPort}\n\n[upstream]\nresolve = { ${resolve} }\nca_file = "${opts.pki.caCertPath}"\n${opts.extraToml ?? ''}`,
  );
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, NO_COLOR: '1' };
  delete env.HTTPS_PROXY;
  delete env.https_proxy;
  delete env.HTTP_PROXY;
  delete env.http_proxy;
  delete env.HALTON_METER_HOME;
  delete env.HALTON_METER_CA_DIR;

  const spawnProc = (what: 'edge' | 'daemon'): ChildProcess => {
    const child = spawn(process.execPath, [BIN(), what], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.resume();
    return child;
  };

  const procs: MeterProcs = {
    home,
    edgePort,
    internalPort,
    apiPort,
    dbPath: join(home, '.halton-meter', 'db.sqlite'),
    meterCaPath: join(home, '.mitmproxy', 'mitmproxy-ca-cert.pem'),
    clientBundlePath: join(home, 'client-bundle.pem'),
    env,
    edge: spawnProc('edge'),
    daemon: null,
    async startDaemon() {
      procs.daemon = spawnProc('daemon');
      await waitUntil(() => httpOk(apiPort, '/health'), 20_000, 'daemon health');
    },
    async stopDaemon(signal = 'SIGTERM') {
      const d = procs.daemon;
      procs.daemon = null;
      if (!d || d.exitCode !== null) return d?.exitCode ?? null;
      const exited = new Promise<number | null>((r) => d.once('exit', (code) => r(code)));
      d.kill(signal);
      return exited;
    },
    async stop() {
      await procs.stopDaemon('SIGTERM');
      const e = procs.edge;
      if (e.exitCode === null) {
        const exited = new Promise<void>((r) => e.once('exit', () => r()));
        e.kill('SIGTERM');
        await exited;
      }
    },
    rows(where = '1=1') {
      const db = new Database(procs.dbPath, { readonly: true, fileMustExist: true });
      try {
        return db
          .prepare(`SELECT r.*, p.slug AS project FROM requests r JOIN projects p ON p.id = r.project_id WHERE ${where} ORDER BY r.requested_at, r.rowid`)
          .all() as Array<Record<string, unknown>>;
      } finally {
        db.close();
      }
    },
    async waitForRows(n, where = "provider != 'selftest'", timeoutMs = 10_000) {
      let rows: Array<Record<string, unknown>> = [];
      await waitUntil(
        () => {
          try {
            rows = procs.rows(where);
          } catch {
            rows = [];
          }
          return rows.length >= n;
        },
        timeoutMs,
        `${n} rows where ${where}`,
      );
      return rows;
    },
    daemonLog() {
      try {
        return readFileSync(join(home, '.halton-meter', 'daemon.log'), 'utf8');
      } catch {
        return '';
      }
    },
  };
  await waitUntil(() => httpOk(edgePort, '/health'), 15_000, 'edge health');
  await procs.startDaemon();
  writeFileSync(procs.clientBundlePath, readFileSync(procs.meterCaPath, 'utf8') + '\n' + opts.pki.caCert);
  return procs;
}
