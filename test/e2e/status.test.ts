// status, logs and uninstall for real, with the process supervisor in a temporary HOME on free ports
// (HALTON_METER_*_PORT), a fake provider behind [upstream] resolve, and a venv with a stand-in
// certifi first on PATH. Bad arguments and a missing install first (one clear line, non-zero exit,
// no stack trace), then: status of a live install (text and --json); logs (JSON lines when piped,
// --component, -f following a daemon restart); status when the daemon is stopped; uninstall
// --graceful while a stream is in flight (the stream finishes and gets its row, then everything is
// gone except data, config and CA); a second uninstall; --purge --yes. Every process started is
// stopped by uninstall, and killed by pid in `after` if a test failed half-way.
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { fetch as undiciFetch, ProxyAgent } from 'undici';
import { repoRoot, startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { freePort, waitUntil } from '../helpers/meter.js';
import { makeTestPki, PROVIDER_TEST_HOSTS, type TestPki } from '../helpers/pki.js';
import { makeCertifiVenv } from '../helpers/certifi-venv.js';

const run = promisify(execFile);
const BIN = join(repoRoot(), 'bin', 'halton-meter.js');
const ORIGINAL_BUNDLE = '# Issuer: CN=Some Root\n-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----\n';

let pki: TestPki;
let fake: FakeProvider;
let home: string;
let env: NodeJS.ProcessEnv;
let ports: { edge: number; internal: number; api: number };
let certifiBundle: string;
const seenPids = new Set<number>();

function cli(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  return run(process.execPath, [BIN, ...args], { env: { ...env, ...extra }, timeout: 120_000 }).then(
    (r) => ({ ...r, code: 0 }),
    (e: { stdout: string; stderr: string; code: number }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: e.code }),
  );
}

const dataDir = (): string => join(home, '.halton-meter');
function pidOf(what: 'edge' | 'daemon' | 'supervisor'): number | null {
  try {
    const pid = Number(readFileSync(join(dataDir(), 'run', `${what}.pid`), 'utf8').trim());
    seenPids.add(pid);
    return pid;
  } catch {
    return null;
  }
}
const alive = (pid: number | null): boolean => {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

async function health(port: number): Promise<Record<string, unknown> | null> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
    return r.status === 200 ? ((await r.json()) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** One clear line (plus at most a hint line), no stack trace. */
function oneClearLine(stderr: string): void {
  const lines = stderr.trim().split('\n');
  assert.ok(lines.length >= 1 && lines.length <= 2, `one line (+hint) expected:\n${stderr}`);
  assert.match(lines[0], /^halton-meter: /);
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
}

before(async () => {
  pki = makeTestPki();
  fake = await startFakeProvider(pki);
  home = mkdtempSync(join(tmpdir(), 'hm-status-'));
  ports = { edge: await freePort(), internal: await freePort(), api: await freePort() };
  mkdirSync(dataDir());
  const resolve = PROVIDER_TEST_HOSTS.filter((h) => h !== 'localhost').map((h) => `"${h}:443" = "127.0.0.1:${fake.port}"`).join(', ');
  writeFileSync(join(dataDir(), 'config.toml'), `[upstream]\nresolve = { ${resolve} }\nca_file = "${pki.caCertPath}"\n`);
  const venv = join(home, 'venv');
  certifiBundle = makeCertifiVenv(venv, ORIGINAL_BUNDLE).bundle;
  env = {
    ...process.env,
    HOME: home,
    PATH: `${join(venv, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    NO_COLOR: '1',
    HALTON_METER_EDGE_PORT: String(ports.edge),
    HALTON_METER_INTERNAL_PORT: String(ports.internal),
    HALTON_METER_API_PORT: String(ports.api),
  };
  for (const k of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'HALTON_PROJECT', 'HALTON_METER_HOME', 'HALTON_METER_CA_DIR']) delete env[k];
});

after(async () => {
  const sup = pidOf('supervisor');
  pidOf('edge');
  pidOf('daemon');
  for (const pid of [sup, ...seenPids]) {
    if (pid === null) continue;
    try {
      if (/halton-meter/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))) process.kill(pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  }
  await fake?.close();
  if (home) rmSync(home, { recursive: true, force: true });
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
});

describe('status, logs, uninstall', () => {
  test('bad arguments and a missing install: one clear line, non-zero exit, no stack trace', async () => {
    const status = await cli(['status']);
    assert.equal(status.code, 3);
    assert.equal(status.stdout, '');
    oneClearLine(status.stderr);
    assert.match(status.stderr, /not installed and not running/);
    const json = await cli(['status', '--json']);
    assert.equal(json.code, 3);
    const j = JSON.parse(json.stdout) as { live: boolean; install_mode: string | null; daemon_version: string | null };
    assert.deepEqual([j.live, j.install_mode, j.daemon_version], [false, null, null]);

    const cases: Array<{ args: string[]; code: number; re: RegExp }> = [
      { args: ['status', '--bogus'], code: 2, re: /unknown option '--bogus'/ },
      { args: ['status', 'extra'], code: 2, re: /too many arguments|unknown command|excess/i },
      { args: ['logs'], code: 1, re: /no log yet/ },
      { args: ['logs', '--component', 'proxy'], code: 2, re: /unknown component "proxy"/ },
      { args: ['logs', '-n', 'ten'], code: 2, re: /-n ten: expected a number of lines/ },
      { args: ['logs', '--lines'], code: 2, re: /argument missing/ },
      { args: ['uninstall', '--bogus'], code: 2, re: /unknown option '--bogus'/ },
      { args: ['uninstall', '--purge'], code: 2, re: /needs --yes when not run from a terminal/ },
    ];
    for (const c of cases) {
      const r = await cli(c.args);
      assert.equal(r.code, c.code, `${c.args.join(' ')}: ${r.stderr}`);
      oneClearLine(r.stderr);
      assert.match(r.stderr, c.re, c.args.join(' '));
    }
    const nothing = await cli(['uninstall']);
    assert.equal(nothing.code, 0, nothing.stderr);
    assert.match(nothing.stdout, /^uninstall: nothing to do/m);
    assert.deepEqual(readdirSync(dataDir()), ['config.toml'], 'nothing created by status, logs or uninstall');
  });

  test('status of a live install: versions, mode, every component; --json with pids, ports, rows, CA, certifi', async () => {
    const init = await cli(['init', '--apps', '--non-interactive', '--supervisor', 'process']);
    assert.equal(init.code, 0, init.stdout + init.stderr);
    const p = { edge: pidOf('edge'), daemon: pidOf('daemon'), supervisor: pidOf('supervisor') };
    const s = await cli(['status']);
    assert.equal(s.code, 0, s.stdout + s.stderr);
    assert.equal(s.stderr, '');
    const version = (JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
    assert.match(s.stdout, new RegExp(`^halton-meter ${version.replace(/\./g, '\\.')} \\(this CLI\\); daemon ${version.replace(/\./g, '\\.')}; install mode: process$`, 'm'));
    assert.match(s.stdout, new RegExp(`^✓ edge +serving on 127\\.0\\.0\\.1:${ports.edge} \\(pid ${p.edge}, version `, 'm'));
    assert.match(s.stdout, new RegExp(`^✓ daemon +healthy, version [^,]+, up \\d+s \\(pid ${p.daemon}\\); API 127\\.0\\.0\\.1:${ports.api}, intercepting 127\\.0\\.0\\.1:${ports.internal}; rows since start: 1 written, 0 failed \\(lost\\), 0 queued$`, 'm'));
    assert.match(s.stdout, new RegExp(`^✓ listeners +${ports.edge} edge \\(pid ${p.edge}\\), ${ports.internal} daemon \\(pid ${p.daemon}\\), ${ports.api} daemon \\(pid ${p.daemon}\\)$`, 'm'));
    assert.match(s.stdout, new RegExp(`^✓ units +process supervisor pid ${p.supervisor} \\(version `, 'm'));
    assert.match(s.stdout, /^✓ CA +~\/\.mitmproxy\/mitmproxy-ca-cert\.pem, SHA-256 [0-9A-F:]+, expires \d{4}-\d\d-\d\d \(\d+ days\)$/m);
    assert.match(s.stdout, /^✓ certifi +1 of 1 patched certifi bundle\(s\) carry the meter CA$/m);
    assert.match(s.stdout, /^- linger +not needed: the process supervisor does not depend on a login session$/m);
    assert.match(s.stdout, /^✓ database +~\/\.halton-meter\/db\.sqlite, [\d.]+ KiB, 1 rows, schema \d+$/m);
    assert.match(s.stdout, /^live: /m);

    const j = await cli(['status', '--json']);
    assert.equal(j.code, 0, j.stderr);
    const st = JSON.parse(j.stdout) as { cli_version: string; daemon_version: string; install_mode: string; live: boolean; components: Array<Record<string, unknown>> };
    assert.deepEqual([st.cli_version, st.daemon_version, st.install_mode, st.live], [version, version, 'process', true]);
    const c = (name: string): Record<string, unknown> => st.components.find((x) => x.name === name) ?? {};
    assert.deepEqual([c('edge').pid, c('edge').port, c('edge').healthy], [p.edge, ports.edge, true]);
    assert.deepEqual([c('daemon').pid, c('daemon').healthy, c('daemon').rows_written, c('daemon').rows_failed], [p.daemon, true, 1, 0]);
    assert.deepEqual(c('daemon').ports, { internal: ports.internal, api: ports.api });
    assert.equal(typeof c('daemon').uptime_s, 'number');
    assert.equal((c('units').supervisor as { pid: number }).pid, p.supervisor);
    assert.equal(c('ca').fingerprint_sha256, new X509Certificate(readFileSync(join(home, '.mitmproxy', 'mitmproxy-ca-cert.pem'))).fingerprint256);
    assert.deepEqual((c('certifi').bundles as Array<{ bundle: string; state: string }>).map((b) => [b.bundle, b.state]), [[certifiBundle, 'marker']]);
    assert.equal(c('database').rows, 1);
  });

  test('logs: JSON lines when piped, --component, -f follows a daemon restart', async () => {
    const last = await cli(['logs', '-n', '5']);
    assert.equal(last.code, 0, last.stderr);
    const lines = last.stdout.trim().split('\n');
    assert.equal(lines.length, 5);
    const events = lines.map((l) => JSON.parse(l) as { ts: string; event: string });
    assert.deepEqual([...events].sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0)), events, 'merged in time order');
    const edge = await cli(['logs', '--component', 'edge', '-n', '100']);
    assert.equal(edge.code, 0);
    assert.ok(edge.stdout.trim().split('\n').every((l) => (JSON.parse(l) as { component: string }).component === 'edge'));
    assert.match(edge.stdout, /"event":"edge\.startup\.ready"/);

    const follow = spawn(process.execPath, [BIN, 'logs', '-f', '-n', '0', '--component', 'daemon'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    follow.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 500));
    const oldDaemon = pidOf('daemon');
    const restart = await cli(['restart']);
    assert.equal(restart.code, 0, restart.stderr);
    await waitUntil(() => /"event":"daemon\.startup\.ready"/.test(out), 10_000, 'logs -f to show the new daemon');
    const seen = out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; pid: number });
    const exit = seen.findIndex((e) => e.event === 'daemon.exit' && e.pid === oldDaemon);
    assert.ok(exit >= 0 && seen.findIndex((e) => e.event === 'daemon.startup.ready') > exit, out);
    const code = new Promise<number | null>((r) => follow.once('exit', (c) => r(c)));
    follow.kill('SIGINT');
    assert.equal(await code, 0);
  });

  test('the daemon stopped: status exits 1 with one line; the edge is still reported serving', async () => {
    const stop = await cli(['stop']);
    assert.equal(stop.code, 0, stop.stderr);
    const s = await cli(['status']);
    assert.equal(s.code, 1);
    assert.match(s.stdout, /^✗ daemon +not answering on 127\.0\.0\.1:\d+: stopped \(halton-meter start brings it back\)/m);
    assert.match(s.stdout, /^✓ edge +serving on .*passing traffic through unmetered while the daemon is down$/m);
    oneClearLine(s.stderr);
    assert.match(s.stderr, /^halton-meter: not metering: the daemon is not running; traffic passes through unmetered/);
    const start = await cli(['start']);
    assert.equal(start.code, 0, start.stderr);
    assert.equal((await cli(['status'])).code, 0);
  });

  test('uninstall --graceful lets a stream in flight finish and get its row, then removes the install and keeps data, config and CA', async () => {
    const p = { edge: pidOf('edge'), daemon: pidOf('daemon'), supervisor: pidOf('supervisor') };
    const clientCa = readFileSync(join(home, '.mitmproxy', 'mitmproxy-ca-cert.pem'), 'utf8') + pki.caCert;
    const agent = new ProxyAgent({ uri: `http://127.0.0.1:${ports.edge}`, requestTls: { ca: clientCa } });
    const res = await undiciFetch('https://api.anthropic.com/v1/messages', {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', 'x-fake-scenario': 'hold' },
      body: JSON.stringify({ model: 'm-graceful', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'x' }] }),
    });
    const reader = res.body!.getReader();
    await fake.firstEventSent();
    await reader.read();
    const uninstall = cli(['uninstall', '--graceful']);
    await new Promise((r) => setTimeout(r, 700));
    assert.ok(alive(p.daemon), 'the daemon drains while the stream is open');
    fake.release();
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    await agent.close();
    assert.match(rest, /message_stop/);
    const u = await uninstall;
    assert.equal(u.code, 0, u.stdout + u.stderr);
    assert.match(u.stdout, new RegExp(`^✓ stop: stopped the process supervisor \\(pid ${p.supervisor}\\)`, 'm'));
    for (const pid of Object.values(p)) assert.ok(!alive(pid), `pid ${pid} stopped`);
    assert.equal(await health(ports.edge), null);
    assert.equal(await health(ports.api), null);
    const db = new Database(join(dataDir(), 'db.sqlite'), { readonly: true });
    try {
      const row = db.prepare("SELECT tokens_complete FROM requests WHERE model_requested = 'm-graceful'").get() as { tokens_complete: number } | undefined;
      assert.equal(row?.tokens_complete, 1, 'the in-flight stream got its row');
    } finally {
      db.close();
    }
    assert.deepEqual(readdirSync(dataDir()).filter((f) => !/\.log$|^db\.sqlite/.test(f)).sort(), ['config.toml']);
    assert.ok(!existsSync(join(home, '.config', 'environment.d', '60-halton-meter.conf')));
    assert.equal(readFileSync(certifiBundle, 'utf8'), ORIGINAL_BUNDLE, 'the certifi bundle is as it was');
    assert.ok(existsSync(join(home, '.mitmproxy', 'mitmproxy-ca.pem')), 'the CA is kept');
    const s = await cli(['status']);
    assert.equal(s.code, 3, s.stderr);

    const again = await cli(['uninstall']);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^uninstall: nothing to do/m);

    const purge = await cli(['uninstall', '--purge', '--yes']);
    assert.equal(purge.code, 0, purge.stdout + purge.stderr);
    assert.ok(!existsSync(dataDir()) && !existsSync(join(home, '.mitmproxy')));
  });
});
